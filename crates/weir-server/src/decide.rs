//! Decisions: `POST /recommend_qty` (how much to order) and `POST /voi`
//! (what better information is worth), from an explicit demand
//! distribution or from the reconciled forecast at a ref. Every answer
//! names the commit whose forecast it used, so an order can be traced to
//! the exact data and run that produced it (`weir lineage` on that commit).
//!
//! Forecast tables are read once per commit and kept: a commit never
//! changes, so the cache needs no invalidation, only a bound.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::post;
use deltalake::arrow::array::{Array, ArrayRef, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Float64Type};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use weir_forecast::decision::{
    Newsvendor, newsvendor_discrete, newsvendor_normal, newsvendor_quantiles,
};

use crate::authz::{Principal, Resource};
use crate::error::{Result, ServerError};
use crate::lakefs::repo;
use crate::{AppState, Caller};

type St = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/recommend_qty", post(recommend))
        .route("/voi", post(voi))
}

/// A 95 % interval is mean ± 1.96 sd.
const Z95: f64 = 1.959_963_984_540_054;
/// Forecast tables kept in memory (each one commit of one table).
const CACHED_TABLES: usize = 16;

/// One period of one series: mean and standard deviation of demand.
type Periods = Vec<(String, f64, f64)>;
type Table = HashMap<String, Periods>;
/// Repository, commit, table.
type TableKey = (String, String, String);
/// A table read once, by whichever request asks first.
type Loading = tokio::sync::OnceCell<Arc<Table>>;

#[derive(Default)]
pub(crate) struct ForecastCache {
    tables: Mutex<VecDeque<(TableKey, Arc<Loading>)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Distribution {
    mean: Option<f64>,
    sd: Option<f64>,
    support: Option<Vec<f64>>,
    pmf: Option<Vec<f64>>,
    levels: Option<Vec<f64>>,
    values: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    under_cost: f64,
    over_cost: f64,
    distribution: Option<Distribution>,
    repo: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
    /// The forecast table (default `reconciled`: columns unique_id, ds,
    /// mean, lo, hi with a 95 % interval).
    table: Option<String>,
    series: Option<String>,
    /// The period (default: the first forecast period).
    ds: Option<String>,
    /// Order for this many periods from `ds` (demand summed, errors
    /// taken as independent).
    periods: Option<usize>,
    /// `/voi`: the fraction by which a better forecast would cut the sd.
    improvement: Option<f64>,
}

/// Where the distribution came from: the caller, or a forecast at a commit.
enum Source<'a> {
    Given {
        distribution: &'static str,
    },
    Forecast {
        repo: &'a str,
        reference: String,
        commit: String,
        table: String,
        series: &'a str,
        ds: String,
        periods: usize,
    },
}

/// What a decision rests on.
struct Basis<'a> {
    mean: Option<f64>,
    sd: Option<f64>,
    source: Source<'a>,
    result: Option<Newsvendor>,
    quantity_only: Option<f64>,
}

struct Recommendation<'a> {
    quantity: f64,
    expected_cost: Option<f64>,
    service_level: f64,
    mean: Option<f64>,
    sd: Option<f64>,
    forecast: Source<'a>,
}

struct Improved {
    improvement: f64,
    expected_cost: f64,
    value: f64,
    quantity: f64,
}

struct Voi<'a> {
    evpi: f64,
    expected_cost: f64,
    quantity: f64,
    improved: Option<Improved>,
    mean: Option<f64>,
    sd: Option<f64>,
    forecast: Source<'a>,
}

fn bad(m: impl Into<String>) -> ServerError {
    ServerError::InvalidArgument(m.into())
}

