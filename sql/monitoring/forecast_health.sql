-- The forecasts on the branch (sql/forecasting/'s `reconciled`) against
-- the actuals that have arrived for their periods, by horizon: interval
-- coverage, bias (actual - forecast) and MASE (error over the series'
-- in-sample one-step naive error).
WITH f AS (
  SELECT unique_id, ds, mean, lo, hi,
         CAST(row_number() OVER (PARTITION BY unique_id ORDER BY ds) AS BIGINT) AS horizon
  FROM reconciled
),
steps AS (
  SELECT unique_id, abs(y - lag(y) OVER (PARTITION BY unique_id ORDER BY ds)) AS step
  FROM demand
),
scale AS (SELECT unique_id, avg(step) AS naive_mae FROM steps GROUP BY unique_id),
seen AS (SELECT max(ds) AS data_through FROM demand),
j AS (
  SELECT f.unique_id, f.horizon, a.y, f.mean, f.lo, f.hi, s.naive_mae
  FROM f JOIN demand a ON f.unique_id = a.unique_id AND f.ds = a.ds
         JOIN scale s ON f.unique_id = s.unique_id
)
SELECT seen.data_through, j.horizon,
       count(*) AS points,
       avg(CASE WHEN j.y BETWEEN j.lo AND j.hi THEN 1.0 ELSE 0.0 END) AS coverage,
       avg(j.y - j.mean) AS bias,
       avg(abs(j.y - j.mean) / nullif(j.naive_mae, 0)) AS mase
FROM j CROSS JOIN seen
GROUP BY seen.data_through, j.horizon
