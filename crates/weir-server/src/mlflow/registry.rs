//! The model registry (registered models, their versions, stages and
//! aliases) and MLflow 3's logged models.

use axum::http::Method;
use serde_json::{Value, json};

use super::registry_search::{search_logged, search_models, search_versions};
use super::tracking::tags;
use super::{Ctx, Fields, check_key, exists, invalid, missing, write};
use crate::error::Result;
use weir_tracking::model::{
    Change, LoggedModel, ModelVersion, RegisteredModel, State, logged_model_json,
    registered_model_json, set_tag, version_json,
};
use weir_tracking::now_ms;

const STAGES: [&str; 4] = ["None", "Staging", "Production", "Archived"];

pub fn known(m: &Method, rpc: &str) -> bool {
    let (get, post, patch, delete) = (
        m == Method::GET,
        m == Method::POST,
        m == Method::PATCH,
        m == Method::DELETE,
    );
    match rpc {
        "registered-models/get"
        | "registered-models/search"
        | "model-versions/get"
        | "model-versions/search"
        | "model-versions/get-download-uri" => get,
        "registered-models/get-latest-versions" => get || post,
        "registered-models/alias" => get || post || delete,
        "registered-models/create"
        | "registered-models/rename"
        | "registered-models/set-tag"
        | "model-versions/create"
        | "model-versions/transition-stage"
        | "model-versions/set-tag"
        | "logged-models"
        | "logged-models/search" => post,
        "registered-models/update" | "model-versions/update" => patch,
        "registered-models/delete"
        | "registered-models/delete-tag"
        | "model-versions/delete"
        | "model-versions/delete-tag" => delete,
        _ => logged_model_rpc(rpc).is_some_and(|(_, sub)| match sub {
            "" => get || patch || delete,
            "tags" => patch,
            "params" => post,
            _ => false,
        }),
    }
}

/// `logged-models/{id}[/tags|/params]` → (id, the rest).
fn logged_model_rpc(rpc: &str) -> Option<(&str, &str)> {
    let rest = rpc.strip_prefix("logged-models/")?;
    let (id, sub) = rest.split_once('/').unwrap_or((rest, ""));
    (!id.is_empty() && id != "search").then_some((id, sub))
}

fn model<'a>(s: &'a State, name: &str) -> Result<&'a RegisteredModel> {
    s.models
        .get(name)
        .ok_or_else(|| missing(format!("Registered Model with name={name} not found")))
}

fn version<'a>(s: &'a State, name: &str, v: &str) -> Result<&'a ModelVersion> {
    model(s, name)?;
    v.parse::<i64>()
        .ok()
        .and_then(|n| s.versions.get(&(name.to_string(), n)))
        .ok_or_else(|| {
            missing(format!(
                "Model Version (name={name}, version={v}) not found"
            ))
        })
}

fn logged<'a>(s: &'a State, id: &str) -> Result<&'a LoggedModel> {
    s.logged
        .get(id)
        .ok_or_else(|| missing(format!("Logged model with ID '{id}' not found")))
}

