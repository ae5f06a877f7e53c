//! weir's forecasting kernels: models with prediction intervals, accuracy
//! metrics, drift statistics, anomaly scores, hierarchical reconciliation
//! and inventory decisions, all on plain `&[f64]` slices.
//!
//! The models reproduce statsforecast's algorithms (same initialisation,
//! optimiser, bounds and selection rules) so that a forecast made in weir's
//! SQL matches one made in Python to the printed digits; where weir departs
//! from statsforecast the module documentation says where and why.
//!
//! ```
//! let y: Vec<f64> = (0..48).map(|t| 100.0 + (t % 12) as f64 * 3.0 + t as f64).collect();
//! let f = weir_forecast::forecast(&y, "auto_ets", 12, 12, &[80.0, 95.0]).unwrap();
//! assert_eq!(f.mean.len(), 12);
//! assert!(f.intervals[1].lo[0] < f.mean[0] && f.mean[0] < f.intervals[1].hi[0]);
//! ```

pub mod anomaly;
pub mod baseline;
pub mod cv;
pub mod decision;
pub mod diagnostics;
pub mod drift;
mod error;
pub mod ets;
pub mod hierarchy;
pub mod intermittent;
pub mod math;
pub mod metrics;
mod model;
pub mod mstl;
pub mod special;
pub mod synth;
pub mod theta;

pub use error::{ForecastError, Result};
pub use model::{MODEL_NAMES, ModelSpec, forecast};

/// A central prediction interval at `level` percent, one bound per step.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    pub level: f64,
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

/// Point forecasts for steps 1..=h with their intervals (ascending level).
#[derive(Clone, Debug, PartialEq)]
pub struct Forecast {
    pub mean: Vec<f64>,
    pub intervals: Vec<Interval>,
    /// The fitted model as statsforecast names it, e.g. "ETS(M,N,M)".
    pub method: String,
}

impl Forecast {
    /// Normal intervals mean ± z·sd for each level.
    pub fn normal(mean: Vec<f64>, sd: &[f64], levels: &[f64], method: &str) -> Forecast {
        let intervals = levels
            .iter()
            .map(|&level| {
                let z = math::z_for_level(level);
                Interval {
                    level,
                    lo: mean.iter().zip(sd).map(|(m, s)| m - z * s).collect(),
                    hi: mean.iter().zip(sd).map(|(m, s)| m + z * s).collect(),
                }
            })
            .collect();
        Forecast {
            mean,
            intervals,
            method: method.to_string(),
        }
    }

    /// The interval at `level`, if it was requested.
    pub fn interval(&self, level: f64) -> Option<&Interval> {
        self.intervals
            .iter()
            .find(|i| (i.level - level).abs() < 1e-9)
    }
}

pub(crate) fn need(model: &'static str, y: &[f64], needed: usize) -> Result<()> {
    if y.len() < needed.max(1) {
        return Err(ForecastError::TooShort {
            model,
            needed: needed.max(1),
            got: y.len(),
        });
    }
    if y.iter().any(|v| !v.is_finite()) {
        return Err(ForecastError::arg(
            "y",
            "contains missing or infinite values",
        ));
    }
    Ok(())
}
