//! What an MLflow tracking server knows, in memory: experiments, runs with
//! their params, tags and metric history, the model registry and MLflow 3's
//! logged models. Every change is a [`Change`]: journaled before it is
//! applied (see `store`), so replaying the journal over the tables rebuilds
//! the same state. Every change is idempotent: one that replaces a record
//! replaces it with the same again, and params and metrics are kept once
//! each, as MLflow's own store keys them (a param by run and key, a metric
//! by run, key, timestamp, step and value), so a journal row replayed over
//! tables that already hold it adds nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const DEFAULT_EXPERIMENT: &str = "0";
pub const ACTIVE: &str = "active";
pub const DELETED: &str = "deleted";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: String,
    pub creation_time: i64,
    pub last_update_time: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub experiment_id: String,
    pub run_name: String,
    pub user_id: String,
    pub status: String,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub lifecycle_stage: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub key: String,
    /// NaN and the infinities are kept; JSON (the wire, the journal)
    /// spells them as strings.
    #[serde(with = "spelled")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

impl Metric {
    /// MLflow's order for "the latest value": highest step, then newest
    /// timestamp, then largest value.
    fn later_than(&self, o: &Metric) -> bool {
        (self.step, self.timestamp)
            .cmp(&(o.step, o.timestamp))
            .then(self.value.total_cmp(&o.value))
            .is_gt()
    }
}

/// A run: its info, and what was logged to it.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub info: Option<RunInfo>,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub latest: BTreeMap<String, Metric>,
    pub history: Vec<Metric>,
    /// `DatasetInput`s and `ModelInput`s as the client sent them.
    pub inputs: Vec<Value>,
    pub model_inputs: Vec<Value>,
    pub outputs: Vec<Value>,
    /// The identity of each metric value held: (key, timestamp, step, value).
    seen: HashSet<(String, i64, i64, u64)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Alias → version.
    #[serde(default)]
    pub aliases: Vec<Tag>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(default)]
    pub user_id: Option<String>,
    pub current_stage: String,
    #[serde(default)]
    pub description: Option<String>,
    pub source: String,
    #[serde(default)]
    pub run_id: Option<String>,
    pub status: String,
    #[serde(default)]
    pub run_link: Option<String>,
    #[serde(default)]
    pub model_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoggedModel {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub source_run_id: Option<String>,
    pub status: String,
    #[serde(default)]
    pub status_message: Option<String>,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    pub artifact_uri: String,
    #[serde(default)]
    pub creator_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub params: Vec<Tag>,
}

/// One journaled change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Experiment(Experiment),
    Run(RunInfo),
    Params {
        run_id: String,
        params: Vec<Tag>,
    },
    Metrics {
        run_id: String,
        metrics: Vec<Metric>,
    },
    Tags {
        run_id: String,
        tags: Vec<Tag>,
    },
    DeleteTag {
        run_id: String,
        key: String,
    },
    Inputs {
        run_id: String,
        datasets: Vec<Value>,
        models: Vec<Value>,
    },
    Outputs {
        run_id: String,
        models: Vec<Value>,
    },
    RegisteredModel(RegisteredModel),
    DropRegisteredModel {
        name: String,
    },
    Version(ModelVersion),
    DropVersion {
        name: String,
        version: i64,
    },
    LoggedModel(LoggedModel),
}

impl Change {
    /// The tables a flush of this change rewrites or appends to.
    pub fn tables(&self) -> &'static [&'static str] {
        match self {
            Change::Experiment(_) => &["experiments"],
            Change::Run(_) | Change::Inputs { .. } | Change::Outputs { .. } => &["runs"],
            Change::Params { .. } => &["params"],
            Change::Metrics { .. } => &["metrics"],
            Change::Tags { .. } | Change::DeleteTag { .. } => &["tags"],
            Change::RegisteredModel(_) | Change::DropRegisteredModel { .. } => {
                &["registered_models", "model_versions"]
            }
            Change::Version(_) | Change::DropVersion { .. } => &["model_versions"],
            Change::LoggedModel(_) => &["logged_models"],
        }
    }
}

