-- Per series, the model with the lowest back-test MAE (ties: by name).
SELECT unique_id, model, mae
FROM (SELECT unique_id, model, mae,
             row_number() OVER (PARTITION BY unique_id ORDER BY mae ASC NULLS LAST, model) AS r
      FROM backtest)
WHERE r = 1
