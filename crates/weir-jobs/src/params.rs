//! Pipeline parameters: typed values declared in the manifest, overridden
//! with `--param k=v`, and bound into SQL as literals in the parsed query
//! (never pasted into its text), where the SQL writes `$name`.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use chrono::NaiveDate;
use deltalake::datafusion::sql::sqlparser::ast::{
    self, DataType, Expr, TypedString, Value, visit_expressions_mut,
};

use crate::error::{JobsError, Result};

/// One parameter value; its type is fixed by the manifest's default.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    Date(NaiveDate),
}

impl Param {
    pub fn type_name(&self) -> &'static str {
        match self {
            Param::Int(_) => "integer",
            Param::Float(_) => "float",
            Param::Text(_) => "string",
            Param::Bool(_) => "boolean",
            Param::Date(_) => "date",
        }
    }

    fn expected(&self) -> &'static str {
        match self {
            Param::Int(_) => "an integer",
            Param::Float(_) => "a number",
            Param::Text(_) => "a string",
            Param::Bool(_) => "true or false",
            Param::Date(_) => "a date (YYYY-MM-DD)",
        }
    }

    /// From the manifest's TOML value.
    pub fn from_toml(name: &str, v: &toml::Value) -> Result<Param> {
        Ok(match v {
            toml::Value::Integer(i) => Param::Int(*i),
            toml::Value::Float(f) => Param::Float(*f),
            toml::Value::String(s) => Param::Text(s.clone()),
            toml::Value::Boolean(b) => Param::Bool(*b),
            toml::Value::Datetime(d) => match (d.date, d.time) {
                (Some(date), None) => Param::Date(
                    NaiveDate::from_ymd_opt(date.year as i32, date.month as u32, date.day as u32)
                        .ok_or_else(|| JobsError::Param(format!("parameter {name}: bad date")))?,
                ),
                _ => {
                    return Err(JobsError::Param(format!(
                        "parameter {name}: only dates (YYYY-MM-DD) are supported, not times"
                    )));
                }
            },
            other => {
                return Err(JobsError::Param(format!(
                    "parameter {name}: a {} is not a parameter type (use an integer, float, string, boolean or date)",
                    other.type_str()
                )));
            }
        })
    }

    /// Parses `text` as a value of this parameter's type.
    pub fn parse_like(&self, name: &str, text: &str) -> Result<Param> {
        let bad = || {
            JobsError::Param(format!(
                "--param {name}={text}: {name} must be {}",
                self.expected()
            ))
        };
        Ok(match self {
            Param::Int(_) => Param::Int(text.trim().parse().map_err(|_| bad())?),
            Param::Float(_) => {
                let f: f64 = text.trim().parse().map_err(|_| bad())?;
                if !f.is_finite() {
                    return Err(bad());
                }
                Param::Float(f)
            }
            Param::Text(_) => Param::Text(text.to_string()),
            Param::Bool(_) => Param::Bool(match text.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(bad()),
            }),
            Param::Date(_) => {
                Param::Date(NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| bad())?)
            }
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Param::Int(i) => (*i).into(),
            Param::Float(f) => (*f).into(),
            Param::Text(s) => s.clone().into(),
            Param::Bool(b) => (*b).into(),
            // Tagged, so the type survives a round trip through records.
            Param::Date(d) => serde_json::json!({"date": d.format("%Y-%m-%d").to_string()}),
        }
    }

    /// The inverse of [`Param::to_json`].
    pub fn from_json(name: &str, v: &serde_json::Value) -> Result<Param> {
        use serde_json::Value as V;
        let bad = || {
            JobsError::Param(format!(
                "recorded parameter {name}: {v} is not a parameter value"
            ))
        };
        Ok(match v {
            V::Bool(b) => Param::Bool(*b),
            V::Number(n) if n.is_i64() => Param::Int(n.as_i64().ok_or_else(bad)?),
            V::Number(n) => Param::Float(n.as_f64().ok_or_else(bad)?),
            V::String(s) => Param::Text(s.clone()),
            V::Object(o) => {
                let d = o.get("date").and_then(|d| d.as_str()).ok_or_else(bad)?;
                Param::Date(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        })
    }

    fn to_expr(&self) -> Expr {
        let value = |v: Value| Expr::Value(v.with_empty_span());
        match self {
            Param::Int(i) => value(Value::Number(i.to_string(), false)),
            // `{:?}` keeps a decimal point, so 1.0 stays a float literal.
            Param::Float(f) => value(Value::Number(format!("{f:?}"), false)),
            Param::Text(s) => value(Value::SingleQuotedString(s.clone())),
            Param::Bool(b) => value(Value::Boolean(*b)),
            Param::Date(d) => Expr::TypedString(TypedString {
                data_type: DataType::Date,
                value: Value::SingleQuotedString(d.format("%Y-%m-%d").to_string())
                    .with_empty_span(),
                uses_odbc_syntax: false,
            }),
        }
    }
}

/// The parameters of one run: the manifest's defaults with overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(pub BTreeMap<String, Param>);

impl Params {
    /// Applies `k=v` overrides; every key must be declared in the manifest.
    pub fn with_overrides(&self, overrides: &[(String, String)]) -> Result<Params> {
        let mut out = self.clone();
        for (k, v) in overrides {
            let Some(declared) = self.0.get(k) else {
                let known: Vec<&str> = self.0.keys().map(String::as_str).collect();
                return Err(JobsError::Param(format!(
                    "--param {k}: the pipeline declares no parameter {k} (it has: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            out.0.insert(k.clone(), declared.parse_like(k, v)?);
        }
        Ok(out)
    }

    /// The subset named in `used`.
    pub fn only(&self, used: &std::collections::BTreeSet<String>) -> Params {
        Params(
            self.0
                .iter()
                .filter(|(k, _)| used.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Parameters from their canonical JSON (a run record's `params`).
    pub fn from_json(text: &str) -> Result<Params> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| JobsError::Param(format!("recorded parameters: {e}")))?;
        let o = v
            .as_object()
            .ok_or_else(|| JobsError::Param("recorded parameters are not an object".into()))?;
        Ok(Params(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), Param::from_json(k, v)?)))
                .collect::<Result<_>>()?,
        ))
    }

    /// Canonical JSON (keys sorted): recorded with runs and hashed for skips.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// Replaces every `$name` placeholder in `statement` with its value as a
    /// literal; an undeclared or positional placeholder is an error.
    /// Returns the names it bound.
    pub fn bind(
        &self,
        statement: &mut ast::Statement,
        what: &str,
    ) -> Result<std::collections::BTreeSet<String>> {
        let mut used = std::collections::BTreeSet::new();
        let flow = visit_expressions_mut(statement, |e| {
            if let Expr::Value(v) = e
                && let Value::Placeholder(p) = &v.value
            {
                let name = p.trim_start_matches(['$', ':', '@']);
                match self.0.get(name) {
                    Some(param) => {
                        used.insert(name.to_string());
                        *e = param.to_expr();
                    }
                    None => return ControlFlow::Break(p.clone()),
                }
            }
            ControlFlow::Continue(())
        });
        if let ControlFlow::Break(p) = flow {
            let known: Vec<String> = self.0.keys().map(|k| format!("${k}")).collect();
            return Err(JobsError::Param(format!(
                "{what}: {p} is not a parameter of this pipeline (declared: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        Ok(used)
    }
}

/// Splits `k=v` from the command line.
pub fn parse_assignment(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(JobsError::Param(format!(
            "--param {s:?}: write it as NAME=VALUE"
        ))),
    }
}
