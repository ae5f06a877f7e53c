//! Anomaly window functions, scored over each window partition at once:
//!
//! - `anomaly_score(detector, x1 [, x2, ...]) OVER (PARTITION BY ...)` →
//!   the detector's score (higher = more abnormal);
//! - `is_anomaly(detector, contamination, x1 [, x2, ...]) OVER (...)` →
//!   PyOD's rule: score above the (1 − contamination) percentile.
//!
//! Detectors: `ecod`, `eif` (seeded, so re-running gives the same flags),
//! `mad` and `zscore` (one column). Rows with a NULL feature get NULL.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array};
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use deltalake::datafusion::logical_expr::{
    PartitionEvaluator, Signature, Volatility, WindowUDFImpl,
};
use deltalake::datafusion::scalar::ScalarValue;
use weir_forecast::anomaly::{self, DETECTORS};

use super::{literal, plan_err};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AnomalyUdwf {
    flag: bool,
    signature: Signature,
}

impl AnomalyUdwf {
    pub fn new(flag: bool) -> Self {
        AnomalyUdwf {
            flag,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn usage(&self) -> &'static str {
        if self.flag {
            "is_anomaly(detector, contamination, x1 [, x2, ...]) OVER (...)"
        } else {
            "anomaly_score(detector, x1 [, x2, ...]) OVER (...)"
        }
    }

    /// Position of the first feature column.
    fn first(&self) -> usize {
        if self.flag { 2 } else { 1 }
    }
}

impl WindowUDFImpl for AnomalyUdwf {
    fn name(&self) -> &str {
        if self.flag {
            "is_anomaly"
        } else {
            "anomaly_score"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if args.len() <= self.first() {
            return plan_err(format!("usage: {}", self.usage()));
        }
        let mut out = vec![DataType::Utf8];
        if self.flag {
            out.push(DataType::Float64);
        }
        for t in &args[self.first()..] {
            if !t.is_numeric() && !t.is_null() {
                return plan_err(format!(
                    "{}: features must be numbers, got {t}",
                    self.name()
                ));
            }
            out.push(DataType::Float64);
        }
        Ok(out)
    }
    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let exprs = args.input_exprs();
        let detector = match exprs.first().and_then(literal) {
            Some(ScalarValue::Utf8(Some(d))) => d.to_ascii_lowercase(),
            _ => {
                return plan_err(format!(
                    "{}: detector must be a constant, one of {}",
                    self.name(),
                    DETECTORS.join(", ")
                ));
            }
        };
        let contamination = if self.flag {
            match exprs.get(1).and_then(literal) {
                Some(ScalarValue::Float64(Some(c))) if c > 0.0 && c <= 0.5 => Some(c),
                _ => {
                    return plan_err(format!(
                        "{}: contamination must be a constant in (0, 0.5] (PyOD's default is 0.1)",
                        self.name()
                    ));
                }
            }
        } else {
            None
        };
        // Called once per window partition: a cheap check, before any data.
        anomaly::check_detector(&detector, exprs.len().saturating_sub(self.first()))
            .map_err(|e| DataFusionError::Plan(format!("{}: {e}", self.name())))?;
        Ok(Box::new(Evaluator {
            detector,
            contamination,
            first: self.first(),
        }))
    }
    fn field(&self, args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let t = if self.flag {
            DataType::Boolean
        } else {
            DataType::Float64
        };
        Ok(Arc::new(Field::new(args.name(), t, true)))
    }
}

#[derive(Debug)]
struct Evaluator {
    detector: String,
    contamination: Option<f64>,
    first: usize,
}

impl PartitionEvaluator for Evaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let cols: Vec<_> = values[self.first..]
            .iter()
            .map(|v| v.as_primitive::<Float64Type>())
            .collect();
        let rows: Vec<usize> = (0..num_rows)
            .filter(|&i| cols.iter().all(|c| c.is_valid(i) && c.value(i).is_finite()))
            .collect();
        let features: Vec<Vec<f64>> = cols
            .iter()
            .map(|c| rows.iter().map(|&i| c.value(i)).collect())
            .collect();
        let slices: Vec<&[f64]> = features.iter().map(Vec::as_slice).collect();
        let mut scores = vec![None; num_rows];
        if !rows.is_empty() {
            let s = anomaly::score(&self.detector, &slices, 0)
                .map_err(|e| DataFusionError::Execution(format!("anomaly: {e}")))?;
            for (k, &i) in rows.iter().enumerate() {
                scores[i] = Some(s[k]);
            }
        }
        let Some(c) = self.contamination else {
            return Ok(Arc::new(Float64Array::from(scores)));
        };
        let present: Vec<f64> = scores.iter().flatten().copied().collect();
        if present.is_empty() {
            return Ok(Arc::new(BooleanArray::from(vec![None; num_rows])));
        }
        let t = anomaly::threshold(&present, c)
            .map_err(|e| DataFusionError::Execution(e.to_string()))?;
        Ok(Arc::new(BooleanArray::from(
            scores.iter().map(|s| s.map(|s| s > t)).collect::<Vec<_>>(),
        )))
    }
}
