//! Experiments and runs: create, read, update, delete and restore, params,
//! metrics and tags (one by one or in a batch), datasets and models a run
//! used or made, metric history, and search.

use axum::http::Method;
use serde_json::{Value, json};

use super::search::{self, Kind, Val};
use super::{Ctx, Fields, check_key, exists, invalid, missing, write};
use crate::error::{Result, ServerError};
use weir_tracking::model::{
    ACTIVE, Change, DEFAULT_EXPERIMENT, DELETED, Experiment, Metric, RunInfo, State, Tag,
    metric_json, run_info_json, run_json, set_tag,
};
use weir_tracking::now_ms;

const STATUSES: [&str; 5] = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];

pub fn known(m: &Method, rpc: &str) -> bool {
    let get = m == Method::GET;
    let post = m == Method::POST;
    match rpc {
        "experiments/get-by-name" | "experiments/get" | "runs/get" | "metrics/get-history" => get,
        "experiments/search" => get || post,
        "experiments/create"
        | "experiments/update"
        | "experiments/delete"
        | "experiments/restore"
        | "experiments/set-experiment-tag"
        | "runs/create"
        | "runs/update"
        | "runs/delete"
        | "runs/restore"
        | "runs/log-parameter"
        | "runs/log-metric"
        | "runs/log-batch"
        | "runs/set-tag"
        | "runs/delete-tag"
        | "runs/log-inputs"
        | "runs/outputs"
        | "runs/search" => post,
        _ => false,
    }
}

