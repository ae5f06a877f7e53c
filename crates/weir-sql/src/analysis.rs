//! Table functions over whole tables, each input a table name (any ref:
//! `'demand."v1.0".sales'`) or a query (`'SELECT ...'`):
//!
//! - `drift_report(reference, current [, method [, threshold]])`: one row
//!   per column present in both, as Evidently's `ColumnDataDriftMetrics`;
//! - `reconcile(forecasts, hierarchy, method [, residuals [, level
//!   [, bias_threshold]]])`: coherent forecasts across a hierarchy, with
//!   each aggregate's anchor bias.
//!
//! Both read their inputs when the query is planned, like the history
//! functions, and return the result as an in-memory table.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, StringArray, UInt64Array,
};
use deltalake::arrow::compute::{cast, concat_batches};
use deltalake::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::{
    Session, TableFunctionArgs, TableFunctionImpl, TableProvider,
};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::execution::SessionState;
use deltalake::datafusion::logical_expr::Expr;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::scalar::ScalarValue;
use weir_forecast::drift::{self, StatTest};
use weir_forecast::hierarchy::{self, Hierarchy, Method};

use crate::block_on;

pub fn register(ctx: &SessionContext) {
    ctx.register_udtf("drift_report", Arc::new(DriftReport));
    ctx.register_udtf("reconcile", Arc::new(Reconcile));
}

fn plan(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(msg.into())
}

/// Constant arguments: strings, or numbers where a number is expected.
fn args(name: &str, usage: &str, exprs: &[Expr], lo: usize, hi: usize) -> Result<Vec<ScalarValue>> {
    if exprs.len() < lo || exprs.len() > hi {
        return Err(plan(format!(
            "{name} takes {lo} to {hi} arguments; usage: {usage}"
        )));
    }
    exprs
        .iter()
        .map(|e| match e {
            Expr::Literal(v, _) => Ok(v.clone()),
            other => Err(plan(format!(
                "{name}: arguments must be constants, got {other}; usage: {usage}"
            ))),
        })
        .collect()
}

fn text(name: &str, v: &ScalarValue) -> Result<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Ok(s.clone()),
        other => Err(plan(format!("{name}: expected a string, got {other}"))),
    }
}

fn number(name: &str, v: &ScalarValue) -> Result<f64> {
    match v.cast_to(&DataType::Float64) {
        Ok(ScalarValue::Float64(Some(x))) if x.is_finite() => Ok(x),
        _ => Err(plan(format!("{name}: expected a number, got {v}"))),
    }
}

/// Runs `source` (a table name or a query) in the calling session.
fn read(session: &dyn Session, function: &str, source: &str) -> Result<RecordBatch> {
    let state = session
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| plan(format!("{function}: needs a weir SQL session")))?;
    let ctx = SessionContext::new_with_state(state.clone());
    let head = source.trim_start().to_ascii_lowercase();
    let sql = if head.starts_with("select") || head.starts_with("with") || head.starts_with('(') {
        source.to_string()
    } else {
        format!("SELECT * FROM {source}")
    };
    // A table function's input is read, never run as a statement: the same
    // check as a read-only session's, in every session.
    let batches = block_on(async {
        let df = ctx.sql_with_options(&sql, crate::query_only()).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        Ok::<_, DataFusionError>((schema, df.collect().await?))
    })
    .map_err(|e| plan(format!("{function}: reading '{source}': {e}")))?;
    Ok(concat_batches(&batches.0, &batches.1)?)
}

fn column<'a>(
    batch: &'a RecordBatch,
    function: &str,
    what: &str,
    name: &str,
) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        let have: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        plan(format!(
            "{function}: the {what} input needs a '{name}' column (it has {})",
            have.join(", ")
        ))
    })
}

