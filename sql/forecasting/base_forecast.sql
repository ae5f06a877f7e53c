-- The next $horizon periods of every series with its chosen configuration
-- and a 95% interval: each series is fitted once, by its winner. The grid
-- is backtest_points.sql's; the gate every_series_forecast catches a
-- configuration missing here.
WITH f AS (
  SELECT unique_id, unnest(forecast(ds, y, 'auto_ets', $horizon, $season, 95)) AS p
  FROM panel WHERE unique_id IN (SELECT unique_id FROM model_choice WHERE config = 'auto_ets')
  GROUP BY unique_id
  UNION ALL
  SELECT unique_id, unnest(forecast(ds, y, 'auto_theta', $horizon, $season, 95))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM model_choice WHERE config = 'auto_theta')
  GROUP BY unique_id
  UNION ALL
  SELECT unique_id, unnest(forecast(ds, y, 'seasonal_naive', $horizon, $season, 95))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM model_choice WHERE config = 'seasonal_naive')
  GROUP BY unique_id
  UNION ALL
  SELECT unique_id, unnest(forecast(ds, y, 'window_average(window_size=' || $season || ')', $horizon, $season, 95))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM model_choice WHERE config = 'window_average(window_size=' || $season || ')')
  GROUP BY unique_id
  UNION ALL
  SELECT unique_id, unnest(forecast(ds, y, 'window_average(window_size=' || (4 * $season) || ')', $horizon, $season, 95))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM model_choice WHERE config = 'window_average(window_size=' || (4 * $season) || ')')
  GROUP BY unique_id
  UNION ALL
  SELECT unique_id, unnest(forecast(ds, y, 'ses(alpha=0.1)', $horizon, $season, 95))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM model_choice WHERE config = 'ses(alpha=0.1)')
  GROUP BY unique_id
  UNION ALL
  SELECT unique_id, unnest(forecast(ds, y, 'ses(alpha=0.3)', $horizon, $season, 95))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM model_choice WHERE config = 'ses(alpha=0.3)')
  GROUP BY unique_id
  UNION ALL
  SELECT unique_id, unnest(forecast(ds, y, 'croston_sba', $horizon, $season, 95))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM model_choice WHERE config = 'croston_sba')
  GROUP BY unique_id
  UNION ALL
  SELECT unique_id, unnest(forecast(ds, y, 'croston_optimized', $horizon, $season, 95))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM model_choice WHERE config = 'croston_optimized')
  GROUP BY unique_id
  UNION ALL
  SELECT unique_id, unnest(forecast(ds, y, 'tsb(alpha_d=0.2,alpha_p=0.2)', $horizon, $season, 95))
  FROM panel WHERE unique_id IN (SELECT unique_id FROM model_choice WHERE config = 'tsb(alpha_d=0.2,alpha_p=0.2)')
  GROUP BY unique_id
)
SELECT f.unique_id || '' AS unique_id, CAST(f.p['ds'] AS DATE) AS ds, f.p['mean'] AS mean,
       f.p['lo'] AS lo, f.p['hi'] AS hi, c.config AS model
FROM f JOIN model_choice c ON f.unique_id = c.unique_id