/// The JSON body, parsed straight from its bytes. axum's `Json` parses
/// through serde_path_to_error, which tracks the path of every field it
/// reads: profiled under load that was a tenth of a decision's time, for
/// a body of a few top-level fields whose errors serde_json names anyway.
fn parse<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T> {
    if !crate::declares_json(headers) {
        return Err(ServerError::UnsupportedMediaType(
            "send the body as JSON, with Content-Type: application/json".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| bad(format!("the request body: {e}")))
}

/// An answer's JSON, written field by field. Through serde_json these few
/// fields cost more than the decision they report (a write call per
/// fragment and a table lookup per byte of every string: about a tenth of
/// a request's instructions under callgrind); here a fragment is one copy
/// and a string needs escaping only when it has a quote, a backslash or a
/// control character.
struct Out(Vec<u8>);

impl Out {
    fn new() -> Out {
        let mut b = Vec::with_capacity(512);
        b.push(b'{');
        Out(b)
    }

    fn key(&mut self, k: &str) {
        if self.0.last() != Some(&b'{') {
            self.0.push(b',');
        }
        self.0.push(b'"');
        self.0.extend_from_slice(k.as_bytes());
        self.0.extend_from_slice(b"\":");
    }

    /// A number; JSON has none for NaN or infinity, so those are null.
    fn num(&mut self, k: &str, v: Option<f64>) {
        self.key(k);
        match v {
            Some(v) if v.is_finite() => self
                .0
                .extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes()),
            _ => self.0.extend_from_slice(b"null"),
        }
    }

    fn int(&mut self, k: &str, v: usize) {
        self.key(k);
        let _ = write!(self.0, "{v}");
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        // A fold without an early exit, so that it runs on whole vectors.
        let escape = v
            .bytes()
            .fold(false, |e, b| e | (b < 0x20) | (b == b'"') | (b == b'\\'));
        if !escape {
            self.0.push(b'"');
            self.0.extend_from_slice(v.as_bytes());
            self.0.push(b'"');
        } else {
            let _ = serde_json::to_writer(&mut self.0, v);
        }
    }

    fn open(&mut self, k: &str) {
        self.key(k);
        self.0.push(b'{');
    }

    fn close(&mut self) {
        self.0.push(b'}');
    }

    fn source(&mut self, s: &Source) {
        self.open("forecast");
        match s {
            Source::Given { distribution } => self.str("distribution", distribution),
            Source::Forecast {
                repo,
                reference,
                commit,
                table,
                series,
                ds,
                periods,
            } => {
                self.str("repo", repo);
                self.str("ref", reference);
                self.str("commit", commit);
                self.str("table", table);
                self.str("series", series);
                self.str("ds", ds);
                self.int("periods", *periods);
            }
        }
        self.close();
    }

    fn respond(mut self) -> Response {
        self.close();
        // One header, set once: a byte vector's own response would be
        // typed octet-stream first and then retyped.
        let mut r = Response::new(axum::body::Body::from(self.0));
        let json = HeaderValue::from_static("application/json");
        r.headers_mut().insert(header::CONTENT_TYPE, json);
        r
    }
}

impl Recommendation<'_> {
    fn answer(&self) -> Response {
        let mut o = Out::new();
        o.num("quantity", Some(self.quantity));
        o.num("expected_cost", self.expected_cost);
        o.num("service_level", Some(self.service_level));
        o.num("mean", self.mean);
        o.num("sd", self.sd);
        o.source(&self.forecast);
        o.respond()
    }
}

impl Voi<'_> {
    fn answer(&self) -> Response {
        let mut o = Out::new();
        o.num("evpi", Some(self.evpi));
        o.num("expected_cost", Some(self.expected_cost));
        o.num("quantity", Some(self.quantity));
        match &self.improved {
            Some(i) => {
                o.open("improved");
                o.num("improvement", Some(i.improvement));
                o.num("expected_cost", Some(i.expected_cost));
                o.num("value", Some(i.value));
                o.num("quantity", Some(i.quantity));
                o.close();
            }
            None => {
                o.key("improved");
                o.0.extend_from_slice(b"null");
            }
        }
        o.num("mean", self.mean);
        o.num("sd", self.sd);
        o.source(&self.forecast);
        o.respond()
    }
}

