-- Per item: is the latest window of $drift_days days distributed like the
-- window just before it? Evidently's default test and threshold for the
-- column. Adjacent windows, so slow trends and yearly seasons do not count
-- as drift.
WITH d AS (SELECT unique_id, y, CAST(ds AS INT) AS day FROM panel WHERE level = 'item'),
     cut AS (SELECT max(day) - $drift_days AS at FROM d)
SELECT d.unique_id || '' AS unique_id,
       drift(d.y, d.day <= cut.at)['stattest_name'] AS test,
       drift(d.y, d.day <= cut.at)['drift_score'] AS score,
       drift(d.y, d.day <= cut.at)['drift_detected'] AS drifted
FROM d CROSS JOIN cut
WHERE d.day > cut.at - $drift_days
GROUP BY d.unique_id
