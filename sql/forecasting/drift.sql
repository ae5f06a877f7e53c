-- Per item: are its latest $drift_window periods distributed like the
-- $drift_window before them? Evidently's default test and threshold for the
-- column. Adjacent windows, so slow trends and yearly seasons do not count
-- as drift.
WITH d AS (
  SELECT unique_id, y, row_number() OVER (PARTITION BY unique_id ORDER BY ds DESC) AS age
  FROM panel WHERE level = 'item'
)
SELECT unique_id || '' AS unique_id,
       drift(y, age > $drift_window)['stattest_name'] AS test,
       drift(y, age > $drift_window)['drift_score'] AS score,
       drift(y, age > $drift_window)['drift_detected'] AS drifted
FROM d
WHERE age <= 2 * $drift_window
GROUP BY unique_id
