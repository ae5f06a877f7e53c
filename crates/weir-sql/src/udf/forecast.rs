//! `forecast(ds, y, model, h [, season_length [, level]])` and
//! `forecast_cv(ds, y, model, h, n_windows, step_size [, season_length [, level]])`:
//! aggregates that collect one series per group and return its forecast as
//! a list of structs, so `GROUP BY unique_id` forecasts a whole panel, the
//! groups spread over the session's partitions (one per core).

use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, ListArray, StringArray, StructArray,
};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use deltalake::datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use deltalake::datafusion::physical_expr::expressions::Literal;
use deltalake::datafusion::scalar::ScalarValue;
use weir_forecast::ModelSpec;
use weir_forecast::cv::cross_validation;

use super::calendar;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ForecastUdaf {
    cv: bool,
    signature: Signature,
}

impl ForecastUdaf {
    pub fn new(cv: bool) -> Self {
        ForecastUdaf {
            cv,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn usage(&self) -> &'static str {
        if self.cv {
            "forecast_cv(ds, y, model, h, n_windows, step_size [, season_length [, level]])"
        } else {
            "forecast(ds, y, model, h [, season_length [, level]])"
        }
    }

    /// Positions of the optional season_length and level arguments.
    fn fixed(&self) -> usize {
        if self.cv { 6 } else { 4 }
    }

    fn item_fields(&self, ds: &DataType) -> Fields {
        let mut f = Vec::new();
        if self.cv {
            f.push(Field::new("cutoff", ds.clone(), true));
        } else {
            f.push(Field::new("step", DataType::Int64, false));
        }
        f.push(Field::new("ds", ds.clone(), true));
        if self.cv {
            f.push(Field::new("y", DataType::Float64, true));
        }
        for name in ["mean", "lo", "hi"] {
            f.push(Field::new(name, DataType::Float64, true));
        }
        f.push(Field::new("model", DataType::Utf8, true));
        Fields::from(f)
    }
}

fn plan_err(msg: String) -> DataFusionError {
    DataFusionError::Plan(msg)
}

impl AggregateUDFImpl for ForecastUdaf {
    fn name(&self) -> &str {
        if self.cv { "forecast_cv" } else { "forecast" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let fixed = self.fixed();
        if args.len() < fixed || args.len() > fixed + 2 {
            return Err(plan_err(format!(
                "{} takes {}-{} arguments, got {}",
                self.usage(),
                fixed,
                fixed + 2,
                args.len()
            )));
        }
        let ds = calendar::coerce_axis(self.name(), &args[0])?;
        if !args[1].is_numeric() && args[1] != DataType::Null {
            return Err(plan_err(format!(
                "{}: y must be numeric, not {}",
                self.name(),
                args[1]
            )));
        }
        let mut out = vec![ds, DataType::Float64, DataType::Utf8];
        for _ in 3..fixed {
            out.push(DataType::Int64);
        }
        if args.len() > fixed {
            out.push(DataType::Int64);
        }
        if args.len() > fixed + 1 {
            out.push(DataType::Float64);
        }
        Ok(out)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let item = DataType::Struct(self.item_fields(&args[0]));
        Ok(DataType::List(Arc::new(Field::new("item", item, true))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(series_state_fields(args.name))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let name = self.name();
        let lit = |i: usize| -> Result<Option<ScalarValue>> {
            match args.exprs.get(i) {
                None => Ok(None),
                Some(e) => match e.downcast_ref::<Literal>() {
                    Some(l) if !l.value().is_null() => Ok(Some(l.value().clone())),
                    _ => Err(plan_err(format!(
                        "{name}: argument {} must be a constant (usage: {})",
                        i + 1,
                        self.usage()
                    ))),
                },
            }
        };
        let int = |i: usize, what: &str, min: i64| -> Result<Option<usize>> {
            match lit(i)? {
                None => Ok(None),
                Some(v) => match v.cast_to(&DataType::Int64)? {
                    ScalarValue::Int64(Some(x)) if x >= min && x <= 100_000 => Ok(Some(x as usize)),
                    other => Err(plan_err(format!(
                        "{name}: {what} must be a whole number from {min} to 100000, got {other}"
                    ))),
                },
            }
        };
        let model = match lit(2)? {
            Some(
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s)),
            ) => s,
            _ => {
                return Err(plan_err(format!(
                    "{name}: model must be a string such as 'auto_ets'"
                )));
            }
        };
        let spec = ModelSpec::parse(&model).map_err(|e| plan_err(format!("{name}: {e}")))?;
        let h = int(3, "h", 1)?.unwrap_or(1);
        let cv = if self.cv {
            Some((
                int(4, "n_windows", 1)?.unwrap_or(1),
                int(5, "step_size", 1)?.unwrap_or(1),
            ))
        } else {
            None
        };
        let fixed = self.fixed();
        let season = int(fixed, "season_length", 1)?.unwrap_or(1);
        let level = match lit(fixed + 1)? {
            None => 95.0,
            Some(v) => match v.cast_to(&DataType::Float64)? {
                ScalarValue::Float64(Some(x)) if x > 0.0 && x < 100.0 => x,
                other => {
                    return Err(plan_err(format!(
                        "{name}: level must be a percentage between 0 and 100, got {other}"
                    )));
                }
            },
        };
        let ds_type = args.expr_fields[0].data_type().clone();
        let fields = self.item_fields(&ds_type);
        let return_type = args.return_field.data_type().clone();
        let null = ScalarValue::try_from(&return_type)?;
        let cfg = Config {
            spec,
            h,
            season,
            level,
            ds_type,
            fields,
            return_type,
            cv,
        };
        Ok(Box::new(OrderedAcc::new(null, move |ds, y| {
            forecast_value(&cfg, ds, y)
        })))
    }
}

#[derive(Debug)]
struct Config {
    spec: ModelSpec,
    h: usize,
    season: usize,
    level: f64,
    ds_type: DataType,
    fields: Fields,
    return_type: DataType,
    cv: Option<(usize, usize)>,
}

/// One series gathered from a group's rows (and from partial states).
#[derive(Debug, Default)]
pub(super) struct Collected {
    ds: Vec<Option<i64>>,
    y: Vec<Option<f64>>,
}

impl Collected {
    fn push(&mut self, ds: &Int64Array, y: &Float64Array) {
        for i in 0..ds.len() {
            self.ds.push(ds.is_valid(i).then(|| ds.value(i)));
            self.y.push(y.is_valid(i).then(|| y.value(i)));
        }
    }

