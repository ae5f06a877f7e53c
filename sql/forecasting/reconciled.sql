-- Coherent forecasts (items sum to categories, categories to the total),
-- with how far each aggregate moved from its own forecast (anchor bias).
SELECT * FROM reconcile('base_forecast', 'hierarchy', $method, 'residuals')
