-- Days far outside their series' usual range (robust z-score above the
-- 99.5th percentile of the series).
SELECT unique_id, ds, y
FROM (SELECT unique_id, ds, y,
             is_anomaly('mad', 0.005, y) OVER (PARTITION BY unique_id) AS flagged
      FROM panel WHERE level = 'item')
WHERE flagged
