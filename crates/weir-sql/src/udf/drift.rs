//! Drift and residual-test aggregates:
//!
//! - `drift(value, is_reference [, method [, threshold]])` → {stattest,
//!   stattest_name, stattest_threshold, drift_score, drift_detected}, with
//!   Evidently's default test when `method` is omitted or 'auto'; numbers
//!   are numerical columns, text and booleans categorical.
//! - `drift_score(value, is_reference, method)` → the score alone.
//! - `ljung_box(ds, residual [, lags [, model_df]])` → {statistic, p_value, dof}.
//! - `bias_ttest(residual)` → {statistic, p_value, dof}.

use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray, StringArray,
};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use deltalake::datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use deltalake::datafusion::scalar::ScalarValue;
use weir_forecast::diagnostics::{TestResult, bias_t_test, ljung_box};
use weir_forecast::drift::{self, DriftResult, STAT_TEST_NAMES, StatTest};

use super::forecast::{OrderedAcc, series_state_fields};
use super::{calendar, literal, plan_err};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DriftUdaf {
    score_only: bool,
    signature: Signature,
}

impl DriftUdaf {
    pub fn new(score_only: bool) -> Self {
        DriftUdaf {
            score_only,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn usage(&self) -> &'static str {
        if self.score_only {
            "drift_score(value, is_reference, method)"
        } else {
            "drift(value, is_reference [, method [, threshold]])"
        }
    }
}

fn categorical(t: &DataType) -> bool {
    !t.is_numeric()
}

fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("stattest", DataType::Utf8, false),
        Field::new("stattest_name", DataType::Utf8, false),
        Field::new("stattest_threshold", DataType::Float64, false),
        Field::new("drift_score", DataType::Float64, true),
        Field::new("drift_detected", DataType::Boolean, false),
    ])
}

impl AggregateUDFImpl for DriftUdaf {
    fn name(&self) -> &str {
        if self.score_only {
            "drift_score"
        } else {
            "drift"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let (lo, hi) = if self.score_only { (3, 3) } else { (2, 4) };
        if args.len() < lo || args.len() > hi {
            return plan_err(format!("usage: {}", self.usage()));
        }
        let value = if categorical(&args[0]) {
            DataType::Utf8
        } else {
            DataType::Float64
        };
        let mut out = vec![value, DataType::Boolean];
        if args.len() > 2 {
            out.push(DataType::Utf8);
        }
        if args.len() > 3 {
            out.push(DataType::Float64);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.score_only {
            DataType::Float64
        } else {
            DataType::Struct(result_fields())
        })
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let t = args.input_fields[0].data_type().clone();
        let list = DataType::List(Arc::new(Field::new("item", t, true)));
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[reference]", args.name),
                list.clone(),
                true,
            )),
            Arc::new(Field::new(format!("{}[current]", args.name), list, true)),
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let method = match args.exprs.get(2).map(literal) {
            None => None,
            Some(Some(ScalarValue::Utf8(Some(m)))) if m.eq_ignore_ascii_case("auto") => None,
            Some(Some(ScalarValue::Utf8(Some(m)))) => Some(
                StatTest::parse(&m)
                    .map_err(|e| DataFusionError::Plan(format!("{}: {e}", self.name())))?,
            ),
            _ => {
                return plan_err(format!(
                    "{}: method must be a constant, one of auto, {}",
                    self.name(),
                    STAT_TEST_NAMES.join(", ")
                ));
            }
        };
        let threshold = match args.exprs.get(3).map(literal) {
            None => None,
            Some(Some(ScalarValue::Float64(Some(t)))) if t.is_finite() => Some(t),
            _ => {
                return plan_err(format!(
                    "{}: threshold must be a constant number",
                    self.name()
                ));
            }
        };
        let text = categorical(&args.exprs[0].data_type(args.schema)?);
        Ok(Box::new(DriftAcc {
            score_only: self.score_only,
            method,
            threshold,
            text,
            num: [Vec::new(), Vec::new()],
            cat: [Vec::new(), Vec::new()],
        }))
    }
}

#[derive(Debug)]
struct DriftAcc {
    score_only: bool,
    method: Option<StatTest>,
    threshold: Option<f64>,
    text: bool,
    /// [reference, current]
    num: [Vec<f64>; 2],
    cat: [Vec<String>; 2],
}

impl DriftAcc {
    fn push(&mut self, values: &ArrayRef, side: usize) {
        if self.text {
            let v = values.as_string::<i32>();
            self.cat[side].extend(v.iter().flatten().map(str::to_string));
        } else {
            let v = values.as_primitive::<Float64Type>();
            self.num[side].extend(v.iter().flatten().filter(|x| !x.is_nan()));
        }
    }

    fn list(&self, side: usize) -> ScalarValue {
        let (t, values): (DataType, ArrayRef) = if self.text {
            (
                DataType::Utf8,
                Arc::new(StringArray::from(self.cat[side].clone())),
            )
        } else {
            (
                DataType::Float64,
                Arc::new(Float64Array::from(self.num[side].clone())),
            )
        };
        ScalarValue::List(Arc::new(ListArray::new(
            Arc::new(Field::new("item", t, true)),
            OffsetBuffer::from_lengths([values.len()]),
            values,
            None,
        )))
    }
}

