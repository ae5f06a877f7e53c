//! The pipeline manifest: a TOML file naming the stages, each a SQL file
//! whose result is written to one table, with its write mode and quality
//! gates, plus typed parameters.
//!
//! ```toml
//! name = "forecasting"
//!
//! [params]
//! horizon = 28
//!
//! [[stage]]
//! name = "clean"
//! sql = "clean.sql"            # relative to this file
//! output = "sales_clean"
//! mode = "overwrite"           # overwrite (default) | append | merge
//! # keys = ["unique_id", "ds"] # merge: rows with equal keys are replaced
//! # after = ["other_stage"]    # order not visible from the SQL's tables
//! # features = "features.yaml" # in place of sql: a feature registry
//!
//! [[stage.gate]]
//! name = "no_negative_demand"
//! query = "SELECT * FROM sales_clean WHERE y < 0"   # must return no rows
//!
//! [[trigger]]                  # installed by `weir schedule apply`
//! name = "on-sales"
//! on_commit = "main"
//! paths = ["sales/**"]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{JobsError, Result};
use crate::features::FeatureRegistry;
use crate::params::{Param, Params};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "stage")]
    stages: Vec<RawStage>,
    #[serde(default, rename = "trigger")]
    triggers: Vec<crate::schedule::Spec>,
    #[serde(default)]
    mlflow: Option<RawMlflow>,
}

/// `[mlflow]`: what a run records as an MLflow run besides its params,
/// stages and datasets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMlflow {
    /// `false`: the pipeline's runs are not MLflow runs.
    #[serde(default = "yes")]
    track: bool,
    /// The experiment (default: the pipeline's name).
    #[serde(default)]
    experiment: Option<String>,
    /// SQL giving `key, value[, step]`: the run's metrics.
    #[serde(default)]
    metrics: Option<PathBuf>,
    /// SQL giving one child run per row: `run_name`, `param_*` columns as
    /// params, other numeric columns as metrics.
    #[serde(default)]
    children: Option<PathBuf>,
    /// Output tables saved with the run as CSV artifacts.
    #[serde(default)]
    artifacts: Vec<String>,
}

fn yes() -> bool {
    true
}

/// How a pipeline's runs are recorded as MLflow runs.
#[derive(Debug, Clone)]
pub struct Tracking {
    pub track: bool,
    pub experiment: Option<String>,
    pub metrics: Option<String>,
    pub children: Option<String>,
    pub artifacts: Vec<String>,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking {
            track: true,
            experiment: None,
            metrics: None,
            children: None,
            artifacts: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: String,
    #[serde(default)]
    sql: Option<PathBuf>,
    #[serde(default)]
    features: Option<PathBuf>,
    output: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "gate")]
    gates: Vec<RawGate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    name: String,
    /// The query inline, or
    #[serde(default)]
    query: Option<String>,
    /// in a SQL file beside the manifest (a long one).
    #[serde(default)]
    sql: Option<PathBuf>,
}

/// How a stage's result lands in its output table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputMode {
    /// Replace the table, schema included.
    Overwrite,
    /// Add the rows.
    Append,
    /// Replace rows whose keys match, insert the others.
    Merge { keys: Vec<String> },
}

impl OutputMode {
    /// `overwrite`, `append` or `merge:KEY,KEY` (as run records keep it).
    pub fn describe(&self) -> String {
        match self {
            OutputMode::Merge { keys } => format!("merge:{}", keys.join(",")),
            m => m.as_str().to_string(),
        }
    }

    pub fn parse(s: &str) -> Option<OutputMode> {
        match s.split_once(':') {
            Some(("merge", keys)) => Some(OutputMode::Merge {
                keys: keys.split(',').map(str::to_string).collect(),
            }),
            None if s == "overwrite" => Some(OutputMode::Overwrite),
            None if s == "append" => Some(OutputMode::Append),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            OutputMode::Overwrite => "overwrite",
            OutputMode::Append => "append",
            OutputMode::Merge { .. } => "merge",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Gate {
    pub name: String,
    pub query: String,
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    pub description: Option<String>,
    /// The SQL file (or feature registry) as written in the manifest.
    pub sql_file: PathBuf,
    pub sql: String,
    /// Set when the SQL was compiled from a feature registry.
    pub features: Option<FeatureRegistry>,
    pub output: String,
    pub mode: OutputMode,
    pub after: Vec<String>,
    pub gates: Vec<Gate>,
}

#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    pub params: Params,
    pub stages: Vec<Stage>,
    /// The triggers the pipeline declares (`weir schedule apply`).
    pub triggers: Vec<crate::schedule::Spec>,
    pub tracking: Tracking,
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_lowercase() || f == '_' || f.is_ascii_uppercase())
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && s.len() <= 128
}

impl Manifest {
    /// Reads and checks a manifest and its SQL files. Every problem names
    /// the file and the stage, gate or parameter at fault.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| JobsError::Manifest {
            file: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Manifest::parse(&text, path, &|sql: &Path| {
            std::fs::read_to_string(dir.join(sql))
        })
    }

