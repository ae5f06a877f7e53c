-- Per series, the chosen configuration's back-test errors: autocorrelation
-- left in them (Ljung-Box), a mean error away from zero (t test), and the
-- squared error split into bias² and variance (mse = bias² + variance).
SELECT unique_id || '' AS unique_id,
       ljung_box(ds, residual)['p_value'] AS ljung_box_p,
       ljung_box(ds, residual)['p_value'] < 0.05 AS autocorrelated,
       bias_ttest(ds, residual)['p_value'] AS bias_p,
       bias_ttest(ds, residual)['p_value'] < 0.05 AS biased,
       avg(residual * residual) AS mse,
       avg(residual) * avg(residual) AS bias_squared,
       avg(residual * residual) - avg(residual) * avg(residual) AS variance,
       count(*) AS errors
FROM residuals
GROUP BY unique_id