pub fn call(c: &Ctx, m: &Method, rpc: &str, f: &Fields) -> Result<Option<Value>> {
    if !known(m, rpc) {
        return Ok(None);
    }
    let st = &c.store;
    let v = match rpc {
        "experiments/get-by-name" => {
            let name = f.need("experiment_name")?;
            st.read(|s| {
                s.experiment_by_name(&name)
                    .map(|e| json!({ "experiment": e }))
                    .ok_or_else(|| missing(format!("Could not find experiment with name '{name}'")))
            })?
        }
        "experiments/get" => {
            let id = f.need("experiment_id")?;
            st.read(|s| experiment(s, &id).map(|e| json!({ "experiment": e })))?
        }
        "experiments/search" => st.read(|s| search_experiments(s, f))?,
        "experiments/create" => {
            let name = f.need("name")?;
            let tags = tags(f, "tags")?;
            let location = f.str("artifact_location").filter(|l| !l.is_empty());
            write(st, |s| {
                if s.experiment_by_name(&name).is_some() {
                    return Err(exists(format!(
                        "Experiment(name={name}) already exists. Error: an experiment of that name is in the tracking store"
                    )));
                }
                let id = s.next_experiment_id().to_string();
                let now = now_ms();
                let e = Experiment {
                    artifact_location: location
                        .unwrap_or_else(|| format!("mlflow-artifacts:/{id}")),
                    experiment_id: id.clone(),
                    name,
                    lifecycle_stage: ACTIVE.into(),
                    creation_time: now,
                    last_update_time: now,
                    tags,
                };
                Ok((vec![Change::Experiment(e)], json!({ "experiment_id": id })))
            })?
        }
        "experiments/update"
        | "experiments/delete"
        | "experiments/restore"
        | "experiments/set-experiment-tag" => {
            let id = f.need("experiment_id")?;
            let new_name = f.str("new_name");
            let tag = (rpc == "experiments/set-experiment-tag")
                .then(|| Ok::<_, ServerError>((f.need("key")?, f.str("value").unwrap_or_default())))
                .transpose()?;
            write(st, |s| {
                let mut e = experiment(s, &id)?.clone();
                match rpc {
                    "experiments/update" => {
                        let n = new_name.clone().ok_or_else(|| {
                            invalid("Missing value for required parameter 'new_name'")
                        })?;
                        if s.experiment_by_name(&n)
                            .is_some_and(|o| o.experiment_id != id)
                        {
                            return Err(exists(format!("Experiment(name={n}) already exists")));
                        }
                        e.name = n;
                    }
                    "experiments/delete" if id == DEFAULT_EXPERIMENT => {
                        return Err(invalid(
                            "Cannot delete the default experiment '0'. This is an internally reserved experiment.",
                        ));
                    }
                    "experiments/delete" => e.lifecycle_stage = DELETED.into(),
                    "experiments/restore" => e.lifecycle_stage = ACTIVE.into(),
                    _ => {
                        let (k, v) = tag.clone().unwrap_or_default();
                        check_key("tag", &k)?;
                        set_tag(&mut e.tags, &k, &v);
                    }
                }
                e.last_update_time = now_ms();
                Ok((vec![Change::Experiment(e)], json!({})))
            })?
        }
        "runs/create" => create_run(c, f)?,
        "runs/get" => {
            let id = f.run_id()?;
            st.read(|s| {
                let (i, r) = run(s, &id)?;
                Ok::<_, ServerError>(json!({ "run": run_json(i, r) }))
            })?
        }
        "runs/update" | "runs/delete" | "runs/restore" => {
            let id = f.run_id()?;
            let status = f.str("status").filter(|s| !s.is_empty());
            if let Some(x) = &status
                && !STATUSES.contains(&x.as_str())
            {
                return Err(invalid(format!(
                    "Invalid run status '{x}': one of {STATUSES:?}"
                )));
            }
            let end = f.int("end_time")?;
            let name = f.str("run_name").filter(|n| !n.is_empty());
            write(st, |s| {
                let (i, _) = run(s, &id)?;
                let mut i = i.clone();
                let mut changes = Vec::new();
                match rpc {
                    "runs/delete" => i.lifecycle_stage = DELETED.into(),
                    "runs/restore" => i.lifecycle_stage = ACTIVE.into(),
                    _ => {
                        if let Some(x) = status {
                            i.status = x;
                        }
                        if end.is_some() {
                            i.end_time = end;
                        }
                        if let Some(n) = name {
                            i.run_name = n.clone();
                            changes.push(Change::Tags {
                                run_id: id.clone(),
                                tags: vec![Tag {
                                    key: "mlflow.runName".into(),
                                    value: n,
                                }],
                            });
                        }
                    }
                }
                let out = if rpc == "runs/update" {
                    json!({ "run_info": run_info_json(&i) })
                } else {
                    json!({})
                };
                changes.insert(0, Change::Run(i));
                Ok((changes, out))
            })?
        }
        "runs/log-parameter" => {
            let p = Tag {
                key: f.need("key")?,
                value: f.str("value").unwrap_or_default(),
            };
            log_batch(c, &f.run_id()?, Vec::new(), vec![p], Vec::new())?
        }
        "runs/log-metric" => {
            let m = metric(&f.0)?;
            log_batch(c, &f.run_id()?, vec![m], Vec::new(), Vec::new())?
        }
        "runs/set-tag" => {
            let t = Tag {
                key: f.need("key")?,
                value: f.str("value").unwrap_or_default(),
            };
            log_batch(c, &f.run_id()?, Vec::new(), Vec::new(), vec![t])?
        }
        "runs/log-batch" => {
            let metrics = f
                .list("metrics")
                .iter()
                .map(metric)
                .collect::<Result<Vec<_>>>()?;
            let (params, tags) = (tags(f, "params")?, tags(f, "tags")?);
            let total = metrics.len() + params.len() + tags.len();
            if metrics.len() > 1000 || params.len() > 100 || tags.len() > 100 || total > 1000 {
                return Err(invalid(format!(
                    "A batch logging request can contain at most 1000 metrics, 100 params, 100 tags and 1000 items in all; got {} metrics, {} params and {} tags",
                    metrics.len(),
                    params.len(),
                    tags.len()
                )));
            }
            log_batch(c, &f.run_id()?, metrics, params, tags)?
        }
        "runs/delete-tag" => {
            let (id, key) = (f.run_id()?, f.need("key")?);
            write(st, |s| {
                let (_, r) = active_run(s, &id)?;
                if !r.tags.contains_key(&key) {
                    return Err(invalid(format!(
                        "No tag with name: {key} in run with id {id}"
                    )));
                }
                Ok((
                    vec![Change::DeleteTag {
                        run_id: id.clone(),
                        key: key.clone(),
                    }],
                    json!({}),
                ))
            })?
        }
        "runs/log-inputs" | "runs/outputs" => {
            let id = f.run_id()?;
            let datasets = f.list("datasets");
            let models = f.list("models");
            write(st, |s| {
                active_run(s, &id)?;
                let change = if rpc == "runs/log-inputs" {
                    Change::Inputs {
                        run_id: id.clone(),
                        datasets,
                        models,
                    }
                } else {
                    Change::Outputs {
                        run_id: id.clone(),
                        models,
                    }
                };
                Ok((vec![change], json!({})))
            })?
        }
        "runs/search" => st.read(|s| search_runs(s, f))?,
        "metrics/get-history" => {
            let (id, key) = (f.run_id()?, f.need("metric_key")?);
            let most = f.max_results(25_000, 25_000)?;
            let from = search::offset(f.str("page_token").as_deref())?;
            st.read(|s| {
                let (_, r) = run(s, &id)?;
                let all: Vec<&Metric> = r.history.iter().filter(|m| m.key == key).collect();
                let end = (from + most).min(all.len());
                let page: Vec<Value> = all
                    .get(from..end)
                    .unwrap_or_default()
                    .iter()
                    .map(|m| metric_json(m, &id))
                    .collect();
                let mut v = json!({ "metrics": page });
                if let Some(t) = search::next_token(end, all.len()) {
                    v["next_page_token"] = json!(t);
                }
                Ok::<_, ServerError>(v)
            })?
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}

fn experiment<'a>(s: &'a State, id: &str) -> Result<&'a Experiment> {
    id.parse::<i64>()
        .ok()
        .and_then(|n| s.experiments.get(&n))
        .ok_or_else(|| missing(format!("No Experiment with id={id} exists")))
}

