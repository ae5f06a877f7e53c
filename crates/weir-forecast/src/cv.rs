//! Rolling-origin cross-validation as statsforecast's `cross_validation`:
//! `n_windows` cutoffs `step_size` apart, the last one `h` before the end,
//! each refitted on everything before its cutoff (expanding window).

use crate::error::{ForecastError, Result};
use crate::{Forecast, ModelSpec};

/// One evaluation window: the index of the first forecast step, the actuals
/// there, and the forecast made from the data before it.
#[derive(Clone, Debug)]
pub struct Window {
    pub cutoff: usize,
    pub actual: Vec<f64>,
    pub forecast: Forecast,
}

pub fn cross_validation(
    y: &[f64],
    model: &ModelSpec,
    h: usize,
    n_windows: usize,
    step_size: usize,
    season_length: usize,
    levels: &[f64],
) -> Result<Vec<Window>> {
    if h == 0 || n_windows == 0 || step_size == 0 {
        return Err(ForecastError::arg(
            "cross_validation",
            "h, n_windows and step_size must be at least 1",
        ));
    }
    let test_size = h + step_size * (n_windows - 1);
    if test_size >= y.len() {
        return Err(ForecastError::TooShort {
            model: "cross_validation",
            needed: test_size + 1,
            got: y.len(),
        });
    }
    (0..n_windows)
        .map(|k| {
            let cutoff = y.len() - test_size + k * step_size;
            let forecast = model.forecast(&y[..cutoff], h, season_length, levels)?;
            Ok(Window {
                cutoff,
                actual: y[cutoff..cutoff + h].to_vec(),
                forecast,
            })
        })
        .collect()
}