#[derive(Debug, Default)]
pub struct State {
    pub experiments: BTreeMap<i64, Experiment>,
    pub runs: HashMap<String, Run>,
    pub models: BTreeMap<String, RegisteredModel>,
    pub versions: BTreeMap<(String, i64), ModelVersion>,
    pub logged: BTreeMap<String, LoggedModel>,
    /// Params and metric values applied since the tables were read: what
    /// the next flush appends to them.
    pub unflushed_params: Vec<(String, Tag)>,
    pub unflushed_metrics: Vec<(String, Metric)>,
}

fn upsert(tags: &mut Vec<Tag>, key: &str, value: &str) {
    match tags.iter_mut().find(|t| t.key == key) {
        Some(t) => t.value = value.to_string(),
        None => tags.push(Tag {
            key: key.into(),
            value: value.into(),
        }),
    }
}

pub fn set_tag(tags: &mut Vec<Tag>, key: &str, value: &str) {
    upsert(tags, key, value)
}

impl State {
    /// The state of a tracking store that has nothing yet: MLflow's
    /// experiment "0", "Default", which clients use when none is set.
    pub fn new(now: i64) -> State {
        let mut s = State::default();
        s.experiments.insert(
            0,
            Experiment {
                experiment_id: DEFAULT_EXPERIMENT.into(),
                name: "Default".into(),
                artifact_location: "mlflow-artifacts:/0".into(),
                lifecycle_stage: ACTIVE.into(),
                creation_time: now,
                last_update_time: now,
                tags: Vec::new(),
            },
        );
        s
    }

    /// Applies a change made since the tables were read.
    pub fn apply(&mut self, c: Change) {
        self.apply_as(c, false)
    }

    /// Applies a change the tables already hold.
    pub fn apply_stored(&mut self, c: Change) {
        self.apply_as(c, true)
    }

    fn apply_as(&mut self, c: Change, stored: bool) {
        match c {
            Change::Experiment(e) => {
                if let Ok(id) = e.experiment_id.parse() {
                    self.experiments.insert(id, e);
                }
            }
            Change::Run(info) => {
                let id = info.run_id.clone();
                self.runs.entry(id).or_default().info = Some(info);
            }
            Change::Params { run_id, params } => {
                let r = self.runs.entry(run_id.clone()).or_default();
                for p in params {
                    if r.params.contains_key(&p.key) {
                        continue;
                    }
                    r.params.insert(p.key.clone(), p.value.clone());
                    if !stored {
                        self.unflushed_params.push((run_id.clone(), p));
                    }
                }
            }
            Change::Metrics { run_id, metrics } => {
                let r = self.runs.entry(run_id.clone()).or_default();
                for m in metrics {
                    let id = (m.key.clone(), m.timestamp, m.step, m.value.to_bits());
                    if !r.seen.insert(id) {
                        continue;
                    }
                    match r.latest.get(&m.key) {
                        Some(l) if !m.later_than(l) => {}
                        _ => {
                            r.latest.insert(m.key.clone(), m.clone());
                        }
                    }
                    if !stored {
                        self.unflushed_metrics.push((run_id.clone(), m.clone()));
                    }
                    r.history.push(m);
                }
            }
            Change::Tags { run_id, tags } => {
                let r = self.runs.entry(run_id).or_default();
                for t in tags {
                    r.tags.insert(t.key, t.value);
                }
            }
            Change::DeleteTag { run_id, key } => {
                self.runs.entry(run_id).or_default().tags.remove(&key);
            }
            Change::Inputs {
                run_id,
                datasets,
                models,
            } => {
                let r = self.runs.entry(run_id).or_default();
                for d in datasets {
                    if !r.inputs.contains(&d) {
                        r.inputs.push(d);
                    }
                }
                for m in models {
                    if !r.model_inputs.contains(&m) {
                        r.model_inputs.push(m);
                    }
                }
            }
            Change::Outputs { run_id, models } => {
                let r = self.runs.entry(run_id).or_default();
                for m in models {
                    if !r.outputs.contains(&m) {
                        r.outputs.push(m);
                    }
                }
            }
            Change::RegisteredModel(m) => {
                self.models.insert(m.name.clone(), m);
            }
            Change::DropRegisteredModel { name } => {
                self.models.remove(&name);
                self.versions.retain(|(n, _), _| *n != name);
            }
            Change::Version(v) => {
                self.versions.insert((v.name.clone(), v.version), v);
            }
            Change::DropVersion { name, version } => {
                self.versions.remove(&(name, version));
            }
            Change::LoggedModel(m) => {
                self.logged.insert(m.model_id.clone(), m);
            }
        }
    }

