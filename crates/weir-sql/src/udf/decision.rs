//! Decision scalars: `critical_fractile(cu, co)`,
//! `newsvendor_qty(mean, sd, cu, co)`, `newsvendor_cost(mean, sd, cu, co)`
//! (expected cost at the optimum, equal to the value of perfect
//! information under normal demand), `expected_cost(q, mean, sd, cu, co)`
//! and `sd_from_interval(lo, hi, level)` to read a forecast's spread off its
//! interval. NULL in, NULL out; invalid costs give NULL too, so one bad row
//! does not fail a report.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use deltalake::arrow::datatypes::{DataType, Float64Type};
use deltalake::datafusion::error::Result;
use deltalake::datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use weir_forecast::decision::{expected_cost_normal, newsvendor_normal};
use weir_forecast::math::z_for_level;

fn float_udf(name: &str, arity: usize, f: fn(&[f64]) -> Option<f64>) -> ScalarUDF {
    let fun = Arc::new(move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let cols: Vec<_> = arrays
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        let n = arrays.first().map_or(0, |a| a.len());
        let mut row = vec![0.0; arity];
        let out: Float64Array = (0..n)
            .map(|i| {
                for (j, c) in cols.iter().enumerate() {
                    if c.is_null(i) {
                        return None;
                    }
                    row[j] = c.value(i);
                }
                f(&row).filter(|v| v.is_finite())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    });
    create_udf(
        name,
        vec![DataType::Float64; arity],
        DataType::Float64,
        Volatility::Immutable,
        fun,
    )
}

pub fn udfs() -> Vec<ScalarUDF> {
    vec![
        float_udf("critical_fractile", 2, |a| {
            (a[0] > 0.0 && a[1] > 0.0).then(|| a[0] / (a[0] + a[1]))
        }),
        float_udf("newsvendor_qty", 4, |a| {
            newsvendor_normal(a[0], a[1], a[2], a[3])
                .ok()
                .map(|r| r.quantity)
        }),
        float_udf("newsvendor_cost", 4, |a| {
            newsvendor_normal(a[0], a[1], a[2], a[3])
                .ok()
                .map(|r| r.expected_cost)
        }),
        float_udf("expected_cost", 5, |a| {
            (a[2] >= 0.0 && a[3] > 0.0 && a[4] > 0.0)
                .then(|| expected_cost_normal(a[0], a[1], a[2], a[3], a[4]))
        }),
        float_udf("sd_from_interval", 3, |a| {
            (a[2] > 0.0 && a[2] < 100.0).then(|| (a[1] - a[0]) / (2.0 * z_for_level(a[2])))
        }),
    ]
}
