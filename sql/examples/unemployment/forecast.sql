-- The next $horizon months per industry, with a 95% prediction interval.
WITH f AS (
  SELECT unique_id,
         unnest(forecast(ds, y, $model, $horizon, $season, 95)) AS p
  FROM unemployment_series
  GROUP BY unique_id
)
SELECT unique_id || '' AS unique_id,
       p['step'] AS step,
       p['ds'] AS ds,
       p['mean'] AS mean,
       p['lo'] AS lo95,
       p['hi'] AS hi95,
       p['model'] AS model
FROM f