    pub fn experiment_by_name(&self, name: &str) -> Option<&Experiment> {
        self.experiments.values().find(|e| e.name == name)
    }

    pub fn next_experiment_id(&self) -> i64 {
        self.experiments.keys().next_back().map_or(0, |k| k + 1)
    }

    /// A run that was created (not one only metrics were replayed onto).
    pub fn run(&self, id: &str) -> Option<(&RunInfo, &Run)> {
        let r = self.runs.get(id)?;
        Some((r.info.as_ref()?, r))
    }

    pub fn next_version(&self, name: &str) -> i64 {
        self.versions
            .range((name.to_string(), i64::MIN)..=(name.to_string(), i64::MAX))
            .next_back()
            .map_or(1, |((_, v), _)| v + 1)
    }
}

/// A float in JSON that may be NaN or infinite, as MLflow spells them:
/// serde_json would write `null` and then fail to read it back.
mod spelled {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        super::metric_value(*v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum V {
            N(f64),
            S(String),
        }
        match V::deserialize(d)? {
            V::N(x) => Ok(x),
            V::S(t) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                t => t.parse().map_err(serde::de::Error::custom),
            },
        }
    }
}

/// A metric value as MLflow's JSON has it: NaN and the infinities as
/// strings, since JSON has no such numbers.
pub fn metric_value(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v == f64::INFINITY {
        json!("Infinity")
    } else if v == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(v)
    }
}

pub fn metric_json(m: &Metric, run_id: &str) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    v["value"] = metric_value(m.value);
    v["run_id"] = json!(run_id);
    v
}

fn kv(map: &BTreeMap<String, String>) -> Vec<Value> {
    map.iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

pub fn run_info_json(i: &RunInfo) -> Value {
    let mut v = serde_json::to_value(i).unwrap_or_default();
    v["run_uuid"] = json!(i.run_id);
    if i.end_time.is_none() {
        v.as_object_mut().map(|o| o.remove("end_time"));
    }
    v
}

pub fn run_json(i: &RunInfo, r: &Run) -> Value {
    json!({
        "info": run_info_json(i),
        "data": {
            "metrics": r.latest.values().map(|m| metric_json(m, &i.run_id)).collect::<Vec<_>>(),
            "params": kv(&r.params),
            "tags": kv(&r.tags),
        },
        "inputs": {"dataset_inputs": r.inputs, "model_inputs": r.model_inputs},
        "outputs": {"model_outputs": r.outputs},
    })
}

pub fn registered_model_json(s: &State, m: &RegisteredModel) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    v["aliases"] = json!(
        m.aliases
            .iter()
            .map(|a| json!({"alias": a.key, "version": a.value}))
            .collect::<Vec<_>>()
    );
    // The newest version in each stage, as MLflow lists them.
    let mut latest: BTreeMap<&str, &ModelVersion> = BTreeMap::new();
    for ((n, _), mv) in s.versions.range((m.name.clone(), i64::MIN)..) {
        if *n != m.name {
            break;
        }
        latest.insert(mv.current_stage.as_str(), mv);
    }
    v["latest_versions"] = json!(
        latest
            .values()
            .map(|mv| version_json(m, mv))
            .collect::<Vec<_>>()
    );
    v
}

pub fn version_json(m: &RegisteredModel, mv: &ModelVersion) -> Value {
    let mut v = serde_json::to_value(mv).unwrap_or_default();
    v["version"] = json!(mv.version.to_string());
    let aliases: Vec<&str> = m
        .aliases
        .iter()
        .filter(|a| a.value == mv.version.to_string())
        .map(|a| a.key.as_str())
        .collect();
    v["aliases"] = json!(aliases);
    v
}

pub fn logged_model_json(m: &LoggedModel) -> Value {
    let mut info = serde_json::to_value(m).unwrap_or_default();
    let params = info.as_object_mut().and_then(|o| o.remove("params"));
    // MLflow's `creator_id` is a number (a Databricks user id); weir's
    // users are names, kept in the table only.
    info.as_object_mut().map(|o| o.remove("creator_id"));
    json!({"info": info, "data": {"params": params.unwrap_or(json!([])), "metrics": []}})
}
