-- Accuracy per series, configuration and back-test window.
SELECT unique_id, model, params, config, cutoff,
       mae(y, mean) AS mae,
       rmse(y, mean) AS rmse,
       bias(y, mean) AS bias,
       coverage(y, lo, hi) AS coverage95,
       count(*) AS points
FROM backtest_points
GROUP BY unique_id, model, params, config, cutoff