fn run<'a>(s: &'a State, id: &str) -> Result<(&'a RunInfo, &'a weir_tracking::model::Run)> {
    s.run(id)
        .ok_or_else(|| missing(format!("Run with id={id} not found")))
}

fn active_run<'a>(s: &'a State, id: &str) -> Result<(&'a RunInfo, &'a weir_tracking::model::Run)> {
    let (i, r) = run(s, id)?;
    if i.lifecycle_stage != ACTIVE {
        return Err(invalid(format!(
            "The run {id} must be in the 'active' state. Current state is {}.",
            i.lifecycle_stage
        )));
    }
    Ok((i, r))
}

pub fn tags(f: &Fields, k: &str) -> Result<Vec<Tag>> {
    f.list(k)
        .into_iter()
        .map(|t| {
            let key = t["key"].as_str().unwrap_or_default().to_string();
            let value = match &t["value"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                v => v.to_string(),
            };
            if key.is_empty() {
                return Err(invalid(format!("every one of '{k}' needs a key")));
            }
            Ok(Tag { key, value })
        })
        .collect()
}

fn metric(v: &Value) -> Result<Metric> {
    let f = Fields(v.clone());
    let key = f.need("key")?;
    let value = match &v["value"] {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            s => s
                .parse()
                .map_err(|_| invalid(format!("Got invalid value {s} for metric '{key}'")))?,
        },
        _ => {
            return Err(invalid(format!(
                "Missing value for required parameter 'value' of metric '{key}'"
            )));
        }
    };
    let timestamp = f.int("timestamp")?.ok_or_else(|| {
        invalid(format!(
            "Missing value for required parameter 'timestamp' of metric '{key}'"
        ))
    })?;
    Ok(Metric {
        key,
        value,
        timestamp,
        step: f.int("step")?.unwrap_or(0),
        dataset_name: f.str("dataset_name"),
        dataset_digest: f.str("dataset_digest"),
        model_id: f.str("model_id"),
    })
}

