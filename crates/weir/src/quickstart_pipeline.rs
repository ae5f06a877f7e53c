//! The pipeline part of `weir quickstart`: the shipped unemployment data
//! shaped as demand, the flagship forecasting pipeline on it with monthly
//! parameters, and a look at what came out: a forecast, the back-test
//! winners, the drift verdicts, and where a forecast number came from.

use std::sync::Arc;

use weir_store::Lake;

use crate::builtin::{BuiltIn, FORECASTING, MONITORING, UNEMPLOYMENT_DEMAND};
use crate::quickstart::{Tour, show};

/// Monthly data: a yearly season, a year ahead, two years against two.
const MONTHLY: &[(&str, &str)] = &[("season", "12"), ("horizon", "12"), ("drift_window", "24")];

async fn run_builtin(
    t: &Tour,
    lake: &Arc<Lake>,
    repo: &str,
    who: &str,
    p: &BuiltIn,
    params: &[(&str, &str)],
) -> anyhow::Result<()> {
    let report = weir_jobs::run(
        lake.clone(),
        &p.manifest()?,
        repo,
        "main",
        &weir_jobs::RunOptions {
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            force: false,
            committer: who.to_string(),
            tenant: String::new(),
            cause: None,
            scope: None,
            tracking: None,
        },
    )
    .await?;
    if t.text {
        crate::cli::run::print_report(&report);
    }
    if let Some((code, message)) = report.failure {
        return Err(weir_jobs::JobsError::RunFailed { code, message }.into());
    }
    Ok(())
}

pub async fn run(
    t: &Tour,
    lake: &Arc<Lake>,
    dir: &std::path::Path,
    name: &str,
    who: &str,
    lk: &str,
) -> anyhow::Result<()> {
    t.step(
        "A pipeline stage shapes the shipped data as demand (industry, group, month, count)",
        &format!(
            "weir run {} weir://{name}/main {lk}",
            UNEMPLOYMENT_DEMAND.path
        ),
    );
    run_builtin(t, lake, name, who, &UNEMPLOYMENT_DEMAND, &[]).await?;

    let params: String = MONTHLY
        .iter()
        .map(|(k, v)| format!(" --param {k}={v}"))
        .collect();
    t.step(
        "The forecasting pipeline on a run branch: preflight, features, back-test grid, \
         forecasts, MinTrace reconciliation, drift, anomalies, order quantities",
        &format!(
            "weir run {} weir://{name}/main{params} {lk}",
            FORECASTING.path
        ),
    );
    run_builtin(t, lake, name, who, &FORECASTING, MONTHLY).await?;

    let session = weir_sql::session(
        lake.clone(),
        &weir_sql::SqlOptions {
            repo: Some(name.to_string()),
            reference: Some("main".into()),
        },
    )?;
    for (title, sql) in [
        (
            "The forecast for one industry: reconciled with its group and the total, 95% interval",
            "SELECT CAST(r.ds AS VARCHAR) AS month, round(r.mean) AS forecast, round(r.lo) AS lo95, round(r.hi) AS hi95, b.model FROM reconciled r JOIN base_forecast b ON r.unique_id = b.unique_id AND r.ds = b.ds WHERE r.unique_id = 'Construction' ORDER BY r.ds LIMIT 6",
        ),
        (
            "Back-test: the winning configuration per series (mean absolute error over 3 windows of 12 months)",
            "SELECT unique_id, config, round(mae) AS mae, round(runner_up_mae) AS runner_up FROM model_choice ORDER BY unique_id",
        ),
        (
            "Drift: the latest 24 months against the 24 before (Evidently's default test per column)",
            "SELECT unique_id, test, round(score, 4) AS score, drifted FROM drift ORDER BY drifted DESC, unique_id LIMIT 8",
        ),
    ] {
        show(t, &session, title, sql, lk).await?;
    }

    // reconciled is computed by the reconcile() table function from
    // base_forecast (dataset lineage: `weir lineage .../reconciled`); the
    // column path starts at the base forecast.
    t.step(
        "Where a forecast number comes from, column by column, back to the shipped file",
        &format!("weir lineage weir://{name}/main/base_forecast --column mean --depth 4 {lk}"),
    );
    let q = weir_lineage::Query {
        repo: name.to_string(),
        reference: Some("main".into()),
        table: "base_forecast".into(),
        column: Some("mean".into()),
        direction: weir_lineage::Direction::Upstream,
        depth: 4,
        tenant: None,
    };
    for e in weir_lineage::query(lake, &q).await? {
        t.say(format!(
            "{}{}.{} <- {}.{}  ({}, {})",
            "  ".repeat(e.depth - 1),
            e.to_name,
            e.to_column.unwrap_or_default(),
            e.from_name,
            e.from_column.unwrap_or_default(),
            e.job,
            e.transformation.to_lowercase()
        ));
    }
    monitor(t, lake, dir, name, who, lk).await
}

