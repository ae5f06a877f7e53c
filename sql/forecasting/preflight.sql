-- One row per failed check and series. Errors stop the run (gate no_errors).
WITH s AS (
  SELECT unique_id,
         count(*) AS n,
         count(DISTINCT ds) AS days,
         sum(CASE WHEN y < 0 THEN 1 ELSE 0 END) AS negative,
         sum(CASE WHEN y IS NULL THEN 1 ELSE 0 END) AS missing,
         CAST(max(ds) AS INT) - CAST(min(ds) AS INT) + 1 AS span
  FROM panel
  GROUP BY unique_id
)
SELECT 'duplicate_days' AS check_name, unique_id, 'error' AS severity,
       CAST(n - days AS VARCHAR) || ' repeated days' AS detail FROM s WHERE n > days
UNION ALL
SELECT 'negative_demand', unique_id, 'error', CAST(negative AS VARCHAR) || ' negative values' FROM s WHERE negative > 0
UNION ALL
SELECT 'missing_demand', unique_id, 'warning', CAST(missing AS VARCHAR) || ' missing values' FROM s WHERE missing > 0
UNION ALL
SELECT 'too_short', unique_id, 'error', CAST(days AS VARCHAR) || ' days, fewer than two seasons plus the back-test'
FROM s WHERE days < 2 * $season + $horizon * ($windows + 1)
UNION ALL
SELECT 'calendar_gaps', unique_id, 'warning', CAST(span - days AS VARCHAR) || ' days missing' FROM s WHERE span > days