fn create_run(c: &Ctx, f: &Fields) -> Result<Value> {
    let exp = f
        .str("experiment_id")
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| DEFAULT_EXPERIMENT.into());
    let mut tags = tags(f, "tags")?;
    for t in &tags {
        check_key("tag", &t.key)?;
    }
    let name = f
        .str("run_name")
        .filter(|n| !n.is_empty())
        .or_else(|| {
            tags.iter()
                .find(|t| t.key == "mlflow.runName")
                .map(|t| t.value.clone())
        })
        .unwrap_or_else(|| format!("run-{:08x}", rand::random::<u32>()));
    set_tag(&mut tags, "mlflow.runName", &name);
    let user = f
        .str("user_id")
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| c.user.clone());
    let start = f.int("start_time")?.unwrap_or_else(now_ms);
    write(&c.store, |s| {
        let e = experiment(s, &exp)?;
        if e.lifecycle_stage != ACTIVE {
            return Err(invalid(format!(
                "The experiment {exp} must be in the 'active' state"
            )));
        }
        let id = format!("{:032x}", rand::random::<u128>());
        let info = RunInfo {
            artifact_uri: format!("mlflow-artifacts:/{exp}/{id}/artifacts"),
            run_id: id.clone(),
            experiment_id: exp.clone(),
            run_name: name,
            user_id: user,
            status: "RUNNING".into(),
            start_time: Some(start),
            end_time: None,
            lifecycle_stage: ACTIVE.into(),
        };
        let mut r = weir_tracking::model::Run::default();
        r.info = Some(info.clone());
        for t in &tags {
            r.tags.insert(t.key.clone(), t.value.clone());
        }
        let out = json!({ "run": run_json(&info, &r) });
        Ok((
            vec![Change::Run(info), Change::Tags { run_id: id, tags }],
            out,
        ))
    })
}

/// Params are immutable (the same value again is fine), tags overwrite,
/// metrics append.
fn log_batch(
    c: &Ctx,
    id: &str,
    metrics: Vec<Metric>,
    params: Vec<Tag>,
    tags: Vec<Tag>,
) -> Result<Value> {
    for m in &metrics {
        check_key("metric", &m.key)?;
    }
    for p in &params {
        check_key("param", &p.key)?;
        if p.value.len() > 6000 {
            return Err(invalid(format!(
                "Param value for '{}' is {} characters; at most 6000 are allowed",
                p.key,
                p.value.len()
            )));
        }
    }
    for t in &tags {
        check_key("tag", &t.key)?;
        if t.value.len() > 8000 {
            return Err(invalid(format!(
                "Tag value for '{}' is {} characters; at most 8000 are allowed",
                t.key,
                t.value.len()
            )));
        }
    }
    write(&c.store, |s| {
        let (_, r) = active_run(s, id)?;
        let mut new = Vec::new();
        for p in params {
            match r.params.get(&p.key) {
                Some(old) if *old != p.value => {
                    return Err(invalid(format!(
                        "Changing param values is not allowed. Param with key='{}' was already logged with value='{old}' for run ID='{id}'. Attempted logging new value '{}'.",
                        p.key, p.value
                    )));
                }
                Some(_) => {}
                None if new
                    .iter()
                    .any(|n: &Tag| n.key == p.key && n.value != p.value) =>
                {
                    return Err(invalid(format!(
                        "Duplicate parameter keys with different values: '{}'",
                        p.key
                    )));
                }
                None if new.iter().any(|n: &Tag| n.key == p.key) => {}
                None => new.push(p),
            }
        }
        let mut changes = Vec::new();
        if !new.is_empty() {
            changes.push(Change::Params {
                run_id: id.to_string(),
                params: new,
            });
        }
        if !metrics.is_empty() {
            changes.push(Change::Metrics {
                run_id: id.to_string(),
                metrics,
            });
        }
        // The run's name is its `mlflow.runName` tag, as MLflow keeps them.
        if let Some(t) = tags.iter().rev().find(|t| t.key == "mlflow.runName") {
            let (i, _) = active_run(s, id)?;
            let mut i = i.clone();
            i.run_name = t.value.clone();
            changes.push(Change::Run(i));
        }
        if !tags.is_empty() {
            changes.push(Change::Tags {
                run_id: id.to_string(),
                tags,
            });
        }
        Ok((changes, json!({})))
    })
}

fn view_allows(view: &str, stage: &str) -> bool {
    match view {
        "DELETED_ONLY" | "2" => stage == DELETED,
        "ALL" | "3" => true,
        _ => stage == ACTIVE,
    }
}