    /// The series sorted by ds, or None when it has missing or repeated points.
    pub(super) fn series(&self) -> Option<(Vec<i64>, Vec<f64>)> {
        let mut pts: Vec<(i64, f64)> = self
            .ds
            .iter()
            .zip(&self.y)
            .map(|(d, y)| Some(((*d)?, (*y)?)))
            .collect::<Option<_>>()?;
        pts.sort_by_key(|p| p.0);
        if pts.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        Some(pts.into_iter().unzip())
    }

    pub(super) fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let ds = calendar::to_i64(&values[0])?;
        let y = values[1].as_primitive::<Float64Type>();
        self.push(&ds, y);
        Ok(())
    }

    pub(super) fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let ds = states[0].as_list::<i32>();
        let y = states[1].as_list::<i32>();
        for row in 0..ds.len() {
            if ds.is_null(row) {
                continue;
            }
            let d = ds.value(row);
            let v = y.value(row);
            self.push(
                d.as_primitive::<Int64Type>(),
                v.as_primitive::<Float64Type>(),
            );
        }
        Ok(())
    }

    pub(super) fn state(&self) -> Vec<ScalarValue> {
        let ds = Int64Array::from(self.ds.clone());
        let y = Float64Array::from(self.y.clone());
        vec![
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new("item", DataType::Int64, true)),
                OffsetBuffer::from_lengths([ds.len()]),
                Arc::new(ds),
                None,
            ))),
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new("item", DataType::Float64, true)),
                OffsetBuffer::from_lengths([y.len()]),
                Arc::new(y),
                None,
            ))),
        ]
    }

    pub(super) fn size(&self) -> usize {
        self.ds.capacity() * 16 + self.y.capacity() * 16
    }
}

