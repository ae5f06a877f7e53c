-- Gate `not_worse` of model_choice: is the retrained choice worse than the
-- model in use? The choice (per series, the configuration with the lowest
-- back-test MAE) is made again on every back-test window but the newest:
-- the challenger. The configuration in use is model_choice as the target
-- had it when this run started (`target.model_choice`): the champion.
-- Both are scored on the newest window. Neither was chosen on it when it
-- starts after the data the champion saw (`target.panel`): only those
-- series are compared, so a rerun on the same data compares nothing, and
-- model_choice itself, chosen on every window, is not the challenger (it
-- would win by construction). A row, and a failed run, when the
-- challengers' total MAE is more than $retrain_margin (a share) above the
-- champions'. The first run has no champion: the gate is not checked.
WITH seen AS (
  SELECT unique_id, max(ds) AS through FROM target.panel GROUP BY unique_id
),
newest AS (
  SELECT b.unique_id, max(b.cutoff) AS cutoff
  FROM backtest b JOIN seen s ON b.unique_id = s.unique_id
  GROUP BY b.unique_id, s.through
  HAVING max(b.cutoff) >= s.through
),
earlier AS (
  SELECT b.unique_id, b.config, avg(b.mae) AS mae
  FROM backtest b JOIN newest n ON b.unique_id = n.unique_id AND b.cutoff < n.cutoff
  GROUP BY b.unique_id, b.config
),
challenger AS (
  SELECT unique_id, config FROM (
    SELECT unique_id, config,
           row_number() OVER (PARTITION BY unique_id ORDER BY mae ASC NULLS LAST, config) AS r
    FROM earlier
  ) WHERE r = 1
),
holdout AS (
  SELECT b.unique_id, b.config, b.cutoff, b.mae
  FROM backtest b JOIN newest n ON b.unique_id = n.unique_id AND b.cutoff = n.cutoff
),
compared AS (
  SELECT count(*) AS series,
         sum(CASE WHEN c.config <> cur.config THEN 1 ELSE 0 END) AS changed,
         sum(h.mae) AS challenger_mae,
         sum(hc.mae) AS champion_mae
  FROM challenger c
  JOIN holdout h ON h.unique_id = c.unique_id AND h.config = c.config
  JOIN target.model_choice cur ON cur.unique_id = c.unique_id
  JOIN holdout hc ON hc.unique_id = c.unique_id AND hc.config = cur.config
)
SELECT series, changed, challenger_mae, champion_mae,
       challenger_mae / champion_mae - 1 AS worse_by, $retrain_margin AS margin
FROM compared
WHERE challenger_mae > (1 + $retrain_margin) * champion_mae
