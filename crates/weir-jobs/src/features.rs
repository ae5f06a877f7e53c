//! Feature registries: a YAML file listing the features of each series and
//! period (lags, rolling statistics, calendar parts, events, exogenous
//! columns), compiled to one SQL query so a stage computes them like any
//! other. A stage names it with `features = "features.yaml"` in place of
//! `sql`.
//!
//! ```yaml
//! source: panel          # the table of series: one row per id and period
//! id: unique_id          # defaults: unique_id, ds, y
//! time: ds
//! target: y
//! filter: level = 'item' # optional SQL condition on the source rows
//! features:
//!   - {name: lag_7, kind: lag, periods: 7}
//!   - {name: mean_28, kind: rolling_mean, window: 28}
//!   - {name: dow, kind: calendar, part: dow}
//!   - {name: holiday, kind: event, table: holidays, time: date}
//!   - {name: promo, kind: exogenous, table: demand, column: promo, id: unique_id}
//! ```
//!
//! Lags and rolling windows count rows of the series in time order, and a
//! rolling window ends at the period before the row's own, so no feature
//! sees the value it would be used to predict.

use std::collections::{BTreeMap, BTreeSet};

use deltalake::arrow::datatypes::Schema;
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::error::{JobsError, Result};

/// What one feature computes.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureKind {
    /// The target `periods` rows earlier.
    Lag { periods: u32 },
    /// A statistic of the `window` rows before this one.
    Rolling { stat: RollingStat, window: u32 },
    /// A part of the period's date.
    Calendar { part: CalendarPart },
    /// 1 when `table` has a row on the period's date (for this series when
    /// `id` is given), else 0.
    Event {
        table: String,
        time: String,
        id: Option<String>,
    },
    /// `column` of `table` on the period's date (and series, with `id`);
    /// duplicates are resolved with max.
    Exogenous {
        table: String,
        column: String,
        time: String,
        id: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RollingStat {
    Mean,
    Std,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalendarPart {
    DayOfWeek,
    DayOfMonth,
    DayOfYear,
    Week,
    Month,
    Quarter,
    Year,
    IsWeekend,
}

const KINDS: &str =
    "lag, rolling_mean, rolling_std, rolling_min, rolling_max, calendar, event, exogenous";
const PARTS: &str = "dow, day, doy, week, month, quarter, year, is_weekend";

#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub name: String,
    pub kind: FeatureKind,
}

/// A parsed registry.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRegistry {
    pub source: String,
    pub id: String,
    pub time: String,
    pub target: String,
    pub filter: Option<String>,
    pub features: Vec<Feature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    source: String,
    #[serde(default = "default_id")]
    id: String,
    #[serde(default = "default_time")]
    time: String,
    #[serde(default = "default_target")]
    target: String,
    #[serde(default)]
    filter: Option<String>,
    features: Vec<Value>,
}

fn default_id() -> String {
    "unique_id".into()
}
fn default_time() -> String {
    "ds".into()
}
fn default_target() -> String {
    "y".into()
}

fn ident(s: &str, what: &str) -> std::result::Result<String, String> {
    let mut c = s.chars();
    let ok = c
        .next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && s.len() <= 128;
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{what} {s:?}: use letters, digits and '_', starting with a letter"
        ))
    }
}

/// One entry's fields, taken one by one so that a mistake names the key.
struct Entry<'a> {
    map: &'a Mapping,
    used: BTreeSet<&'static str>,
}

impl<'a> Entry<'a> {
    fn str(&mut self, key: &'static str) -> std::result::Result<Option<String>, String> {
        self.used.insert(key);
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{key} must be a name")),
        }
    }

    fn need_str(&mut self, key: &'static str) -> std::result::Result<String, String> {
        self.str(key)?.ok_or_else(|| format!("needs {key}"))
    }

    fn ident(&mut self, key: &'static str) -> std::result::Result<Option<String>, String> {
        self.str(key)?.map(|s| ident(&s, key)).transpose()
    }

    fn count(&mut self, key: &'static str, min: u64) -> std::result::Result<u32, String> {
        self.used.insert(key);
        match self.map.get(key).and_then(Value::as_u64) {
            Some(n) if n >= min && n <= 100_000 => Ok(n as u32),
            _ => Err(format!("{key} must be a whole number from {min} to 100000")),
        }
    }

    fn unknown_keys(&self) -> std::result::Result<(), String> {
        for k in self.map.keys() {
            let k = k.as_str().unwrap_or("?");
            if !self.used.contains(k) {
                return Err(format!("unknown key {k:?}"));
            }
        }
        Ok(())
    }
}