impl Accumulator for DriftAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let flag = values[1].as_boolean();
        for side in 0..2 {
            // Rows whose flag is NULL belong to neither sample.
            let keep = BooleanArray::from_iter(flag.iter().map(|f| f.map(|f| f == (side == 0))));
            let picked = deltalake::arrow::compute::filter(&values[0], &keep)?;
            self.push(&picked, side);
        }
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (side, state) in states.iter().enumerate().take(2) {
            let lists = state.as_list::<i32>();
            for row in 0..lists.len() {
                if lists.is_valid(row) {
                    self.push(&lists.value(row), side);
                }
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.list(0), self.list(1)])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let result = if self.text {
            drift::drift_categorical(&self.cat[0], &self.cat[1], self.method, self.threshold)
        } else {
            drift::drift_numerical(&self.num[0], &self.num[1], self.method, self.threshold)
        };
        // An empty side (a group with no reference rows) is NULL, not an error.
        let Ok(r) = result else {
            return Ok(if self.score_only {
                ScalarValue::Float64(None)
            } else {
                ScalarValue::Struct(Arc::new(deltalake::arrow::array::StructArray::new_null(
                    result_fields(),
                    1,
                )))
            });
        };
        Ok(if self.score_only {
            ScalarValue::Float64(r.drift_score.is_finite().then_some(r.drift_score))
        } else {
            drift_struct(&r)
        })
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + (self.num[0].capacity() + self.num[1].capacity()) * 8
            + self
                .cat
                .iter()
                .flatten()
                .map(|s| s.capacity() + 24)
                .sum::<usize>()
    }
}

fn drift_struct(r: &DriftResult) -> ScalarValue {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![r.stattest.name()])),
        Arc::new(StringArray::from(vec![r.stattest.display_name()])),
        Arc::new(Float64Array::from(vec![r.stattest_threshold])),
        Arc::new(Float64Array::from(vec![
            r.drift_score.is_finite().then_some(r.drift_score),
        ])),
        Arc::new(BooleanArray::from(vec![r.drift_detected])),
    ];
    ScalarValue::Struct(Arc::new(deltalake::arrow::array::StructArray::new(
        result_fields(),
        cols,
        None,
    )))
}

fn test_fields() -> Fields {
    Fields::from(vec![
        Field::new("statistic", DataType::Float64, true),
        Field::new("p_value", DataType::Float64, true),
        Field::new("dof", DataType::Float64, true),
    ])
}

fn test_struct(r: Option<TestResult>) -> ScalarValue {
    let Some(r) = r else {
        return ScalarValue::Struct(Arc::new(deltalake::arrow::array::StructArray::new_null(
            test_fields(),
            1,
        )));
    };
    let f = |v: f64| -> ArrayRef { Arc::new(Float64Array::from(vec![v.is_finite().then_some(v)])) };
    ScalarValue::Struct(Arc::new(deltalake::arrow::array::StructArray::new(
        test_fields(),
        vec![f(r.statistic), f(r.p_value), f(r.dof)],
        None,
    )))
}

/// `ljung_box(ds, residual [, lags [, model_df]])` (residuals in ds order)
/// and `bias_ttest(ds, residual)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ResidualTestUdaf {
    ljung: bool,
    signature: Signature,
}

impl ResidualTestUdaf {
    pub fn new(ljung: bool) -> Self {
        ResidualTestUdaf {
            ljung,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for ResidualTestUdaf {
    fn name(&self) -> &str {
        if self.ljung {
            "ljung_box"
        } else {
            "bias_ttest"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let max = if self.ljung { 4 } else { 2 };
        if args.len() < 2 || args.len() > max {
            return plan_err(format!(
                "usage: {}",
                if self.ljung {
                    "ljung_box(ds, residual [, lags [, model_df]])"
                } else {
                    "bias_ttest(ds, residual)"
                }
            ));
        }
        let mut out = vec![
            calendar::coerce_axis(self.name(), &args[0])?,
            DataType::Float64,
        ];
        out.extend(std::iter::repeat_n(DataType::Int64, args.len() - 2));
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(test_fields()))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(series_state_fields(args.name))
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let int = |i: usize, what: &str| -> Result<Option<usize>> {
            match args.exprs.get(i).map(literal) {
                None => Ok(None),
                Some(Some(ScalarValue::Int64(Some(v)))) if v >= 0 => Ok(Some(v as usize)),
                _ => plan_err(format!("ljung_box: {what} must be a constant integer >= 0")),
            }
        };
        let (ljung, lags, model_df) = (
            self.ljung,
            int(2, "lags")?,
            int(3, "model_df")?.unwrap_or(0),
        );
        if lags == Some(0) {
            return plan_err("ljung_box: lags must be a constant integer >= 1".into());
        }
        Ok(Box::new(OrderedAcc::new(test_struct(None), move |_, e| {
            let r = if ljung {
                let lags =
                    lags.unwrap_or_else(|| weir_forecast::diagnostics::default_lags(e.len(), 1));
                ljung_box(e, lags, model_df).ok()
            } else {
                bias_t_test(e).ok()
            };
            Ok(test_struct(r))
        })))
    }
}