fn search_runs(s: &State, f: &Fields) -> Result<Value> {
    let exps = f.strings("experiment_ids");
    let conds = search::parse_filter(&f.str("filter").unwrap_or_default())?;
    let mut order = search::parse_order(&f.strings("order_by"))?;
    order.extend(search::parse_order(&[
        "attributes.start_time DESC".into(),
        "attributes.run_id ASC".into(),
    ])?);
    let view = f.str("run_view_type").unwrap_or_default();
    let most = f.max_results(1000, 50_000)?;
    let from = search::offset(f.str("page_token").as_deref())?;
    let lookup = |i: &RunInfo, r: &weir_tracking::model::Run, k: Kind, key: &str| -> Option<Val> {
        match k {
            Kind::Metric => r.latest.get(key).map(|m| Val::Num(m.value)),
            Kind::Param => r.params.get(key).map(|v| Val::Str(v.clone())),
            Kind::Tag => r.tags.get(key).map(|v| Val::Str(v.clone())),
            Kind::Dataset => r
                .inputs
                .iter()
                .find_map(|d| d["dataset"][key].as_str().map(|v| Val::Str(v.into()))),
            Kind::Attr => match key {
                "run_id" | "run_uuid" | "id" => Some(Val::Str(i.run_id.clone())),
                "run_name" | "name" => Some(Val::Str(i.run_name.clone())),
                "status" => Some(Val::Str(i.status.clone())),
                "user_id" => Some(Val::Str(i.user_id.clone())),
                "artifact_uri" => Some(Val::Str(i.artifact_uri.clone())),
                "lifecycle_stage" => Some(Val::Str(i.lifecycle_stage.clone())),
                "experiment_id" => Some(Val::Str(i.experiment_id.clone())),
                "start_time" | "created" | "Created" => i.start_time.map(|t| Val::Num(t as f64)),
                "end_time" => i.end_time.map(|t| Val::Num(t as f64)),
                _ => None,
            },
        }
    };
    let mut hits: Vec<(&RunInfo, &weir_tracking::model::Run)> = s
        .runs
        .values()
        .filter_map(|r| Some((r.info.as_ref()?, r)))
        .filter(|(i, _)| exps.contains(&i.experiment_id) && view_allows(&view, &i.lifecycle_stage))
        .filter(|(i, r)| search::holds_all(&conds, &|k, key| lookup(i, r, k, key)))
        .collect();
    hits.sort_by(|(ia, ra), (ib, rb)| {
        search::order(&order, &|k, key| lookup(ia, ra, k, key), &|k, key| {
            lookup(ib, rb, k, key)
        })
    });
    let end = (from + most).min(hits.len());
    let runs: Vec<Value> = hits
        .get(from..end)
        .unwrap_or_default()
        .iter()
        .map(|(i, r)| run_json(i, r))
        .collect();
    let mut v = json!({ "runs": runs });
    if let Some(t) = search::next_token(end, hits.len()) {
        v["next_page_token"] = json!(t);
    }
    Ok(v)
}

fn search_experiments(s: &State, f: &Fields) -> Result<Value> {
    let conds = search::parse_filter(&f.str("filter").unwrap_or_default())?;
    let mut order = search::parse_order(&f.strings("order_by"))?;
    order.extend(search::parse_order(&[
        "creation_time DESC".into(),
        "experiment_id ASC".into(),
    ])?);
    let view = f.str("view_type").unwrap_or_default();
    let most = f.max_results(1000, 50_000)?;
    let from = search::offset(f.str("page_token").as_deref())?;
    let lookup = |e: &Experiment, k: Kind, key: &str| -> Option<Val> {
        match (k, key) {
            (Kind::Tag, _) => e
                .tags
                .iter()
                .find(|t| t.key == key)
                .map(|t| Val::Str(t.value.clone())),
            (Kind::Attr, "name") => Some(Val::Str(e.name.clone())),
            (Kind::Attr, "experiment_id") => Some(Val::Num(e.experiment_id.parse().unwrap_or(0.0))),
            (Kind::Attr, "creation_time") => Some(Val::Num(e.creation_time as f64)),
            (Kind::Attr, "last_update_time") => Some(Val::Num(e.last_update_time as f64)),
            _ => None,
        }
    };
    let mut hits: Vec<&Experiment> = s
        .experiments
        .values()
        .filter(|e| view_allows(&view, &e.lifecycle_stage))
        .filter(|e| search::holds_all(&conds, &|k, key| lookup(e, k, key)))
        .collect();
    hits.sort_by(|a, b| {
        search::order(&order, &|k, key| lookup(a, k, key), &|k, key| {
            lookup(b, k, key)
        })
    });
    let end = (from + most).min(hits.len());
    let mut v = json!({ "experiments": hits.get(from..end).unwrap_or_default() });
    if let Some(t) = search::next_token(end, hits.len()) {
        v["next_page_token"] = json!(t);
    }
    Ok(v)
}