impl FeatureRegistry {
    /// Parses a registry; every mistake names `file` and the entry.
    pub fn parse(text: &str, file: &str) -> Result<FeatureRegistry> {
        let err = |message: String| JobsError::Manifest {
            file: file.to_string(),
            message,
        };
        let raw: Raw = serde_yaml::from_str(text).map_err(|e| err(e.to_string()))?;
        let top = |s: &str, what: &str| ident(s, what).map_err(err);
        let mut reg = FeatureRegistry {
            source: top(&raw.source, "source")?,
            id: top(&raw.id, "id")?,
            time: top(&raw.time, "time")?,
            target: top(&raw.target, "target")?,
            filter: raw.filter.filter(|f| !f.trim().is_empty()),
            features: Vec::new(),
        };
        if raw.features.is_empty() {
            return Err(err("features: list at least one feature".into()));
        }
        let mut names: BTreeSet<String> = [&reg.id, &reg.time, &reg.target]
            .into_iter()
            .cloned()
            .collect();
        for (i, v) in raw.features.iter().enumerate() {
            let Value::Mapping(map) = v else {
                return Err(err(format!(
                    "feature {}: write it as a map, e.g. {{name: lag_7, kind: lag, periods: 7}}",
                    i + 1
                )));
            };
            let mut e = Entry {
                map,
                used: BTreeSet::new(),
            };
            let label = match e.str("name") {
                Ok(Some(n)) => format!("feature {n:?}"),
                _ => format!("feature {}", i + 1),
            };
            let at = |m: String| err(format!("{label}: {m}"));
            let name = e
                .ident("name")
                .map_err(at)?
                .ok_or_else(|| at("needs name".into()))?;
            if !names.insert(name.clone()) {
                return Err(at(
                    "the name is taken by another feature or the id, time or target column".into(),
                ));
            }
            let kind = e.need_str("kind").map_err(at)?;
            let rolling = |stat| FeatureKind::Rolling { stat, window: 0 };
            let mut kind = match kind.as_str() {
                "lag" => FeatureKind::Lag {
                    periods: e.count("periods", 1).map_err(at)?,
                },
                "rolling_mean" => rolling(RollingStat::Mean),
                "rolling_std" => rolling(RollingStat::Std),
                "rolling_min" => rolling(RollingStat::Min),
                "rolling_max" => rolling(RollingStat::Max),
                "calendar" => FeatureKind::Calendar {
                    part: calendar_part(&e.need_str("part").map_err(at)?).map_err(at)?,
                },
                "event" => FeatureKind::Event {
                    table: e
                        .ident("table")
                        .map_err(at)?
                        .ok_or_else(|| at("needs table".into()))?,
                    time: e.ident("time").map_err(at)?.unwrap_or_else(default_time),
                    id: e.ident("id").map_err(at)?,
                },
                "exogenous" => FeatureKind::Exogenous {
                    table: e
                        .ident("table")
                        .map_err(at)?
                        .ok_or_else(|| at("needs table".into()))?,
                    column: e
                        .ident("column")
                        .map_err(at)?
                        .ok_or_else(|| at("needs column".into()))?,
                    time: e.ident("time").map_err(at)?.unwrap_or_else(default_time),
                    id: e.ident("id").map_err(at)?,
                },
                other => {
                    return Err(at(format!("unknown kind {other:?}; use one of {KINDS}")));
                }
            };
            if let FeatureKind::Rolling { window, stat } = &mut kind {
                let min = if *stat == RollingStat::Std { 2 } else { 1 };
                *window = e.count("window", min).map_err(at)?;
            }
            e.unknown_keys().map_err(at)?;
            reg.features.push(Feature { name, kind });
        }
        Ok(reg)
    }

