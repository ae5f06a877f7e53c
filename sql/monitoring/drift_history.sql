-- Per series and column: are the latest $window periods distributed like
-- the $window before them? Evidently's default test for the column.
WITH d AS (
  SELECT unique_id, y, CAST(promo AS DOUBLE) AS promo,
         row_number() OVER (PARTITION BY unique_id ORDER BY ds DESC) AS age
  FROM demand
),
seen AS (SELECT max(ds) AS data_through FROM demand),
y AS (
  SELECT unique_id, 'y' AS column_name,
         drift(y, age > $window)['stattest_name'] AS test,
         drift(y, age > $window)['drift_score'] AS score,
         drift(y, age > $window)['drift_detected'] AS drifted
  FROM d WHERE age <= 2 * $window GROUP BY unique_id
),
promo AS (
  SELECT unique_id, 'promo' AS column_name,
         drift(promo, age > $window)['stattest_name'] AS test,
         drift(promo, age > $window)['drift_score'] AS score,
         drift(promo, age > $window)['drift_detected'] AS drifted
  FROM d WHERE age <= 2 * $window GROUP BY unique_id
)
SELECT seen.data_through, c.unique_id || '' AS unique_id, c.column_name, c.test, c.score, c.drifted
FROM (SELECT * FROM y UNION ALL SELECT * FROM promo) c CROSS JOIN seen
