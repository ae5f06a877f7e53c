-- Rolling-origin cross-validation over a grid of models and parameters:
-- $windows windows of $horizon periods, each configuration refitted on
-- everything before its cutoff. The Croston family and TSB are tried on
-- intermittent series only (at least 30% zero periods). base_forecast.sql
-- lists the same grid.
WITH intermittent AS (
  SELECT unique_id FROM panel GROUP BY unique_id
  HAVING avg(CASE WHEN y = 0 THEN 1.0 ELSE 0.0 END) >= 0.3
),
cv AS (
  SELECT unique_id, 'auto_ets' AS model, '' AS params,
         unnest(forecast_cv(ds, y, 'auto_ets', $horizon, $windows, $horizon, $season)) AS c
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'auto_theta', '',
         unnest(forecast_cv(ds, y, 'auto_theta', $horizon, $windows, $horizon, $season))
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'seasonal_naive', '',
         unnest(forecast_cv(ds, y, 'seasonal_naive', $horizon, $windows, $horizon, $season))
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'window_average', 'window_size=' || $season,
         unnest(forecast_cv(ds, y, 'window_average(window_size=' || $season || ')', $horizon, $windows, $horizon, $season))
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'window_average', 'window_size=' || (4 * $season),
         unnest(forecast_cv(ds, y, 'window_average(window_size=' || (4 * $season) || ')', $horizon, $windows, $horizon, $season))
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'ses', 'alpha=0.1',
         unnest(forecast_cv(ds, y, 'ses(alpha=0.1)', $horizon, $windows, $horizon, $season))
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'ses', 'alpha=0.3',
         unnest(forecast_cv(ds, y, 'ses(alpha=0.3)', $horizon, $windows, $horizon, $season))
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'croston_sba', '',
         unnest(forecast_cv(ds, y, 'croston_sba', $horizon, $windows, $horizon, $season))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM intermittent) GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'croston_optimized', '',
         unnest(forecast_cv(ds, y, 'croston_optimized', $horizon, $windows, $horizon, $season))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM intermittent) GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'tsb', 'alpha_d=0.2,alpha_p=0.2',
         unnest(forecast_cv(ds, y, 'tsb(alpha_d=0.2,alpha_p=0.2)', $horizon, $windows, $horizon, $season))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM intermittent) GROUP BY unique_id
)
SELECT unique_id || '' AS unique_id, model, params,
       CASE WHEN params = '' THEN model ELSE model || '(' || params || ')' END AS config,
       c['cutoff'] AS cutoff, c['ds'] AS ds, c['y'] AS y,
       c['mean'] AS mean, c['lo'] AS lo, c['hi'] AS hi
FROM cv
