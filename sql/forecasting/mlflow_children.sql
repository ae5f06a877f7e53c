-- One MLflow child run per configuration of the back-test grid: its model
-- and parameters, and its accuracy over every series and window.
SELECT config AS run_name, model AS param_model, params AS param_params,
       avg(mae) AS mae, avg(rmse) AS rmse, avg(bias) AS bias,
       avg(coverage95) AS coverage95,
       CAST(count(DISTINCT unique_id) AS DOUBLE) AS series
FROM backtest
GROUP BY config, model, params
ORDER BY config