async fn load_table(s: &AppState, repo: &str, commit: &str, table: &str) -> Result<Arc<Table>> {
    weir_tables::validate_table_name(table).map_err(|e| bad(e.to_string()))?;
    let cell = {
        let mut cache = s.forecasts.tables.lock().unwrap();
        match cache
            .iter()
            .find(|(k, _)| k.0 == repo && k.1 == commit && k.2 == table)
        {
            Some((_, cell)) => cell.clone(),
            None => {
                if cache.len() == CACHED_TABLES {
                    cache.pop_front();
                }
                let cell = Arc::new(Loading::new());
                let key = (repo.to_string(), commit.to_string(), table.to_string());
                cache.push_back((key, cell.clone()));
                cell
            }
        }
    };
    // Requests for a table not yet read wait for one reading of it, not
    // one each (a burst at start-up would otherwise run the query once per
    // connection). The reading is boxed: a SQL query's future is kilobytes,
    // and unboxed it would be copied with every decision's future.
    let read = cell
        .get_or_try_init(|| Box::pin(read_table(s, repo, commit, table)))
        .await
        .cloned();
    if read.is_err() {
        // A table that could not be read (no such table, not a forecast)
        // must not hold a slot and push out tables that can.
        let mut cache = s.forecasts.tables.lock().unwrap();
        cache.retain(|(_, c)| !(Arc::ptr_eq(c, &cell) && c.get().is_none()));
    }
    read
}

async fn read_table(s: &AppState, repo: &str, commit: &str, table: &str) -> Result<Arc<Table>> {
    let session = weir_sql::read_only_session(s.lake.clone(), &Default::default())?;
    let q = format!(
        "SELECT CAST(unique_id AS VARCHAR) AS id, CAST(ds AS VARCHAR) AS ds, \
         CAST(mean AS DOUBLE) AS mean, CAST((hi - lo) / {} AS DOUBLE) AS sd \
         FROM \"{repo}\".\"{commit}\".\"{table}\" ORDER BY id, ds",
        2.0 * Z95
    );
    let batches = session
        .query(&q)
        .await
        .map_err(|e| bad(format!("{repo}/{table} at {commit} is not a forecast table with unique_id, ds, mean, lo, hi: {e}")))?
        .collect()
        .await
        .map_err(weir_sql::SqlError::DataFusion)?;
    let mut t: Table = HashMap::new();
    let utf8 = |a: &ArrayRef| -> Result<ArrayRef> {
        cast(a, &DataType::Utf8)
            .map_err(|e| ServerError::Other(weir_core::ErrorCode::Internal, e.to_string()))
    };
    for b in &batches {
        // The query's casts fix the types; VARCHAR may come as a string view.
        let (id, ds) = (utf8(b.column(0))?, utf8(b.column(1))?);
        let (id, ds) = (id.as_string::<i32>(), ds.as_string::<i32>());
        let mean = b.column(2).as_primitive::<Float64Type>();
        let sd = b.column(3).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            if id.is_null(i) || ds.is_null(i) || mean.is_null(i) {
                continue;
            }
            let sd = if sd.is_null(i) {
                0.0
            } else {
                sd.value(i).max(0.0)
            };
            t.entry(id.value(i).to_string()).or_default().push((
                ds.value(i).to_string(),
                mean.value(i),
                sd,
            ));
        }
    }
    Ok(Arc::new(t))
}