    /// A manifest from its text; `read_sql` reads a stage's SQL file named
    /// relative to the manifest (a pipeline built into the binary passes
    /// its own).
    pub fn parse(
        text: &str,
        path: &Path,
        read_sql: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Manifest> {
        let file = path.display().to_string();
        let err = |message: String| JobsError::Manifest {
            file: file.clone(),
            message,
        };
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            err(e
                .to_string()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" "))
        })?;
        if !is_ident(&raw.name.replace('-', "_")) {
            return Err(err(format!(
                "pipeline name {:?}: use letters, digits, '_' and '-'",
                raw.name
            )));
        }
        let mut params = BTreeMap::new();
        for (k, v) in &raw.params {
            if !is_ident(k) {
                return Err(err(format!(
                    "parameter {k:?}: use letters, digits and '_', starting with a letter"
                )));
            }
            params.insert(
                k.clone(),
                Param::from_toml(k, v).map_err(|e| err(e.to_string()))?,
            );
        }
        if raw.stages.is_empty() {
            return Err(err("no stages: add at least one [[stage]]".into()));
        }
        let names: BTreeSet<&str> = raw.stages.iter().map(|s| s.name.as_str()).collect();
        let mut seen = BTreeSet::new();
        let mut outputs: BTreeMap<&str, &str> = BTreeMap::new();
        let mut stages = Vec::new();
        for s in &raw.stages {
            let at = |m: String| err(format!("stage {}: {m}", s.name));
            if !is_ident(&s.name) {
                return Err(err(format!(
                    "stage name {:?}: use letters, digits and '_', starting with a letter",
                    s.name
                )));
            }
            if !seen.insert(s.name.as_str()) {
                return Err(at("two stages have this name".into()));
            }
            weir_tables::validate_table_name(&s.output).map_err(|e| at(e.to_string()))?;
            if let Some(other) = outputs.insert(&s.output, &s.name) {
                return Err(at(format!(
                    "stage {other} writes {} too; each table has one writer",
                    s.output
                )));
            }
            let mode = match (s.mode.as_deref().unwrap_or("overwrite"), s.keys.is_empty()) {
                ("overwrite", true) => OutputMode::Overwrite,
                ("append", true) => OutputMode::Append,
                ("merge", false) => OutputMode::Merge {
                    keys: s.keys.clone(),
                },
                ("merge", true) => {
                    return Err(at("mode merge needs keys = [\"column\", ...]".into()));
                }
                ("overwrite" | "append", false) => {
                    return Err(at("keys apply to mode = \"merge\" only".into()));
                }
                (m, _) => {
                    return Err(at(format!(
                        "unknown mode {m:?}: use overwrite, append or merge"
                    )));
                }
            };
            for a in &s.after {
                if !names.contains(a.as_str()) || a == &s.name {
                    return Err(at(format!("after: no other stage is named {a:?}")));
                }
            }
            let (file, kind) = match (&s.sql, &s.features) {
                (Some(f), None) => (f, "SQL file"),
                (None, Some(f)) => (f, "feature registry"),
                _ => {
                    return Err(at(
                        "give either sql = \"FILE.sql\" or features = \"FILE.yaml\"".into(),
                    ));
                }
            };
            let text = read_sql(file)
                .map_err(|e| at(format!("cannot read {kind} {}: {e}", file.display())))?;
            let (sql, features) = if s.features.is_some() {
                let shown = file.display().to_string();
                let reg = FeatureRegistry::parse(&text, &shown)?;
                (reg.to_sql(&shown), Some(reg))
            } else {
                (text, None)
            };
            let mut gate_names = BTreeSet::new();
            let mut gates = Vec::new();
            for g in &s.gates {
                if !is_ident(&g.name) || !gate_names.insert(g.name.as_str()) {
                    return Err(at(format!(
                        "gate name {:?}: use a unique identifier (letters, digits, '_')",
                        g.name
                    )));
                }
                let query = match (&g.query, &g.sql) {
                    (Some(q), None) => q.clone(),
                    (None, Some(f)) => read_sql(f).map_err(|e| {
                        at(format!(
                            "gate {}: cannot read SQL file {}: {e}",
                            g.name,
                            f.display()
                        ))
                    })?,
                    _ => {
                        return Err(at(format!(
                            "gate {}: give either query = \"SELECT ...\" or sql = \"FILE.sql\"",
                            g.name
                        )));
                    }
                };
                if query.trim().is_empty() {
                    return Err(at(format!("gate {}: the query is empty", g.name)));
                }
                gates.push(Gate {
                    name: g.name.clone(),
                    query,
                });
            }
            stages.push(Stage {
                name: s.name.clone(),
                description: s.description.clone(),
                sql_file: file.clone(),
                sql,
                features,
                output: s.output.clone(),
                mode,
                after: s.after.clone(),
                gates,
            });
        }
        let tracking = match raw.mlflow {
            None => Tracking::default(),
            Some(m) => {
                let sql = |what: &str, f: &Option<PathBuf>| -> Result<Option<String>> {
                    let Some(f) = f else { return Ok(None) };
                    read_sql(f).map(Some).map_err(|e| {
                        err(format!(
                            "[mlflow] {what}: cannot read SQL file {}: {e}",
                            f.display()
                        ))
                    })
                };
                if m.experiment.as_deref().is_some_and(|e| e.trim().is_empty()) {
                    return Err(err(
                        "[mlflow] experiment: give a name, or leave it out for the pipeline's"
                            .into(),
                    ));
                }
                for a in &m.artifacts {
                    if !stages.iter().any(|s| &s.output == a) {
                        return Err(err(format!(
                            "[mlflow] artifacts: no stage writes a table named {a:?}"
                        )));
                    }
                }
                Tracking {
                    track: m.track,
                    experiment: m.experiment,
                    metrics: sql("metrics", &m.metrics)?,
                    children: sql("children", &m.children)?,
                    artifacts: m.artifacts,
                }
            }
        };
        Ok(Manifest {
            name: raw.name,
            description: raw.description,
            path: path.to_path_buf(),
            params: Params(params),
            stages,
            triggers: raw.triggers,
            tracking,
        })
    }
}
