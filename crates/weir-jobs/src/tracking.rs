//! Every pipeline run is an MLflow run in its tenant's tracking store
//! (`weir_tracking`): experiment = the pipeline (or `[mlflow] experiment`),
//! its parameters as params, each stage's status and each gate's outcome
//! as tags, stage timings and row counts as metrics, every table a stage
//! read or wrote as a dataset input pinned to its commit, and the links
//! both ways: the weir run id and merge commit as tags, the MLflow run id
//! on the run's record. The manifest's `[mlflow]` table adds metrics
//! (`metrics = "FILE.sql"` giving `key, value[, step]`), one child run per
//! row of `children = "FILE.sql"`, and output tables saved as CSV
//! artifacts. Its SQL reads the target at the run's merge commit.

use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use serde_json::{Map, Value, json};
use weir_store::Lake;
use weir_tracking::TrackingError;
use weir_tracking::model::{ACTIVE, Change, Experiment, Metric, RunInfo, State, Tag};

use crate::manifest::Manifest;
use crate::records::TablePin;
use crate::runner::{RunOptions, RunReport, StageReport, StageStatus};

/// A new MLflow run id: 32 hex digits, as MLflow makes them.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What the `[mlflow]` SQL found at the merge commit.
#[derive(Default)]
struct Declared {
    metrics: Vec<Metric>,
    children: Vec<Map<String, Value>>,
    artifacts: Vec<(String, Vec<u8>)>,
}