/// An aggregate whose result is a function of one series in `ds` order
/// (`forecast`, `mase_scale`, `ljung_box`, ...): the shared collect/merge
/// part, with `null` when the series has missing or repeated points.
pub(super) struct OrderedAcc {
    data: Collected,
    null: ScalarValue,
    finish: Finish,
}

type Finish = Box<dyn Fn(&[i64], &[f64]) -> Result<ScalarValue> + Send + Sync>;

impl OrderedAcc {
    pub(super) fn new(
        null: ScalarValue,
        finish: impl Fn(&[i64], &[f64]) -> Result<ScalarValue> + Send + Sync + 'static,
    ) -> OrderedAcc {
        OrderedAcc {
            data: Collected::default(),
            null,
            finish: Box::new(finish),
        }
    }
}

impl std::fmt::Debug for OrderedAcc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderedAcc")
            .field("data", &self.data)
            .finish()
    }
}

impl Accumulator for OrderedAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.data.update(values)
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.data.merge(states)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.data.state())
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        match self.data.series() {
            Some((ds, y)) => (self.finish)(&ds, &y),
            None => Ok(self.null.clone()),
        }
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.data.size()
    }
}

/// The two list columns that carry a partial series between aggregation phases.
pub(super) fn series_state_fields(name: &str) -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new(
            format!("{name}[ds]"),
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        )),
        Arc::new(Field::new(
            format!("{name}[y]"),
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            true,
        )),
    ]
}

fn build(c: &Config, cols: Vec<ArrayRef>, n: usize) -> Result<ScalarValue> {
    let item = StructArray::try_new(c.fields.clone(), cols, None)?;
    let field = Arc::new(Field::new("item", DataType::Struct(c.fields.clone()), true));
    let list = ListArray::try_new(field, OffsetBuffer::from_lengths([n]), Arc::new(item), None)?;
    Ok(ScalarValue::List(Arc::new(list)))
}

// A series that cannot be forecast (too short, gaps in y, repeated ds)
// yields NULL rather than failing the whole panel; the preflight stage
// reports why.
fn forecast_value(c: &Config, ds: &[i64], y: &[f64]) -> Result<ScalarValue> {
    let null = ScalarValue::try_from(&c.return_type)?;
    let levels = [c.level];
    match c.cv {
        None => {
            let Ok(f) = c.spec.forecast(y, c.h, c.season, &levels) else {
                return Ok(null);
            };
            let iv = &f.intervals[0];
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(1..=c.h as i64)),
                calendar::from_i64(&c.ds_type, calendar::future(&c.ds_type, ds, c.h))?,
                Arc::new(Float64Array::from(f.mean.clone())),
                Arc::new(Float64Array::from(iv.lo.clone())),
                Arc::new(Float64Array::from(iv.hi.clone())),
                Arc::new(StringArray::from(vec![f.method.as_str(); c.h])),
            ];
            build(c, cols, c.h)
        }
        Some((n_windows, step)) => {
            let Ok(windows) = cross_validation(y, &c.spec, c.h, n_windows, step, c.season, &levels)
            else {
                return Ok(null);
            };
            let (mut cut, mut dss, mut ys, mut mean, mut lo, mut hi, mut model) =
                (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
            for w in &windows {
                let iv = &w.forecast.intervals[0];
                for k in 0..c.h {
                    cut.push(ds[w.cutoff - 1]);
                    dss.push(ds[w.cutoff + k]);
                    ys.push(w.actual[k]);
                    mean.push(w.forecast.mean[k]);
                    lo.push(iv.lo[k]);
                    hi.push(iv.hi[k]);
                    model.push(w.forecast.method.clone());
                }
            }
            let n = cut.len();
            let cols: Vec<ArrayRef> = vec![
                calendar::from_i64(&c.ds_type, cut)?,
                calendar::from_i64(&c.ds_type, dss)?,
                Arc::new(Float64Array::from(ys)),
                Arc::new(Float64Array::from(mean)),
                Arc::new(Float64Array::from(lo)),
                Arc::new(Float64Array::from(hi)),
                Arc::new(StringArray::from(model)),
            ];
            build(c, cols, n)
        }
    }
}