async fn basis<'a>(s: &AppState, who: &Principal, a: &'a Ask) -> Result<Basis<'a>> {
    if let Some(d) = &a.distribution {
        who.require("decide:Invoke", &Resource::AnyRepo)?;
        if a.series.is_some() || a.repo.is_some() {
            return Err(bad("give either a distribution or repo + series, not both"));
        }
        return Ok(
            match (d.mean, d.sd, &d.support, &d.pmf, &d.levels, &d.values) {
                (Some(m), sd, None, None, None, None) => {
                    let sd = sd.unwrap_or(0.0);
                    Basis {
                        mean: Some(m),
                        sd: Some(sd),
                        source: Source::Given {
                            distribution: "normal",
                        },
                        result: Some(newsvendor_normal(m, sd, a.under_cost, a.over_cost)?),
                        quantity_only: None,
                    }
                }
                (None, None, Some(x), Some(p), None, None) => Basis {
                    mean: None,
                    sd: None,
                    source: Source::Given {
                        distribution: "discrete",
                    },
                    result: Some(newsvendor_discrete(x, p, a.under_cost, a.over_cost)?),
                    quantity_only: None,
                },
                (None, None, None, None, Some(l), Some(v)) => Basis {
                    mean: None,
                    sd: None,
                    source: Source::Given {
                        distribution: "quantiles",
                    },
                    result: None,
                    quantity_only: Some(newsvendor_quantiles(l, v, a.under_cost, a.over_cost)?),
                },
                _ => {
                    return Err(bad(
                        "distribution: give mean (and sd), or support and pmf, or levels and values",
                    ));
                }
            },
        );
    }
    let (Some(name), Some(series)) = (&a.repo, &a.series) else {
        return Err(bad(
            "give a distribution, or repo and series to use the forecast",
        ));
    };
    who.require("decide:Invoke", &Resource::repo(name))?;
    let r = repo(s, name, &Caller(who.user.clone()))?;
    let reference = a
        .reference
        .clone()
        .unwrap_or_else(|| r.record().default_branch.clone());
    // The forecast is read at that ref: reading it is the permission.
    who.require("fs:ReadObject", &Resource::branch(name, &reference))?;
    let commit = r.resolve_id(&reference)?;
    let table = a.table.clone().unwrap_or_else(|| "reconciled".into());
    let t = load_table(s, name, &commit, &table).await?;
    let periods = t.get(series).ok_or_else(|| {
        ServerError::NotFound(format!(
            "no series {series:?} in {name}/{table} at {reference}"
        ))
    })?;
    let start = match &a.ds {
        Some(ds) => periods
            .iter()
            .position(|p| p.0.starts_with(ds.as_str()))
            .ok_or_else(|| ServerError::NotFound(format!("{series} has no forecast for {ds}")))?,
        None => 0,
    };
    let n = a.periods.unwrap_or(1);
    if n == 0 || n > periods.len() - start {
        return Err(bad(format!(
            "periods: {n} from {} runs past the forecast's {} periods",
            periods[start].0,
            periods.len()
        )));
    }
    let span = &periods[start..start + n];
    let mean: f64 = span.iter().map(|p| p.1).sum();
    let sd = span.iter().map(|p| p.2 * p.2).sum::<f64>().sqrt();
    Ok(Basis {
        mean: Some(mean),
        sd: Some(sd),
        source: Source::Forecast {
            repo: name,
            reference,
            commit,
            table,
            series,
            ds: span[0].0.clone(),
            periods: n,
        },
        result: Some(newsvendor_normal(mean, sd, a.under_cost, a.over_cost)?),
        quantity_only: None,
    })
}

async fn recommend(
    State(s): St,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let a: Ask = parse(&headers, &body)?;
    if a.improvement.is_some() {
        return Err(bad("improvement belongs to /voi"));
    }
    let b = basis(&s, &who, &a).await?;
    let service_level = a.under_cost / (a.under_cost + a.over_cost);
    let (quantity, cost) = match (&b.result, b.quantity_only) {
        (Some(r), _) => (r.quantity, Some(r.expected_cost)),
        (None, Some(q)) => (q, None),
        (None, None) => unreachable!("a basis has a result"),
    };
    Ok(Recommendation {
        // Demand is not negative: a normal quantile below zero orders nothing.
        quantity: quantity.max(0.0),
        expected_cost: cost,
        service_level,
        mean: b.mean,
        sd: b.sd,
        forecast: b.source,
    }
    .answer())
}

async fn voi(
    State(s): St,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let a: Ask = parse(&headers, &body)?;
    if let Some(f) = a.improvement
        && !(0.0..=1.0).contains(&f)
    {
        return Err(bad("improvement is a fraction of the sd between 0 and 1"));
    }
    let b = basis(&s, &who, &a).await?;
    let Some(r) = b.result else {
        return Err(bad(
            "the value of information needs a full distribution, not quantiles",
        ));
    };
    let improved = match (a.improvement, b.mean, b.sd) {
        (Some(f), Some(m), Some(sd)) => {
            let better = newsvendor_normal(m, sd * (1.0 - f), a.under_cost, a.over_cost)?;
            Some(Improved {
                improvement: f,
                expected_cost: better.expected_cost,
                value: r.expected_cost - better.expected_cost,
                quantity: better.quantity.max(0.0),
            })
        }
        (Some(_), _, _) => {
            return Err(bad("improvement needs a normal distribution (mean and sd)"));
        }
        _ => None,
    };
    Ok(Voi {
        // With perfect information the order equals demand: no cost.
        evpi: r.evpi,
        expected_cost: r.expected_cost,
        quantity: r.quantity.max(0.0),
        improved,
        mean: b.mean,
        sd: b.sd,
        forecast: b.source,
    }
    .answer())
}
