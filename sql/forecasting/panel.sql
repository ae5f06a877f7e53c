-- Items, their categories and the total, as one panel (unique_id, ds, y).
SELECT unique_id, CAST(ds AS DATE) AS ds, CAST(y AS DOUBLE) AS y, 'item' AS level FROM demand
UNION ALL
SELECT category, CAST(ds AS DATE), CAST(sum(y) AS DOUBLE), 'category' FROM demand GROUP BY category, ds
UNION ALL
SELECT 'total', CAST(ds AS DATE), CAST(sum(y) AS DOUBLE), 'total' FROM demand GROUP BY ds