pub fn call(c: &Ctx, m: &Method, rpc: &str, f: &Fields) -> Result<Option<Value>> {
    if !known(m, rpc) {
        return Ok(None);
    }
    let st = &c.store;
    let v = match rpc {
        "registered-models/create" => {
            let name = f.need("name")?;
            check_key("registered model", &name)?;
            let tags = tags(f, "tags")?;
            let description = f.str("description");
            write(st, |s| {
                if s.models.contains_key(&name) {
                    return Err(exists(format!(
                        "Registered Model (name={name}) already exists."
                    )));
                }
                let now = now_ms();
                let rm = RegisteredModel {
                    name: name.clone(),
                    creation_timestamp: now,
                    last_updated_timestamp: now,
                    user_id: Some(c.user.clone()),
                    description,
                    tags,
                    aliases: Vec::new(),
                };
                let out = json!({ "registered_model": registered_model_json(s, &rm) });
                Ok((vec![Change::RegisteredModel(rm)], out))
            })?
        }
        "registered-models/get" => {
            let name = f.need("name")?;
            st.read(|s| {
                Ok::<_, crate::error::ServerError>(
                    json!({ "registered_model": registered_model_json(s, model(s, &name)?) }),
                )
            })?
        }
        "registered-models/search" => st.read(|s| search_models(s, f))?,
        "registered-models/get-latest-versions" => {
            let name = f.need("name")?;
            let stages = f.strings("stages");
            st.read(|s| {
                let rm = model(s, &name)?;
                let all = registered_model_json(s, rm)["latest_versions"].clone();
                let picked: Vec<Value> = all
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|v| {
                        stages.is_empty()
                            || stages.iter().any(|x| {
                                v["current_stage"]
                                    .as_str()
                                    .is_some_and(|c| c.eq_ignore_ascii_case(x))
                            })
                    })
                    .collect();
                Ok::<_, crate::error::ServerError>(json!({ "model_versions": picked }))
            })?
        }
        "registered-models/rename" => {
            let (name, new) = (f.need("name")?, f.need("new_name")?);
            check_key("registered model", &new)?;
            write(st, |s| {
                let mut rm = model(s, &name)?.clone();
                if s.models.contains_key(&new) {
                    return Err(exists(format!(
                        "Registered Model (name={new}) already exists."
                    )));
                }
                rm.name = new.clone();
                rm.last_updated_timestamp = now_ms();
                // The old name goes with its versions, then both come back
                // under the new name.
                let mut changes = vec![
                    Change::DropRegisteredModel { name: name.clone() },
                    Change::RegisteredModel(rm.clone()),
                ];
                let mut after = State::default();
                after.models.insert(rm.name.clone(), rm.clone());
                for ((_, _), mv) in s
                    .versions
                    .range((name.clone(), i64::MIN)..=(name.clone(), i64::MAX))
                {
                    let mut mv = mv.clone();
                    mv.name = new.clone();
                    after.versions.insert((new.clone(), mv.version), mv.clone());
                    changes.push(Change::Version(mv));
                }
                Ok((
                    changes,
                    json!({ "registered_model": registered_model_json(&after, &rm) }),
                ))
            })?
        }
        "registered-models/update"
        | "registered-models/set-tag"
        | "registered-models/delete-tag"
        | "registered-models/alias"
            if m != Method::GET =>
        {
            let name = f.need("name")?;
            let (key, value, alias, ver) = (
                f.str("key"),
                f.str("value").unwrap_or_default(),
                f.str("alias"),
                f.str("version"),
            );
            let description = f.str("description");
            write(st, |s| {
                let mut rm = model(s, &name)?.clone();
                match (rpc, m) {
                    ("registered-models/update", _) => rm.description = description,
                    ("registered-models/set-tag", _) => {
                        let k = key
                            .clone()
                            .ok_or_else(|| invalid("Missing value for required parameter 'key'"))?;
                        check_key("tag", &k)?;
                        set_tag(&mut rm.tags, &k, &value);
                    }
                    ("registered-models/delete-tag", _) => {
                        let k = key.clone().unwrap_or_default();
                        rm.tags.retain(|t| t.key != k);
                    }
                    (_, &Method::POST) => {
                        let a = alias.clone().ok_or_else(|| {
                            invalid("Missing value for required parameter 'alias'")
                        })?;
                        check_alias(&a)?;
                        let v = ver.clone().ok_or_else(|| {
                            invalid("Missing value for required parameter 'version'")
                        })?;
                        version(s, &name, &v)?;
                        set_tag(&mut rm.aliases, &a, &v);
                    }
                    _ => {
                        let a = alias.clone().unwrap_or_default();
                        rm.aliases.retain(|t| t.key != a);
                    }
                }
                rm.last_updated_timestamp = now_ms();
                let out = if rpc == "registered-models/update" {
                    json!({ "registered_model": registered_model_json(s, &rm) })
                } else {
                    json!({})
                };
                Ok((vec![Change::RegisteredModel(rm)], out))
            })?
        }
        "registered-models/alias" => {
            let (name, alias) = (f.need("name")?, f.need("alias")?);
            st.read(|s| {
                let rm = model(s, &name)?;
                let v =
                    rm.aliases.iter().find(|a| a.key == alias).ok_or_else(|| {
                        missing(format!("Registered model alias {alias} not found."))
                    })?;
                Ok::<_, crate::error::ServerError>(
                    json!({ "model_version": version_json(rm, version(s, &name, &v.value)?) }),
                )
            })?
        }
        "registered-models/delete" => {
            let name = f.need("name")?;
            write(st, |s| {
                model(s, &name)?;
                Ok((
                    vec![Change::DropRegisteredModel { name: name.clone() }],
                    json!({}),
                ))
            })?
        }
        "model-versions/create" => {
            let name = f.need("name")?;
            let source = f.need("source")?;
            let tags = tags(f, "tags")?;
            let (run_id, run_link, description, model_id) = (
                f.str("run_id").filter(|r| !r.is_empty()),
                f.str("run_link"),
                f.str("description"),
                f.str("model_id").filter(|m| !m.is_empty()),
            );
            write(st, |s| {
                let rm = model(s, &name)?;
                if let Some(r) = &run_id
                    && s.run(r).is_none()
                {
                    return Err(missing(format!("Run with id={r} not found")));
                }
                let now = now_ms();
                let mv = ModelVersion {
                    name: name.clone(),
                    version: s.next_version(&name),
                    creation_timestamp: now,
                    last_updated_timestamp: now,
                    user_id: Some(c.user.clone()),
                    current_stage: "None".into(),
                    description,
                    source,
                    run_id,
                    status: "READY".into(),
                    run_link,
                    model_id,
                    tags,
                };
                let mut rm = rm.clone();
                rm.last_updated_timestamp = now;
                let out = json!({ "model_version": version_json(&rm, &mv) });
                Ok((vec![Change::RegisteredModel(rm), Change::Version(mv)], out))
            })?
        }
        "model-versions/get" | "model-versions/get-download-uri" => {
            let (name, v) = (f.need("name")?, f.need("version")?);
            st.read(|s| {
                let mv = version(s, &name, &v)?;
                Ok::<_, crate::error::ServerError>(if rpc == "model-versions/get" {
                    json!({ "model_version": version_json(model(s, &name)?, mv) })
                } else {
                    json!({ "artifact_uri": download_uri(s, mv) })
                })
            })?
        }
        "model-versions/search" => st.read(|s| search_versions(s, f))?,
        "model-versions/update"
        | "model-versions/transition-stage"
        | "model-versions/set-tag"
        | "model-versions/delete-tag"
        | "model-versions/delete" => {
            let (name, v) = (f.need("name")?, f.need("version")?);
            let (stage, archive) = (f.str("stage"), f.bool("archive_existing_versions"));
            let (key, value, description) = (
                f.str("key"),
                f.str("value").unwrap_or_default(),
                f.str("description"),
            );
            write(st, |s| {
                let mut mv = version(s, &name, &v)?.clone();
                let mut changes = Vec::new();
                let now = now_ms();
                match rpc {
                    "model-versions/delete" => {
                        let mut rm = model(s, &name)?.clone();
                        rm.aliases.retain(|a| a.value != v);
                        return Ok((
                            vec![
                                Change::RegisteredModel(rm),
                                Change::DropVersion {
                                    name: name.clone(),
                                    version: mv.version,
                                },
                            ],
                            json!({}),
                        ));
                    }
                    "model-versions/update" => mv.description = description,
                    "model-versions/set-tag" => {
                        let k = key
                            .clone()
                            .ok_or_else(|| invalid("Missing value for required parameter 'key'"))?;
                        check_key("tag", &k)?;
                        set_tag(&mut mv.tags, &k, &value);
                    }
                    "model-versions/delete-tag" => {
                        let k = key.clone().unwrap_or_default();
                        mv.tags.retain(|t| t.key != k);
                    }
                    _ => {
                        let want = stage.clone().unwrap_or_default();
                        let Some(st) = STAGES.iter().find(|x| x.eq_ignore_ascii_case(&want)) else {
                            return Err(invalid(format!(
                                "Invalid Model Version stage: {want}. Value must be one of {}.",
                                STAGES.join(", ")
                            )));
                        };
                        mv.current_stage = st.to_string();
                        if archive && matches!(*st, "Staging" | "Production") {
                            for ((_, _), o) in s
                                .versions
                                .range((name.clone(), i64::MIN)..=(name.clone(), i64::MAX))
                            {
                                if o.version != mv.version && o.current_stage == *st {
                                    let mut o = o.clone();
                                    o.current_stage = "Archived".into();
                                    o.last_updated_timestamp = now;
                                    changes.push(Change::Version(o));
                                }
                            }
                        }
                    }
                }
                mv.last_updated_timestamp = now;
                let out = if matches!(
                    rpc,
                    "model-versions/update" | "model-versions/transition-stage"
                ) {
                    json!({ "model_version": version_json(model(s, &name)?, &mv) })
                } else {
                    json!({})
                };
                changes.push(Change::Version(mv));
                Ok((changes, out))
            })?
        }
        "logged-models" => {
            let exp = f.need("experiment_id")?;
            let name = f
                .str("name")
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "model".into());
            let (tags, params) = (tags(f, "tags")?, tags(f, "params")?);
            let (model_type, source_run_id) = (
                f.str("model_type"),
                f.str("source_run_id").filter(|r| !r.is_empty()),
            );
            write(st, |s| {
                if !s
                    .experiments
                    .contains_key(&exp.parse::<i64>().unwrap_or(-1))
                {
                    return Err(missing(format!("No Experiment with id={exp} exists")));
                }
                let id = format!("m-{}", format_args!("{:032x}", rand::random::<u128>()));
                let now = now_ms();
                let lm = LoggedModel {
                    artifact_uri: format!("mlflow-artifacts:/{exp}/models/{id}/artifacts"),
                    model_id: id,
                    experiment_id: exp.clone(),
                    name,
                    model_type,
                    source_run_id,
                    status: "LOGGED_MODEL_PENDING".into(),
                    status_message: None,
                    creation_timestamp_ms: now,
                    last_updated_timestamp_ms: now,
                    creator_id: Some(c.user.clone()),
                    tags,
                    params,
                };
                let out = json!({ "model": logged_model_json(&lm) });
                Ok((vec![Change::LoggedModel(lm)], out))
            })?
        }
        "logged-models/search" => st.read(|s| search_logged(s, f))?,
        _ => {
            let Some((id, sub)) = logged_model_rpc(rpc) else {
                return Ok(None);
            };
            if m == Method::GET {
                return st
                    .read(|s| Ok(Some(json!({ "model": logged_model_json(logged(s, id)?) }))));
            }
            let status = f.str("status");
            let (tags, params) = (tags(f, "tags")?, tags(f, "params")?);
            write(st, |s| {
                let mut lm = logged(s, id)?.clone();
                match (sub, m) {
                    ("", &Method::DELETE) => lm.status = "LOGGED_MODEL_DELETED".into(),
                    ("", _) => {
                        let x = status.clone().unwrap_or_default();
                        if !matches!(
                            x.as_str(),
                            "LOGGED_MODEL_READY" | "LOGGED_MODEL_UPLOAD_FAILED"
                        ) {
                            return Err(invalid(format!("Invalid logged model status '{x}'")));
                        }
                        lm.status = x;
                    }
                    ("tags", _) => tags
                        .iter()
                        .for_each(|t| set_tag(&mut lm.tags, &t.key, &t.value)),
                    _ => params
                        .iter()
                        .for_each(|t| set_tag(&mut lm.params, &t.key, &t.value)),
                }
                lm.last_updated_timestamp_ms = now_ms();
                let out = if sub.is_empty() && m == Method::PATCH {
                    json!({ "model": logged_model_json(&lm) })
                } else {
                    json!({})
                };
                Ok((vec![Change::LoggedModel(lm)], out))
            })?
        }
    };
    Ok(Some(v))
}

