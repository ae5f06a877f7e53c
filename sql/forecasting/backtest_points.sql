-- Rolling-origin cross-validation: $windows windows of $horizon days, each
-- model refitted on everything before its cutoff. Croston (SBA) is the
-- candidate for intermittent series.
WITH cv AS (
  SELECT unique_id, 'auto_ets' AS model, unnest(forecast_cv(ds, y, 'auto_ets', $horizon, $windows, $horizon, $season)) AS c
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'auto_theta', unnest(forecast_cv(ds, y, 'auto_theta', $horizon, $windows, $horizon, $season))
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'seasonal_naive', unnest(forecast_cv(ds, y, 'seasonal_naive', $horizon, $windows, $horizon, $season))
  FROM panel GROUP BY unique_id
  UNION ALL
  SELECT unique_id, 'croston_sba', unnest(forecast_cv(ds, y, 'croston_sba', $horizon, $windows, $horizon, $season))
  FROM panel GROUP BY unique_id
)
SELECT unique_id || '' AS unique_id, model, c['cutoff'] AS cutoff, c['ds'] AS ds,
       c['y'] AS y, c['mean'] AS mean, c['lo'] AS lo, c['hi'] AS hi
FROM cv
