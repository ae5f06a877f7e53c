//! Accuracy metrics as aggregates: `mae(y, yhat)`, `rmse`, `mse`, `mape`,
//! `smape`, `bias`, `pinball(y, q, tau)`, `coverage(y, lo, hi)`,
//! `interval_width(lo, hi)`, `mase(y, yhat, scale)`, `rmsse(y, yhat, scale)`,
//! and the scales from the training data: `mase_scale(ds, y [, season_length])`,
//! `rmsse_scale(ds, y)`. Conventions as `weir_forecast::metrics`.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray};
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use deltalake::datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use deltalake::datafusion::physical_expr::expressions::Literal;
use deltalake::datafusion::scalar::ScalarValue;

use weir_forecast::metrics::{mase_scale, point, rmsse_scale};

use super::calendar;
use super::forecast::{OrderedAcc, series_state_fields};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Mae,
    Mse,
    Rmse,
    Mape,
    Smape,
    Bias,
    Pinball,
    Coverage,
    Width,
    Mase,
    Rmsse,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::Mae,
        Metric::Mse,
        Metric::Rmse,
        Metric::Mape,
        Metric::Smape,
        Metric::Bias,
        Metric::Pinball,
        Metric::Coverage,
        Metric::Width,
        Metric::Mase,
        Metric::Rmsse,
    ];

    fn name(self) -> &'static str {
        match self {
            Metric::Mae => "mae",
            Metric::Mse => "mse",
            Metric::Rmse => "rmse",
            Metric::Mape => "mape",
            Metric::Smape => "smape",
            Metric::Bias => "bias",
            Metric::Pinball => "pinball",
            Metric::Coverage => "coverage",
            Metric::Width => "interval_width",
            Metric::Mase => "mase",
            Metric::Rmsse => "rmsse",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            Metric::Pinball => "pinball(y, quantile_forecast, tau)",
            Metric::Coverage => "coverage(y, lo, hi)",
            Metric::Width => "interval_width(lo, hi)",
            Metric::Mase => "mase(y, yhat, mase_scale)",
            Metric::Rmsse => "rmsse(y, yhat, rmsse_scale)",
            _ => "METRIC(y, yhat)",
        }
    }

    fn arity(self) -> usize {
        match self {
            Metric::Pinball | Metric::Coverage | Metric::Mase | Metric::Rmsse => 3,
            _ => 2,
        }
    }

    /// The per-row term whose mean is the metric (None: row skipped).
    fn term(self, a: &[f64]) -> Option<f64> {
        if a.iter().any(|v| v.is_nan()) {
            return None;
        }
        Some(match self {
            Metric::Mae => point::abs_error(a[0], a[1]),
            Metric::Mse | Metric::Rmse => point::sq_error(a[0], a[1]),
            Metric::Mape => return point::ape(a[0], a[1]),
            Metric::Smape => point::sape(a[0], a[1]),
            Metric::Bias => point::error(a[0], a[1]),
            Metric::Pinball => point::pinball(a[0], a[1], a[2]),
            Metric::Coverage => point::covered(a[0], a[1], a[2]),
            Metric::Width => a[1] - a[0],
            Metric::Mase => point::abs_error(a[0], a[1]) / a[2],
            Metric::Rmsse => point::sq_error(a[0], a[1]) / a[2],
        })
    }

    fn finish(self, mean: f64) -> f64 {
        match self {
            Metric::Rmse | Metric::Rmsse => mean.sqrt(),
            _ => mean,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MetricUdaf {
    metric: Metric,
    signature: Signature,
}

impl MetricUdaf {
    pub fn new(metric: Metric) -> Self {
        let args = vec![DataType::Float64; metric.arity()];
        MetricUdaf {
            metric,
            signature: Signature::exact(args, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for MetricUdaf {
    fn name(&self) -> &str {
        self.metric.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[sum]", args.name),
                DataType::Float64,
                true,
            )),
            Arc::new(Field::new(
                format!("{}[count]", args.name),
                DataType::Int64,
                true,
            )),
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.exprs.len() != self.metric.arity() {
            return Err(DataFusionError::Plan(format!(
                "usage: {}",
                self.metric.usage()
            )));
        }
        Ok(Box::new(MeanAcc {
            metric: self.metric,
            sum: 0.0,
            count: 0,
        }))
    }
}

#[derive(Debug)]
struct MeanAcc {
    metric: Metric,
    sum: f64,
    count: i64,
}

impl Accumulator for MeanAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let cols: Vec<_> = values
            .iter()
            .map(|v| v.as_primitive::<Float64Type>())
            .collect();
        let mut row = vec![0.0; cols.len()];
        for i in 0..values[0].len() {
            if cols.iter().any(|c| c.is_null(i)) {
                continue;
            }
            for (j, c) in cols.iter().enumerate() {
                row[j] = c.value(i);
            }
            if let Some(t) = self.metric.term(&row) {
                self.sum += t;
                self.count += 1;
            }
        }
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let sums = states[0].as_primitive::<Float64Type>();
        let counts = states[1].as_primitive::<Int64Type>();
        for i in 0..sums.len() {
            if sums.is_valid(i) && counts.is_valid(i) {
                self.sum += sums.value(i);
                self.count += counts.value(i);
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Float64(Some(self.sum)),
            ScalarValue::Int64(Some(self.count)),
        ])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(
            (self.count > 0).then(|| self.metric.finish(self.sum / self.count as f64)),
        ))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// `mase_scale(ds, y [, season_length])`: mean |y_t - y_{t-m}| of the
/// training series; `rmsse_scale(ds, y)`: mean (y_t - y_{t-1})^2 from the
/// first non-zero value (M5).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ScaleUdaf {
    squared: bool,
    signature: Signature,
}

impl ScaleUdaf {
    pub fn new(squared: bool) -> Self {
        ScaleUdaf {
            squared,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for ScaleUdaf {
    fn name(&self) -> &str {
        if self.squared {
            "rmsse_scale"
        } else {
            "mase_scale"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let max = if self.squared { 2 } else { 3 };
        if args.len() < 2 || args.len() > max {
            return Err(DataFusionError::Plan(format!(
                "usage: {}",
                if self.squared {
                    "rmsse_scale(ds, y)"
                } else {
                    "mase_scale(ds, y [, season_length])"
                }
            )));
        }
        let mut out = vec![
            calendar::coerce_axis(self.name(), &args[0])?,
            DataType::Float64,
        ];
        if args.len() == 3 {
            out.push(DataType::Int64);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(series_state_fields(args.name))
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let m = match args.exprs.get(2) {
            None => 1,
            Some(e) => match e.downcast_ref::<Literal>().map(|l| l.value().clone()) {
                Some(ScalarValue::Int64(Some(m))) if m >= 1 => m as usize,
                _ => {
                    return Err(DataFusionError::Plan(
                        "mase_scale: season_length must be a constant >= 1".into(),
                    ));
                }
            },
        };
        let squared = self.squared;
        Ok(Box::new(OrderedAcc::new(
            ScalarValue::Float64(None),
            move |_, y| {
                let scale = if squared {
                    rmsse_scale(y)
                } else {
                    mase_scale(y, m)
                };
                Ok(ScalarValue::Float64(scale.is_finite().then_some(scale)))
            },
        )))
    }
}
