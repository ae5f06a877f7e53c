-- The latest check: the share of series whose demand (y) drifted.
SELECT data_through,
       count(*) AS series,
       sum(CASE WHEN drifted THEN 1 ELSE 0 END) AS drifted,
       avg(CASE WHEN drifted THEN 1.0 ELSE 0.0 END) AS share_drifted,
       avg(CASE WHEN drifted THEN 1.0 ELSE 0.0 END) > $drifted_share AS retrain
FROM drift_history
WHERE column_name = 'y' AND data_through = (SELECT max(data_through) FROM drift_history)
GROUP BY data_through
