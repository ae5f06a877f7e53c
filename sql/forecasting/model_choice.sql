-- Per series, the configuration with the lowest back-test MAE over all
-- windows (ties: by name), beside the runner-up's.
WITH scored AS (
  SELECT unique_id, model, params, config, avg(mae) AS mae, avg(rmse) AS rmse,
         count(*) AS windows
  FROM backtest GROUP BY unique_id, model, params, config
),
ranked AS (
  SELECT *, row_number() OVER (PARTITION BY unique_id ORDER BY mae ASC NULLS LAST, config) AS r,
         lead(mae) OVER (PARTITION BY unique_id ORDER BY mae ASC NULLS LAST, config) AS next_mae
  FROM scored
)
SELECT unique_id, model, params, config, mae, rmse, windows, next_mae AS runner_up_mae
FROM ranked WHERE r = 1