/// Records the run; a failure is the caller's to report, not the run's.
pub async fn record(
    lake: &Arc<Lake>,
    manifest: &Manifest,
    run: &RunReport,
    stages: &[StageReport],
    opts: &RunOptions,
    started_ms: i64,
) -> Result<(), String> {
    let Some(id) = run.mlflow_run.clone() else {
        return Ok(());
    };
    // A failing `[mlflow]` query loses its own part only: the run is
    // recorded without it, and the failure reported.
    let (declared, problem) = match &run.merge_commit {
        Some(c) => match declared(lake, manifest, run, c, opts).await {
            Ok(d) => (d, None),
            Err(e) => (Declared::default(), Some(e.to_string())),
        },
        None => (Declared::default(), None),
    };
    let experiment = manifest
        .tracking
        .experiment
        .clone()
        .unwrap_or_else(|| manifest.name.clone());
    let now = weir_tracking::now_ms();
    // The changes, and the artifacts under the run's own directory.
    let build = |s: &State| {
        let c = changes(
            s,
            &experiment,
            &id,
            manifest,
            run,
            stages,
            opts,
            started_ms,
            now,
            &declared,
        );
        let exp = c
            .iter()
            .find_map(|c| match c {
                Change::Run(i) => Some(i.experiment_id.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let arts = declared
            .artifacts
            .iter()
            .map(|(n, b)| (format!("{exp}/{id}/artifacts/tables/{n}.csv"), b.clone()))
            .collect();
        (c, arts)
    };
    let e = match &opts.tracking {
        Some(stores) => match stores.store(opts.tenant()).await {
            Ok(store) => store.record(build).await,
            Err(e) => Err(e),
        },
        None => weir_tracking::record(lake, opts.tenant(), build).await,
    };
    match e {
        Ok(()) => problem.map_or(Ok(()), Err),
        // Another tenant's repository is made by weir serve, on that
        // tenant's first MLflow request: until then its runs are not tracked.
        Err(TrackingError::NotFound(m)) => {
            tracing::debug!("run {}: not tracked: {m}", run.run_id);
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A pipeline's experiment id, the same wherever it runs and apart from
/// the small ids a tracking server hands out, so a run journaled by a
/// process that does not serve the store cannot take another's id.
pub fn experiment_id(name: &str) -> String {
    // FNV-1a: stable across builds and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (1_000_000_000 + h % 9_000_000_000).to_string()
}

fn tag(key: impl Into<String>, value: impl Into<String>) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

fn metric(key: impl Into<String>, value: f64, ts: i64, step: i64) -> Metric {
    Metric {
        key: key.into(),
        value,
        timestamp: ts,
        step,
        dataset_name: None,
        dataset_digest: None,
        model_id: None,
    }
}

fn dataset(pin: &TablePin, context: &str) -> Value {
    let uri = format!("weir://{}/{}/{}", pin.repo, pin.commit, pin.table);
    json!({
        "tags": [{"key": "mlflow.data.context", "value": context}],
        "dataset": {
            "name": pin.table,
            "digest": pin.fingerprint.chars().take(16).collect::<String>(),
            "source_type": "weir",
            "source": json!({"uri": uri, "version": pin.version}).to_string(),
        },
    })
}

/// The MLflow records of a run, given what the store holds.
#[allow(clippy::too_many_arguments)]
fn changes(
    s: &State,
    experiment: &str,
    id: &str,
    manifest: &Manifest,
    run: &RunReport,
    stages: &[StageReport],
    opts: &RunOptions,
    started_ms: i64,
    now: i64,
    declared: &Declared,
) -> Vec<Change> {
    let mut out = Vec::new();
    let exp = match s.experiment_by_name(experiment) {
        Some(e) => e.experiment_id.clone(),
        None => {
            let eid = experiment_id(experiment);
            out.push(Change::Experiment(Experiment {
                artifact_location: format!("mlflow-artifacts:/{eid}"),
                experiment_id: eid.clone(),
                name: experiment.to_string(),
                lifecycle_stage: ACTIVE.into(),
                creation_time: now,
                last_update_time: now,
                tags: vec![tag("weir.pipeline", &manifest.name)],
            }));
            eid
        }
    };
    let status = if run.status == "failed" {
        "FAILED"
    } else {
        "FINISHED"
    };
    out.push(Change::Run(RunInfo {
        run_id: id.to_string(),
        experiment_id: exp.clone(),
        run_name: run.run_id.clone(),
        user_id: opts.committer.clone(),
        status: status.into(),
        start_time: Some(started_ms),
        end_time: Some(now),
        artifact_uri: format!("mlflow-artifacts:/{exp}/{id}/artifacts"),
        lifecycle_stage: ACTIVE.into(),
    }));
    let params: BTreeMap<String, Value> = serde_json::from_str(&run.params).unwrap_or_default();
    out.push(Change::Params {
        run_id: id.to_string(),
        params: params
            .iter()
            .map(|(k, v)| {
                tag(
                    k,
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
    });
    let mut tags = vec![
        tag("mlflow.runName", &run.run_id),
        tag("mlflow.user", &opts.committer),
        tag("mlflow.source.type", "JOB"),
        tag("mlflow.source.name", manifest.path.display().to_string()),
        tag("weir.run_id", &run.run_id),
        tag("weir.repo", &run.repo),
        tag("weir.target", &run.target),
        tag("weir.status", &run.status),
    ];
    if let Some(c) = &run.merge_commit {
        tags.push(tag("weir.commit", c));
    }
    if let Some(c) = &run.cause {
        tags.push(tag("weir.cause", c));
    }
    let mut metrics = vec![metric(
        "duration_seconds",
        run.duration.as_secs_f64(),
        now,
        0,
    )];
    let mut cpu = 0.0;
    let mut datasets = Vec::new();
    for st in stages {
        tags.push(tag(format!("weir.stage.{}", st.name), st.status.as_str()));
        let gates = manifest
            .stages
            .iter()
            .find(|m| m.name == st.name)
            .map(|m| &m.gates);
        for g in gates.into_iter().flatten() {
            let outcome = match st.status {
                StageStatus::Succeeded => "passed",
                StageStatus::Failed if st.error.as_deref().is_some_and(|e| e.contains(&g.name)) => {
                    "failed"
                }
                StageStatus::Failed => "not checked",
                StageStatus::Skipped => "skipped",
                StageStatus::NotRun => "not run",
            };
            tags.push(tag(format!("weir.gate.{}.{}", st.name, g.name), outcome));
        }
        if st.status == StageStatus::Succeeded {
            metrics.push(metric(
                format!("stage.{}.seconds", st.name),
                st.duration.as_secs_f64(),
                now,
                0,
            ));
            if let Some(r) = st.rows {
                metrics.push(metric(format!("stage.{}.rows", st.name), r as f64, now, 0));
            }
        }
        cpu += st.cpu_seconds;
        for p in &st.inputs {
            let d = dataset(p, "input");
            if !datasets.contains(&d) {
                datasets.push(d);
            }
        }
        for p in &st.outputs {
            datasets.push(dataset(p, "output"));
        }
    }
    metrics.push(metric("cpu_seconds", cpu, now, 0));
    metrics.extend(declared.metrics.iter().cloned());
    out.push(Change::Tags {
        run_id: id.to_string(),
        tags,
    });
    out.push(Change::Metrics {
        run_id: id.to_string(),
        metrics,
    });
    out.push(Change::Inputs {
        run_id: id.to_string(),
        datasets,
        models: Vec::new(),
    });
    for row in &declared.children {
        out.extend(child(&exp, id, row, now, opts));
    }
    out
}

/// One child run of a `children` row: `run_name`, `param_*` columns as
/// params, other numbers as metrics.
fn child(
    exp: &str,
    parent: &str,
    row: &Map<String, Value>,
    now: i64,
    opts: &RunOptions,
) -> Vec<Change> {
    let id = new_run_id();
    let name = row
        .get("run_name")
        .and_then(Value::as_str)
        .unwrap_or("child")
        .to_string();
    let mut params = Vec::new();
    let mut metrics = Vec::new();
    for (k, v) in row {
        if let Some(p) = k.strip_prefix("param_") {
            params.push(tag(
                p,
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            ));
        } else if let Some(x) = v.as_f64() {
            metrics.push(metric(k, x, now, 0));
        }
    }
    vec![
        Change::Run(RunInfo {
            run_id: id.clone(),
            experiment_id: exp.to_string(),
            run_name: name.clone(),
            user_id: opts.committer.clone(),
            status: "FINISHED".into(),
            start_time: Some(now),
            end_time: Some(now),
            artifact_uri: format!("mlflow-artifacts:/{exp}/{id}/artifacts"),
            lifecycle_stage: ACTIVE.into(),
        }),
        Change::Tags {
            run_id: id.clone(),
            tags: vec![
                tag("mlflow.runName", name),
                tag("mlflow.parentRunId", parent),
            ],
        },
        Change::Params {
            run_id: id.clone(),
            params,
        },
        Change::Metrics {
            run_id: id,
            metrics,
        },
    ]
}

/// Parses the `[mlflow]` SQL as stage SQL is (one query, parameters
/// bound), so a typo fails the run before it starts; the tables it reads
/// may not exist until the run has written them.
pub fn check(
    manifest: &Manifest,
    params: &crate::Params,
    state: &deltalake::datafusion::execution::SessionState,
) -> crate::Result<()> {
    let t = &manifest.tracking;
    for (sql, what) in [
        (&t.metrics, "[mlflow] metrics"),
        (&t.children, "[mlflow] children"),
    ] {
        if let Some(sql) = sql {
            crate::plan::parse_query(state, sql, params, what)?;
        }
    }
    Ok(())
}

/// Runs the `[mlflow]` SQL on the target at the run's merge commit.
async fn declared(
    lake: &Arc<Lake>,
    manifest: &Manifest,
    run: &RunReport,
    commit: &str,
    opts: &RunOptions,
) -> crate::Result<Declared> {
    let t = &manifest.tracking;
    let mut d = Declared::default();
    if t.metrics.is_none() && t.children.is_none() && t.artifacts.is_empty() {
        return Ok(d);
    }
    let session = weir_sql::session_within(
        lake.clone(),
        &weir_sql::SqlOptions {
            repo: Some(run.repo.clone()),
            reference: Some(commit.to_string()),
        },
        opts.scope.as_ref(),
    )?;
    let params = manifest.params.with_overrides(&opts.params)?;
    let query = |sql: String, what: &'static str| {
        let session = &session;
        let params = &params;
        async move {
            let state = session.state();
            let q = crate::plan::parse_query(&state, &sql, params, what)?;
            let plan = state.statement_to_plan(q.statement).await?;
            weir_sql::query_only().verify_plan(&plan)?;
            Ok::<_, crate::JobsError>(session.execute_logical_plan(plan).await?.collect().await?)
        }
    };
    let now = weir_tracking::now_ms();
    if let Some(sql) = &t.metrics {
        let b = query(sql.clone(), "[mlflow] metrics").await?;
        for r in rows(&b)? {
            let (Some(key), Some(value)) = (
                r.get("key").and_then(Value::as_str),
                r.get("value").and_then(Value::as_f64),
            ) else {
                continue;
            };
            let step = r.get("step").and_then(Value::as_i64).unwrap_or(0);
            d.metrics.push(metric(key, value, now, step));
        }
    }
    if let Some(sql) = &t.children {
        let b = query(sql.clone(), "[mlflow] children").await?;
        d.children = rows(&b)?;
    }
    for table in &t.artifacts {
        let b = query(
            format!("SELECT * FROM \"{}\"", table.replace('"', "\"\"")),
            "[mlflow] artifacts",
        )
        .await?;
        let mut w = deltalake::arrow::csv::Writer::new(Vec::new());
        for batch in &b {
            w.write(batch)
                .map_err(|e| crate::JobsError::InvalidArgument(format!("{table} as CSV: {e}")))?;
        }
        d.artifacts.push((table.clone(), w.into_inner()));
    }
    Ok(d)
}

fn rows(b: &[RecordBatch]) -> crate::Result<Vec<Map<String, Value>>> {
    Ok(weir_tables::read_rows(b, &[])?)
}
