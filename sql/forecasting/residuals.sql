-- Back-test errors of each series' chosen configuration: MinTrace's residuals.
SELECT b.unique_id, b.ds, b.y - b.mean AS residual
FROM backtest_points b JOIN model_choice c ON b.unique_id = c.unique_id AND b.config = c.config
