-- The run's MLflow metrics: the chosen models' back-test accuracy over all
-- series, then the same per window (step 0 = the oldest window).
WITH chosen AS (
  SELECT b.cutoff, b.mae, b.rmse, b.coverage95
  FROM backtest b JOIN model_choice c
    ON b.unique_id = c.unique_id AND b.config = c.config
),
windows AS (
  SELECT cutoff, avg(mae) AS mae, avg(rmse) AS rmse, avg(coverage95) AS coverage95,
         CAST(dense_rank() OVER (ORDER BY cutoff) - 1 AS BIGINT) AS step
  FROM chosen GROUP BY cutoff
)
SELECT 'backtest_mae' AS key, avg(mae) AS value, CAST(0 AS BIGINT) AS step FROM chosen
UNION ALL SELECT 'backtest_rmse', avg(rmse), 0 FROM chosen
UNION ALL SELECT 'backtest_coverage95', avg(coverage95), 0 FROM chosen
UNION ALL SELECT 'window_mae', mae, step FROM windows
UNION ALL SELECT 'window_coverage95', coverage95, step FROM windows
