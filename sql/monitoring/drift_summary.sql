-- The latest check beside the one before it: the share of series whose
-- demand (y) drifted. `retrain` is true at the check where that share
-- first goes above $drifted_share, not at every check while the drift
-- lasts (its window keeps seeing it): one drift, one retraining. What a
-- retraining trigger asks (sql/forecasting/weir.toml's `retrain`).
WITH checks AS (
  SELECT data_through, count(*) AS series,
         sum(CASE WHEN drifted THEN 1 ELSE 0 END) AS drifted,
         avg(CASE WHEN drifted THEN 1.0 ELSE 0.0 END) AS share_drifted
  FROM drift_history WHERE column_name = 'y' GROUP BY data_through
),
ordered AS (
  SELECT *, lag(share_drifted) OVER (ORDER BY data_through) AS share_before FROM checks
)
SELECT data_through, series, drifted, share_drifted, share_before,
       share_drifted > $drifted_share AND coalesce(share_before, 0.0) <= $drifted_share AS retrain
FROM ordered
WHERE data_through = (SELECT max(data_through) FROM checks)
