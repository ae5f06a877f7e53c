//! Searching the registry: registered models, their versions and logged
//! models, with MLflow's filter grammar (`name LIKE 'demand%'`,
//! `tags.k = 'v'`, `run_id = '...'`) and page tokens.

use serde_json::{Value, json};

use super::Fields;
use super::search::{self, Kind, Val};
use crate::error::Result;
use weir_tracking::model::{
    LoggedModel, ModelVersion, RegisteredModel, State, Tag, logged_model_json,
    registered_model_json, version_json,
};

fn page<T>(
    hits: Vec<T>,
    f: &Fields,
    most: usize,
    key: &str,
    json: impl Fn(T) -> Value,
) -> Result<Value> {
    let from = search::offset(f.str("page_token").as_deref())?;
    let total = hits.len();
    let end = (from + most).min(total);
    let items: Vec<Value> = hits
        .into_iter()
        .skip(from)
        .take(end.saturating_sub(from))
        .map(json)
        .collect();
    let mut v = json!({ key: items });
    if let Some(t) = search::next_token(end, total) {
        v["next_page_token"] = json!(t);
    }
    Ok(v)
}

fn tag_of(tags: &[Tag], key: &str) -> Option<Val> {
    tags.iter()
        .find(|t| t.key == key)
        .map(|t| Val::Str(t.value.clone()))
}

pub fn search_models(s: &State, f: &Fields) -> Result<Value> {
    let conds = search::parse_filter(&f.str("filter").unwrap_or_default())?;
    let mut order = search::parse_order(&f.strings("order_by"))?;
    order.extend(search::parse_order(&["name ASC".into()])?);
    let most = f.max_results(100, 1000)?;
    let lookup = |m: &RegisteredModel, k: Kind, key: &str| match (k, key) {
        (Kind::Tag, _) => tag_of(&m.tags, key),
        (Kind::Attr, "name") => Some(Val::Str(m.name.clone())),
        (Kind::Attr, "timestamp" | "last_updated_timestamp") => {
            Some(Val::Num(m.last_updated_timestamp as f64))
        }
        (Kind::Attr, "creation_timestamp") => Some(Val::Num(m.creation_timestamp as f64)),
        _ => None,
    };
    let mut hits: Vec<&RegisteredModel> = s
        .models
        .values()
        .filter(|m| search::holds_all_registry(&conds, &|k, key| lookup(m, k, key)))
        .collect();
    hits.sort_by(|a, b| {
        search::order(&order, &|k, key| lookup(a, k, key), &|k, key| {
            lookup(b, k, key)
        })
    });
    page(hits, f, most, "registered_models", |m| {
        registered_model_json(s, m)
    })
}

pub fn search_versions(s: &State, f: &Fields) -> Result<Value> {
    let conds = search::parse_filter(&f.str("filter").unwrap_or_default())?;
    let mut order = search::parse_order(&f.strings("order_by"))?;
    order.extend(search::parse_order(&[
        "name ASC".into(),
        "version_number DESC".into(),
    ])?);
    let most = f.max_results(10_000, 200_000)?;
    let lookup = |v: &ModelVersion, k: Kind, key: &str| match (k, key) {
        (Kind::Tag, _) => tag_of(&v.tags, key),
        (Kind::Attr, "name") => Some(Val::Str(v.name.clone())),
        (Kind::Attr, "version_number" | "version") => Some(Val::Num(v.version as f64)),
        (Kind::Attr, "run_id") => v.run_id.clone().map(Val::Str),
        (Kind::Attr, "source_path" | "source") => Some(Val::Str(v.source.clone())),
        (Kind::Attr, "current_stage") => Some(Val::Str(v.current_stage.clone())),
        (Kind::Attr, "creation_timestamp") => Some(Val::Num(v.creation_timestamp as f64)),
        (Kind::Attr, "last_updated_timestamp") => Some(Val::Num(v.last_updated_timestamp as f64)),
        _ => None,
    };
    let mut hits: Vec<&ModelVersion> = s
        .versions
        .values()
        .filter(|v| search::holds_all_registry(&conds, &|k, key| lookup(v, k, key)))
        .collect();
    hits.sort_by(|a, b| {
        search::order(&order, &|k, key| lookup(a, k, key), &|k, key| {
            lookup(b, k, key)
        })
    });
    page(hits, f, most, "model_versions", |v| {
        match s.models.get(&v.name) {
            Some(m) => version_json(m, v),
            None => json!(v),
        }
    })
}

pub fn search_logged(s: &State, f: &Fields) -> Result<Value> {
    let exps = f.strings("experiment_ids");
    let conds = search::parse_filter(&f.str("filter").unwrap_or_default())?;
    let most = f.max_results(100, 1000)?;
    let lookup = |m: &LoggedModel, k: Kind, key: &str| match (k, key) {
        (Kind::Tag, _) => tag_of(&m.tags, key),
        (Kind::Param, _) => tag_of(&m.params, key),
        (Kind::Attr, "name") => Some(Val::Str(m.name.clone())),
        (Kind::Attr, "model_id") => Some(Val::Str(m.model_id.clone())),
        (Kind::Attr, "status") => Some(Val::Str(m.status.clone())),
        (Kind::Attr, "source_run_id") => m.source_run_id.clone().map(Val::Str),
        (Kind::Attr, "creation_timestamp" | "creation_time") => {
            Some(Val::Num(m.creation_timestamp_ms as f64))
        }
        _ => None,
    };
    let mut hits: Vec<&LoggedModel> = s
        .logged
        .values()
        .filter(|m| {
            (exps.is_empty() || exps.contains(&m.experiment_id))
                && m.status != "LOGGED_MODEL_DELETED"
        })
        .filter(|m| search::holds_all_registry(&conds, &|k, key| lookup(m, k, key)))
        .collect();
    hits.sort_by(|a, b| {
        b.creation_timestamp_ms
            .cmp(&a.creation_timestamp_ms)
            .then(a.model_id.cmp(&b.model_id))
    });
    page(hits, f, most, "models", logged_model_json)
}