    /// The columns each table must have, with the entry that needs them.
    pub fn needs(&self) -> BTreeMap<&str, Vec<(&str, String)>> {
        let mut out: BTreeMap<&str, Vec<(&str, String)>> = BTreeMap::new();
        let src = out.entry(self.source.as_str()).or_default();
        src.push((self.id.as_str(), "id".into()));
        src.push((self.time.as_str(), "time".into()));
        src.push((self.target.as_str(), "target".into()));
        for f in &self.features {
            let label = format!("feature {:?}", f.name);
            match &f.kind {
                FeatureKind::Event { table, time, id } => {
                    let t = out.entry(table.as_str()).or_default();
                    t.push((time.as_str(), label.clone()));
                    if let Some(id) = id {
                        t.push((id.as_str(), label));
                    }
                }
                FeatureKind::Exogenous {
                    table,
                    column,
                    time,
                    id,
                } => {
                    let t = out.entry(table.as_str()).or_default();
                    t.push((time.as_str(), label.clone()));
                    t.push((column.as_str(), label.clone()));
                    if let Some(id) = id {
                        t.push((id.as_str(), label));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Checks that `table` (as `schema` describes it) has the columns the
    /// registry uses from it; the error names the entry and the column.
    pub fn check(&self, file: &str, table: &str, schema: &Schema) -> Result<()> {
        let needs = self.needs();
        for (column, entry) in needs.get(table).into_iter().flatten() {
            if schema.field_with_name(column).is_err() {
                let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(JobsError::Manifest {
                    file: file.to_string(),
                    message: format!(
                        "{entry}: table {table} has no column {column:?} (it has {})",
                        have.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// The query: the source's id, time and target, then one column per
    /// feature in the registry's order.
    pub fn to_sql(&self, file: &str) -> String {
        let q = |s: &str| format!("\"{s}\"");
        let (id, time, target) = (q(&self.id), q(&self.time), q(&self.target));
        let over = format!("PARTITION BY s.{id} ORDER BY s.{time}");
        let mut cols = vec![
            format!("s.{id}"),
            format!("s.{time}"),
            format!("s.{target}"),
        ];
        let mut joins = Vec::new();
        for (i, f) in self.features.iter().enumerate() {
            let name = q(&f.name);
            let alias = format!("f{i}");
            let expr = match &f.kind {
                FeatureKind::Lag { periods } => {
                    format!("lag(s.{target}, {periods}) OVER ({over})")
                }
                FeatureKind::Rolling { stat, window } => {
                    let func = match stat {
                        RollingStat::Mean => "avg",
                        RollingStat::Std => "var_samp",
                        RollingStat::Min => "min",
                        RollingStat::Max => "max",
                    };
                    let w = format!(
                        "{func}(CAST(s.{target} AS DOUBLE)) OVER ({over} ROWS BETWEEN {window} PRECEDING AND 1 PRECEDING)"
                    );
                    if *stat == RollingStat::Std {
                        // A sliding variance is updated by removing the
                        // value that leaves the window; round-off can take
                        // it just below zero on a constant stretch (a run
                        // of zero sales), where stddev would be NaN.
                        format!("sqrt(CASE WHEN {w} < 0 THEN 0.0 ELSE {w} END)")
                    } else {
                        w
                    }
                }
                FeatureKind::Calendar { part } => calendar_sql(*part, &format!("s.{time}")),
                FeatureKind::Event {
                    table,
                    time: t,
                    id: key,
                } => {
                    let (sel, on) = join_keys(key.as_deref(), &id, &alias);
                    joins.push(format!(
                        "LEFT JOIN (SELECT DISTINCT CAST({} AS DATE) AS t{sel} FROM {}) {alias} ON {alias}.t = CAST(s.{time} AS DATE){on}",
                        q(t),
                        q(table)
                    ));
                    format!("CASE WHEN {alias}.t IS NULL THEN 0 ELSE 1 END")
                }
                FeatureKind::Exogenous {
                    table,
                    column,
                    time: t,
                    id: key,
                } => {
                    let (sel, on) = join_keys(key.as_deref(), &id, &alias);
                    let group = if key.is_some() { "1, 2" } else { "1" };
                    joins.push(format!(
                        "LEFT JOIN (SELECT CAST({} AS DATE) AS t{sel}, max({}) AS v FROM {} GROUP BY {group}) {alias} ON {alias}.t = CAST(s.{time} AS DATE){on}",
                        q(t),
                        q(column),
                        q(table)
                    ));
                    format!("{alias}.v")
                }
            };
            cols.push(format!("{expr} AS {name}"));
        }
        let filter = self
            .filter
            .as_deref()
            .map(|f| format!(" WHERE {f}"))
            .unwrap_or_default();
        format!(
            "-- Compiled by weir from {file}.\nSELECT {}\nFROM (SELECT * FROM {}{filter}) s\n{}",
            cols.join(",\n       "),
            q(&self.source),
            joins.join("\n")
        )
    }
}

/// The extra select list and join condition when an event or regressor
/// is per series.
fn join_keys(key: Option<&str>, id: &str, alias: &str) -> (String, String) {
    match key {
        Some(k) => (
            format!(", \"{k}\" AS k"),
            format!(" AND {alias}.k = s.{id}"),
        ),
        None => (String::new(), String::new()),
    }
}

fn calendar_part(s: &str) -> std::result::Result<CalendarPart, String> {
    Ok(match s {
        "dow" => CalendarPart::DayOfWeek,
        "day" => CalendarPart::DayOfMonth,
        "doy" => CalendarPart::DayOfYear,
        "week" => CalendarPart::Week,
        "month" => CalendarPart::Month,
        "quarter" => CalendarPart::Quarter,
        "year" => CalendarPart::Year,
        "is_weekend" => CalendarPart::IsWeekend,
        other => {
            return Err(format!(
                "unknown calendar part {other:?}; use one of {PARTS}"
            ));
        }
    })
}

fn calendar_sql(part: CalendarPart, col: &str) -> String {
    let p = match part {
        CalendarPart::DayOfWeek => "dow",
        CalendarPart::DayOfMonth => "day",
        CalendarPart::DayOfYear => "doy",
        CalendarPart::Week => "week",
        CalendarPart::Month => "month",
        CalendarPart::Quarter => "quarter",
        CalendarPart::Year => "year",
        // Sunday is 0 and Saturday 6.
        CalendarPart::IsWeekend => {
            return format!("CAST(date_part('dow', {col}) IN (0, 6) AS INT)");
        }
    };
    format!("CAST(date_part('{p}', {col}) AS INT)")
}
