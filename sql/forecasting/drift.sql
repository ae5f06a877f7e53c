-- Per series: is the latest 8 weeks' demand distributed like the history
-- before it? Evidently's default test and threshold for the column.
WITH cut AS (SELECT max(ds) - INTERVAL '56 days' AS at FROM panel)
SELECT p.unique_id || '' AS unique_id,
       drift(p.y, p.ds <= cut.at)['stattest_name'] AS test,
       drift(p.y, p.ds <= cut.at)['drift_score'] AS score,
       drift(p.y, p.ds <= cut.at)['drift_detected'] AS drifted
FROM panel p CROSS JOIN cut
WHERE p.level = 'item'
GROUP BY p.unique_id
