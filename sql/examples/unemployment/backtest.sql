-- Three rolling-origin windows of $horizon months: how wrong would the
-- model have been, per industry?
WITH cv AS (
  SELECT unique_id,
         unnest(forecast_cv(ds, y, $model, $horizon, 3, $horizon, $season)) AS c
  FROM unemployment_series
  GROUP BY unique_id
)
SELECT unique_id || '' AS unique_id,
       $model AS model,
       mae(c['y'], c['mean']) AS mae,
       smape(c['y'], c['mean']) AS smape,
       bias(c['y'], c['mean']) AS bias,
       coverage(c['y'], c['lo'], c['hi']) AS coverage95
FROM cv
GROUP BY unique_id