fn check_alias(a: &str) -> Result<()> {
    check_key("alias", a)?;
    let reserved = a.eq_ignore_ascii_case("latest")
        || (a.len() > 1
            && (a.starts_with('v') || a.starts_with('V'))
            && a[1..].chars().all(|c| c.is_ascii_digit()));
    if reserved {
        return Err(invalid(format!(
            "'{a}' is reserved and cannot be used as an alias"
        )));
    }
    Ok(())
}

/// Where a version's files are: a logged model's artifacts, or the run
/// artifact its `runs:/RUN/PATH` source names.
fn download_uri(s: &State, mv: &ModelVersion) -> String {
    if let Some(m) = mv.model_id.as_deref().and_then(|id| s.logged.get(id)) {
        return m.artifact_uri.clone();
    }
    if let Some(rest) = mv.source.strip_prefix("runs:/") {
        let (run, path) = rest.split_once('/').unwrap_or((rest, ""));
        if let Some((i, _)) = s.run(run) {
            return format!("{}/{}", i.artifact_uri, path)
                .trim_end_matches('/')
                .to_string();
        }
    }
    if let Some(id) = mv.source.strip_prefix("models:/")
        && let Some(m) = s.logged.get(id)
    {
        return m.artifact_uri.clone();
    }
    mv.source.clone()
}
