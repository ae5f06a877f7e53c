-- The next $horizon days of every series, with its chosen model and a 95%
-- interval. Every candidate is forecast; the choice picks one per series.
WITH f AS (
  SELECT unique_id, 'auto_ets' AS model, unnest(forecast(ds, y, 'auto_ets', $horizon, $season, 95)) AS p
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'auto_theta', unnest(forecast(ds, y, 'auto_theta', $horizon, $season, 95))
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'seasonal_naive', unnest(forecast(ds, y, 'seasonal_naive', $horizon, $season, 95))
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'croston_sba', unnest(forecast(ds, y, 'croston_sba', $horizon, $season, 95))
  FROM panel GROUP BY unique_id
)
SELECT f.unique_id || '' AS unique_id, CAST(f.p['ds'] AS DATE) AS ds, f.p['mean'] AS mean,
       f.p['lo'] AS lo, f.p['hi'] AS hi, f.model
FROM f JOIN model_choice c ON f.unique_id = c.unique_id AND f.model = c.model
