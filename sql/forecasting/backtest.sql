-- Accuracy per series and model over every back-test window.
SELECT unique_id, model,
       mae(y, mean) AS mae,
       rmse(y, mean) AS rmse,
       bias(y, mean) AS bias,
       coverage(y, lo, hi) AS coverage95,
       count(*) AS points
FROM backtest_points
GROUP BY unique_id, model
