-- Periods of the latest $window whose demand is far outside the series'
-- usual range (robust z-score above its 99.5th percentile).
WITH flags AS (
  SELECT unique_id, ds, y,
         is_anomaly('mad', 0.005, y) OVER (PARTITION BY unique_id) AS flagged,
         row_number() OVER (PARTITION BY unique_id ORDER BY ds DESC) AS age
  FROM demand
),
seen AS (SELECT max(ds) AS data_through FROM demand)
SELECT seen.data_through, f.unique_id || '' AS unique_id, f.ds, f.y, 'mad' AS detector
FROM flags f CROSS JOIN seen
WHERE f.flagged AND f.age <= $window
