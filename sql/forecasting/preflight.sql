-- One row per failed check and series. Errors stop the run (gate no_errors).
-- The series' usual step (a day, a month: the median gap between its
-- dates) tells a missing period from the calendar's own unevenness.
WITH d AS (
  SELECT unique_id, y,
         CAST(ds AS INT) - lag(CAST(ds AS INT)) OVER (PARTITION BY unique_id ORDER BY ds) AS step
  FROM panel
),
usual AS (SELECT unique_id, median(step) AS step FROM d WHERE step > 0 GROUP BY unique_id),
s AS (
  SELECT d.unique_id,
         count(*) AS n,
         count(*) - sum(CASE WHEN d.step = 0 THEN 1 ELSE 0 END) AS periods,
         sum(CASE WHEN d.y < 0 THEN 1 ELSE 0 END) AS negative,
         sum(CASE WHEN d.y IS NULL THEN 1 ELSE 0 END) AS missing,
         sum(CASE WHEN d.step > 1.5 * u.step THEN round(d.step / u.step) - 1 ELSE 0 END) AS gaps
  FROM d LEFT JOIN usual u ON d.unique_id = u.unique_id
  GROUP BY d.unique_id
)
SELECT 'duplicate_periods' AS check_name, unique_id, 'error' AS severity,
       CAST(n - periods AS VARCHAR) || ' repeated dates' AS detail FROM s WHERE n > periods
UNION ALL
SELECT 'negative_demand', unique_id, 'error', CAST(negative AS VARCHAR) || ' negative values' FROM s WHERE negative > 0
UNION ALL
SELECT 'missing_demand', unique_id, 'warning', CAST(missing AS VARCHAR) || ' missing values' FROM s WHERE missing > 0
UNION ALL
SELECT 'too_short', unique_id, 'error',
       CAST(periods AS VARCHAR) || ' periods, fewer than two seasons plus the back-test'
FROM s WHERE periods < 2 * $season + $horizon * ($windows + 1)
UNION ALL
SELECT 'calendar_gaps', unique_id, 'warning', CAST(CAST(gaps AS BIGINT) AS VARCHAR) || ' periods missing'
FROM s WHERE gaps > 0