fn strings(a: &ArrayRef) -> Result<Vec<Option<String>>> {
    let s = cast(a, &DataType::Utf8)?;
    Ok(s.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn floats(a: &ArrayRef) -> Result<Vec<Option<f64>>> {
    let f = cast(a, &DataType::Float64)?;
    Ok(f.as_primitive::<Float64Type>().iter().collect())
}

fn table(schema: Schema, cols: Vec<ArrayRef>) -> Result<Arc<dyn TableProvider>> {
    let schema = Arc::new(schema);
    let batch = RecordBatch::try_new(schema.clone(), cols)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

#[derive(Debug)]
struct DriftReport;

/// (column, kind, result, reference rows, current rows)
type ColumnDrift = (String, &'static str, drift::DriftResult, usize, usize);

const DRIFT_USAGE: &str = "drift_report(reference, current [, method [, threshold]])";

impl TableFunctionImpl for DriftReport {
    fn call_with_args(&self, a: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let v = args("drift_report", DRIFT_USAGE, a.exprs(), 2, 4)?;
        let method = match v.get(2).map(|m| text("drift_report", m)).transpose()? {
            None => None,
            Some(m) if m.eq_ignore_ascii_case("auto") => None,
            Some(m) => Some(StatTest::parse(&m).map_err(|e| plan(format!("drift_report: {e}")))?),
        };
        let threshold = v.get(3).map(|t| number("drift_report", t)).transpose()?;
        let reference = read(a.session(), "drift_report", &text("drift_report", &v[0])?)?;
        let current = read(a.session(), "drift_report", &text("drift_report", &v[1])?)?;
        let mut out: Vec<ColumnDrift> = Vec::new();
        for f in reference.schema().fields() {
            let (Some(r), Some(c)) = (
                reference.column_by_name(f.name()),
                current.column_by_name(f.name()),
            ) else {
                continue;
            };
            let t = f.data_type();
            let result = if t.is_numeric() {
                let (r, c): (Vec<f64>, Vec<f64>) = (
                    floats(r)?
                        .into_iter()
                        .flatten()
                        .filter(|x| !x.is_nan())
                        .collect(),
                    floats(c)?
                        .into_iter()
                        .flatten()
                        .filter(|x| !x.is_nan())
                        .collect(),
                );
                (
                    r.len(),
                    c.len(),
                    "num",
                    drift::drift_numerical(&r, &c, method, threshold),
                )
            } else if matches!(
                t,
                DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Boolean
                    | DataType::Dictionary(..)
            ) {
                let (r, c): (Vec<String>, Vec<String>) = (
                    strings(r)?.into_iter().flatten().collect(),
                    strings(c)?.into_iter().flatten().collect(),
                );
                (
                    r.len(),
                    c.len(),
                    "cat",
                    drift::drift_categorical(&r, &c, method, threshold),
                )
            } else {
                // Dates, timestamps and nested values are not drift-tested,
                // as in Evidently.
                continue;
            };
            let (nr, nc, kind, res) = result;
            match res {
                Ok(res) => out.push((f.name().clone(), kind, res, nr, nc)),
                Err(e) if nr == 0 || nc == 0 => {
                    tracing::debug!("drift_report: skipping {}: {e}", f.name());
                }
                Err(e) => return Err(plan(format!("drift_report: column '{}': {e}", f.name()))),
            }
        }
        let schema = Schema::new(vec![
            Field::new("column_name", DataType::Utf8, false),
            Field::new("column_type", DataType::Utf8, false),
            Field::new("stattest", DataType::Utf8, false),
            Field::new("stattest_name", DataType::Utf8, false),
            Field::new("stattest_threshold", DataType::Float64, false),
            Field::new("drift_score", DataType::Float64, true),
            Field::new("drift_detected", DataType::Boolean, false),
            Field::new("reference_rows", DataType::UInt64, false),
            Field::new("current_rows", DataType::UInt64, false),
        ]);
        let col_s = |f: &dyn Fn(&ColumnDrift) -> String| -> ArrayRef {
            Arc::new(StringArray::from(out.iter().map(f).collect::<Vec<_>>()))
        };
        let cols: Vec<ArrayRef> = vec![
            col_s(&|r| r.0.clone()),
            col_s(&|r| r.1.to_string()),
            col_s(&|r| r.2.stattest.name().to_string()),
            col_s(&|r| r.2.stattest.display_name().to_string()),
            Arc::new(Float64Array::from(
                out.iter()
                    .map(|r| r.2.stattest_threshold)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                out.iter()
                    .map(|r| r.2.drift_score.is_finite().then_some(r.2.drift_score))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(BooleanArray::from(
                out.iter().map(|r| r.2.drift_detected).collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(
                out.iter().map(|r| r.3 as u64).collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(
                out.iter().map(|r| r.4 as u64).collect::<Vec<_>>(),
            )),
        ];
        table(schema, cols)
    }
}

#[derive(Debug)]
struct Reconcile;

const RECONCILE_USAGE: &str = "reconcile(forecasts, hierarchy, method [, residuals [, level [, bias_threshold]]]) with forecasts(unique_id, ds, mean [, lo, hi]), hierarchy(unique_id, parent), residuals(unique_id, ds, residual)";

/// Rows of one (unique_id, ds, values...) input, keyed by node then ds text.
type Keyed = HashMap<String, BTreeMap<String, Vec<Option<f64>>>>;

fn keyed(
    batch: &RecordBatch,
    function: &str,
    what: &str,
    value_cols: &[&str],
) -> Result<(Keyed, HashMap<String, ScalarValue>)> {
    let ids = strings(column(batch, function, what, "unique_id")?)?;
    let ds_col = column(batch, function, what, "ds")?;
    let ds = strings(ds_col)?;
    let values: Vec<Vec<Option<f64>>> = value_cols
        .iter()
        .map(|c| floats(column(batch, function, what, c)?))
        .collect::<Result<_>>()?;
    let mut out: Keyed = HashMap::new();
    let mut ds_values = HashMap::new();
    for row in 0..batch.num_rows() {
        let (Some(id), Some(d)) = (&ids[row], &ds[row]) else {
            return Err(plan(format!(
                "{function}: the {what} input has a NULL unique_id or ds"
            )));
        };
        let vals = values.iter().map(|v| v[row]).collect();
        if out
            .entry(id.clone())
            .or_default()
            .insert(d.clone(), vals)
            .is_some()
        {
            return Err(plan(format!(
                "{function}: the {what} input has two rows for ({id}, {d})"
            )));
        }
        ds_values.entry(d.clone()).or_insert_with(|| {
            ScalarValue::try_from_array(ds_col, row).unwrap_or(ScalarValue::Null)
        });
    }
    Ok((out, ds_values))
}

impl TableFunctionImpl for Reconcile {
    fn call_with_args(&self, a: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const F: &str = "reconcile";
        let v = args(F, RECONCILE_USAGE, a.exprs(), 3, 6)?;
        let method = Method::parse(&text(F, &v[2])?).map_err(|e| plan(format!("{F}: {e}")))?;
        let level = v.get(4).map(|l| number(F, l)).transpose()?.unwrap_or(95.0);
        if !(level > 0.0 && level < 100.0) {
            return Err(plan(format!(
                "{F}: level must be between 0 and 100, got {level}"
            )));
        }
        let bias_threshold = v.get(5).map(|t| number(F, t)).transpose()?.unwrap_or(0.05);

        let edges_batch = read(a.session(), F, &text(F, &v[1])?)?;
        let child = strings(column(&edges_batch, F, "hierarchy", "unique_id")?)?;
        let parent = strings(column(&edges_batch, F, "hierarchy", "parent")?)?;
        let edges: Vec<(String, String)> = child
            .into_iter()
            .zip(parent)
            .filter_map(|(c, p)| Some((c?, p?)))
            .collect();
        let h = Hierarchy::from_edges(&edges).map_err(|e| plan(format!("{F}: {e}")))?;

        let fc = read(a.session(), F, &text(F, &v[0])?)?;
        let with_bounds = fc.column_by_name("lo").is_some() && fc.column_by_name("hi").is_some();
        let cols: &[&str] = if with_bounds {
            &["mean", "lo", "hi"]
        } else {
            &["mean"]
        };
        let (fc, ds_values) = keyed(&fc, F, "forecasts", cols)?;
        if let Some(extra) = fc.keys().find(|k| h.index(k).is_none()) {
            return Err(plan(format!(
                "{F}: forecasts has '{extra}', which the hierarchy does not name"
            )));
        }
        let steps: Vec<String> = {
            let mut all: Vec<&String> = fc.values().flat_map(|m| m.keys()).collect();
            all.sort_by(|x, y| {
                ds_values[*x]
                    .partial_cmp(&ds_values[*y])
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            all.dedup();
            all.into_iter().cloned().collect()
        };
        let z = weir_forecast::math::z_for_level(level);
        let mut base = Vec::with_capacity(h.len());
        let mut sd = Vec::with_capacity(h.len());
        for name in &h.names {
            let rows = fc
                .get(name)
                .ok_or_else(|| plan(format!("{F}: no forecasts for node '{name}'")))?;
            let mut m = Vec::with_capacity(steps.len());
            let mut s = Vec::with_capacity(steps.len());
            for d in &steps {
                let r = rows
                    .get(d)
                    .ok_or_else(|| plan(format!("{F}: node '{name}' has no forecast for {d}")))?;
                m.push(
                    r[0].ok_or_else(|| plan(format!("{F}: node '{name}' has a NULL mean at {d}")))?,
                );
                if with_bounds {
                    s.push(match (r[1], r[2]) {
                        (Some(lo), Some(hi)) => (hi - lo) / (2.0 * z),
                        _ => f64::NAN,
                    });
                }
            }
            base.push(m);
            sd.push(s);
        }
        let residuals = match v.get(3).map(|r| text(F, r)).transpose()? {
            Some(src) if !src.is_empty() => {
                Some(aligned_residuals(&read(a.session(), F, &src)?, &h)?)
            }
            _ => None,
        };
        let has_sd = with_bounds && sd.iter().flatten().all(|s| s.is_finite());
        let rec = hierarchy::reconcile(
            &h,
            &base,
            method,
            residuals.as_deref(),
            has_sd.then_some(sd.as_slice()),
        )
        .map_err(|e| plan(format!("{F}: {e}")))?;
        let bias = hierarchy::anchor_bias(&h, &base, &rec, bias_threshold);
        output(&h, &steps, &ds_values, &base, &rec, &bias, z, method)
    }
}

/// Residual rows pivoted to one row per node over the ds every node has.
fn aligned_residuals(batch: &RecordBatch, h: &Hierarchy) -> Result<Vec<Vec<f64>>> {
    let (res, _) = keyed(batch, "reconcile", "residuals", &["residual"])?;
    let mut common: Option<Vec<String>> = None;
    for name in &h.names {
        let rows = res
            .get(name)
            .ok_or_else(|| plan(format!("reconcile: no residuals for node '{name}'")))?;
        let present: Vec<String> = rows
            .iter()
            .filter(|(_, v)| v[0].is_some_and(f64::is_finite))
            .map(|(d, _)| d.clone())
            .collect();
        common = Some(match common {
            None => present,
            Some(c) => c.into_iter().filter(|d| present.contains(d)).collect(),
        });
    }
    let common = common.unwrap_or_default();
    Ok(h.names
        .iter()
        .map(|n| {
            common
                .iter()
                .map(|d| res[n][d][0].unwrap_or(f64::NAN))
                .collect()
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn output(
    h: &Hierarchy,
    steps: &[String],
    ds_values: &HashMap<String, ScalarValue>,
    base: &[Vec<f64>],
    rec: &hierarchy::Reconciled,
    bias: &[hierarchy::AnchorBias],
    z: f64,
    method: Method,
) -> Result<Arc<dyn TableProvider>> {
    let n = h.len() * steps.len();
    let mut id = Vec::with_capacity(n);
    let mut ds = Vec::with_capacity(n);
    let (mut mean, mut lo, mut hi, mut b, mut ab, mut flag, mut agg) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for (i, name) in h.names.iter().enumerate() {
        for (t, d) in steps.iter().enumerate() {
            id.push(name.clone());
            ds.push(ds_values[d].clone());
            mean.push(rec.mean[i][t]);
            let s = rec.sd.as_ref().map(|s| s[i][t]);
            lo.push(s.map(|s| rec.mean[i][t] - z * s));
            hi.push(s.map(|s| rec.mean[i][t] + z * s));
            b.push(base[i][t]);
            agg.push(i < h.n_aggregates);
            ab.push(bias.get(i).map(|x| x.relative));
            flag.push(bias.get(i).map(|x| x.flagged));
        }
    }
    let ds_array = if ds.is_empty() {
        deltalake::arrow::array::new_empty_array(&DataType::Utf8)
    } else {
        ScalarValue::iter_to_array(ds)?
    };
    let schema = Schema::new(vec![
        Field::new("unique_id", DataType::Utf8, false),
        Field::new("ds", ds_array.data_type().clone(), true),
        Field::new("mean", DataType::Float64, false),
        Field::new("lo", DataType::Float64, true),
        Field::new("hi", DataType::Float64, true),
        Field::new("base_mean", DataType::Float64, false),
        Field::new("is_aggregate", DataType::Boolean, false),
        Field::new("anchor_bias", DataType::Float64, true),
        Field::new("anchor_flagged", DataType::Boolean, true),
        Field::new("method", DataType::Utf8, false),
    ]);
    let method_name = method.name();
    table(
        schema,
        vec![
            Arc::new(StringArray::from(id)),
            ds_array,
            Arc::new(Float64Array::from(mean)),
            Arc::new(Float64Array::from(lo)),
            Arc::new(Float64Array::from(hi)),
            Arc::new(Float64Array::from(b)),
            Arc::new(BooleanArray::from(agg)),
            Arc::new(Float64Array::from(ab)),
            Arc::new(BooleanArray::from(flag)),
            Arc::new(StringArray::from(vec![method_name; n])),
        ],
    )
}