/// A commit trigger running the monitoring pipeline, and a new month of
/// data that fires it. On a branch of its own, made afresh from main each
/// time, so a second quickstart finds main as the first left it.
async fn monitor(
    t: &Tour,
    lake: &Arc<Lake>,
    dir: &std::path::Path,
    name: &str,
    who: &str,
    lk: &str,
) -> anyhow::Result<()> {
    use weir_jobs::schedule;
    let branch = "next-month";
    let repo = lake.repo(name)?;
    let _ = repo.delete_branch(branch);
    repo.create_branch(branch, "main")?;
    let manifest = MONITORING.write_to(&dir.join("pipelines").join("monitoring"))?;
    t.step(
        "A trigger: every commit that changes demand on a branch runs the monitoring pipeline",
        &format!(
            "weir schedule add monitor --on-commit weir://{name}/{branch} --paths 'demand/**' \\\n       --pipeline {} --param window=24 {lk}",
            MONITORING.path
        ),
    );
    let mut spec = schedule::Spec {
        name: "monitor".into(),
        on_commit: Some(format!("weir://{name}/{branch}")),
        paths: vec!["demand/**".into()],
        ..Default::default()
    };
    spec.set_param("window".into(), "24".into());
    let now = chrono::Utc::now();
    let trigger = spec.build(lake, &manifest.display().to_string(), None, who, now)?;
    schedule::apply(lake, vec![trigger])?;

    let insert = "INSERT INTO demand SELECT unique_id, category, ds + INTERVAL '1 month' AS ds, \
                  round(y * 1.5) AS y, promo FROM demand WHERE ds = (SELECT max(ds) FROM demand)";
    t.step(
        "A new month arrives, half as much again as the last, and is committed",
        &format!(
            "weir sql --ref {branch} \"{insert}\" {lk}\n   $ weir commit weir://{name}/{branch} -m \"A new month of demand\" {lk}"
        ),
    );
    let session = weir_sql::session(
        lake.clone(),
        &weir_sql::SqlOptions {
            repo: Some(name.to_string()),
            reference: Some(branch.into()),
        },
    )?;
    session.sql(insert).await?.collect().await?;
    repo.commit(
        branch,
        "A new month of demand",
        who,
        Default::default(),
        false,
    )
    .await?;

    t.step(
        "The scheduler (in weir serve, or weir scheduler) sees the commit and fires the trigger",
        &format!("weir scheduler --once {lk}"),
    );
    let scheduler = crate::cli::schedule::scheduler(lake, &Default::default());
    for f in scheduler.tick(now).await? {
        t.say(format!(
            "trigger {} ({}) on commit {}: run {} {}",
            f.trigger,
            f.kind,
            &f.commit.as_deref().unwrap_or_default()
                [..12.min(f.commit.as_deref().unwrap_or_default().len())],
            f.run_id.as_deref().unwrap_or("-"),
            f.outcome
        ));
        if let Some(e) = f.error {
            anyhow::bail!("the monitoring run failed: {e}");
        }
    }
    show(
        t,
        &session,
        "What it found, appended to drift_history (one row per check); every firing is in weir_schedule_runs()",
        "SELECT CAST(data_through AS VARCHAR) AS data_through, series, drifted, round(share_drifted, 2) AS share, retrain FROM drift_summary",
        &format!("--ref {branch} {lk}"),
    )
    .await
}
