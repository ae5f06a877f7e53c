//! Benchmark models: Naive, SeasonalNaive, HistoricAverage, WindowAverage,
//! RandomWalkWithDrift and simple exponential smoothing, with statsforecast's
//! point forecasts and its normal prediction intervals.

use crate::error::{ForecastError, Result};
use crate::math::golden_section;
use crate::{Forecast, need};

/// sqrt(sum of squared residuals / dof), NaN residuals skipped (statsforecast's `_calculate_sigma`).
fn sigma(residuals: impl Iterator<Item = f64>, dof: usize) -> f64 {
    if dof == 0 {
        return 0.0;
    }
    let s: f64 = residuals.filter(|r| !r.is_nan()).map(|r| r * r).sum();
    (s / dof as f64).sqrt()
}

pub fn naive(y: &[f64], h: usize, levels: &[f64]) -> Result<Forecast> {
    need("naive", y, 1)?;
    let n = y.len();
    let last = y[n - 1];
    let s = sigma(y.windows(2).map(|w| w[1] - w[0]), n.saturating_sub(1));
    let steps: Vec<f64> = (1..=h).map(|k| s * (k as f64).sqrt()).collect();
    Ok(Forecast::normal(vec![last; h], &steps, levels, "Naive"))
}

pub fn seasonal_naive(y: &[f64], h: usize, m: usize, levels: &[f64]) -> Result<Forecast> {
    if m == 0 {
        return Err(ForecastError::arg("season_length", "must be at least 1"));
    }
    need("seasonal_naive", y, m)?;
    let n = y.len();
    let last_cycle = &y[n - m..];
    let mean: Vec<f64> = (0..h).map(|i| last_cycle[i % m]).collect();
    let s = sigma((m..n).map(|t| y[t] - y[t - m]), n - m);
    let sd: Vec<f64> = (0..h).map(|i| s * ((i / m) as f64 + 1.0).sqrt()).collect();
    Ok(Forecast::normal(mean, &sd, levels, "SeasonalNaive"))
}

pub fn historic_average(y: &[f64], h: usize, levels: &[f64]) -> Result<Forecast> {
    need("historic_average", y, 1)?;
    let n = y.len();
    let avg = crate::math::mean(y);
    let s = sigma(y.iter().map(|v| v - avg), n.saturating_sub(1));
    let sd = vec![s * (1.0 + 1.0 / n as f64).sqrt(); h];
    Ok(Forecast::normal(
        vec![avg; h],
        &sd,
        levels,
        "HistoricAverage",
    ))
}

/// Mean of the last `window` observations. statsforecast gives no native
/// interval here; weir uses the spread of the one-step errors of the same
/// rule over the history, which is what the interval of a level forecast is.
pub fn window_average(y: &[f64], h: usize, window: usize, levels: &[f64]) -> Result<Forecast> {
    if window == 0 {
        return Err(ForecastError::arg("window_size", "must be at least 1"));
    }
    need("window_average", y, window)?;
    let n = y.len();
    let avg = crate::math::mean(&y[n - window..]);
    let errs = (window..n).map(|t| y[t] - crate::math::mean(&y[t - window..t]));
    let s = sigma(errs, n - window);
    Ok(Forecast::normal(
        vec![avg; h],
        &vec![s; h],
        levels,
        "WindowAverage",
    ))
}

pub fn random_walk_with_drift(y: &[f64], h: usize, levels: &[f64]) -> Result<Forecast> {
    need("random_walk_with_drift", y, 2)?;
    let n = y.len();
    let slope = (y[n - 1] - y[0]) / (n - 1) as f64;
    let mean: Vec<f64> = (1..=h).map(|k| y[n - 1] + slope * k as f64).collect();
    let s = sigma(y.windows(2).map(|w| w[1] - w[0] - slope), n - 1);
    let sd: Vec<f64> = (1..=h)
        .map(|k| {
            let k = k as f64;
            s * (k * (1.0 + k / (n - 1) as f64)).sqrt()
        })
        .collect();
    Ok(Forecast::normal(mean, &sd, levels, "RWD"))
}

/// Sum of squared one-step errors of SES started at x[0].
pub(crate) fn ses_sse(alpha: f64, x: &[f64]) -> f64 {
    let mut f = x[0];
    let mut sse = 0.0;
    for i in 1..x.len() {
        f = alpha * x[i - 1] + (1.0 - alpha) * f;
        sse += (x[i] - f).powi(2);
    }
    sse
}

/// One-step-ahead SES forecast after the whole series, and the in-sample
/// one-step forecasts (first is NaN), started at x[0] as statsforecast does.
pub(crate) fn ses_forecast(x: &[f64], alpha: f64) -> (f64, Vec<f64>) {
    let mut fitted = vec![f64::NAN; x.len()];
    if x.len() == 1 {
        return (x[0], fitted);
    }
    let mut f = x[0];
    for i in 1..x.len() {
        f = alpha * x[i - 1] + (1.0 - alpha) * f;
        fitted[i] = f;
    }
    (alpha * x[x.len() - 1] + (1.0 - alpha) * f, fitted)
}

/// SES with alpha minimising the in-sample SSE by golden-section search.
pub(crate) fn ses_optimized(x: &[f64], lower: f64, upper: f64) -> (f64, f64) {
    if x.len() < 2 {
        return (x[0], lower);
    }
    let alpha = golden_section(|a| ses_sse(a, x), lower, upper);
    (ses_forecast(x, alpha).0, alpha)
}

/// Simple exponential smoothing. `alpha` None: statsforecast's
/// SimpleExponentialSmoothingOptimized (alpha in [0.01, 0.99]). Intervals
/// use the ETS(A,N,N) variance sigma^2 (1 + alpha^2 (h - 1)).
pub fn ses(y: &[f64], h: usize, alpha: Option<f64>, levels: &[f64]) -> Result<Forecast> {
    need("ses", y, 1)?;
    let (alpha, name) = match alpha {
        Some(a) if (0.0..=1.0).contains(&a) => (a, "SES"),
        Some(a) => {
            return Err(ForecastError::arg(
                "alpha",
                format!("{a} is outside [0, 1]"),
            ));
        }
        None if y.len() < 2 => (0.5, "SESOpt"),
        None => (golden_section(|a| ses_sse(a, y), 0.01, 0.99), "SESOpt"),
    };
    let (f, fitted) = ses_forecast(y, alpha);
    let s = sigma(
        y.iter().zip(&fitted).map(|(a, b)| a - b),
        y.len().saturating_sub(1),
    );
    let sd: Vec<f64> = (1..=h)
        .map(|k| s * (1.0 + alpha * alpha * (k - 1) as f64).sqrt())
        .collect();
    Ok(Forecast::normal(vec![f; h], &sd, levels, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_naive_repeats_the_last_cycle_with_growing_intervals() {
        let y: Vec<f64> = (0..24).map(|i| (i % 4) as f64 + i as f64 * 0.1).collect();
        let f = seasonal_naive(&y, 6, 4, &[95.0]).unwrap();
        assert_eq!(f.mean[0], y[20]);
        assert_eq!(f.mean[4], y[20]);
        let w0 = f.intervals[0].hi[0] - f.intervals[0].lo[0];
        let w4 = f.intervals[0].hi[4] - f.intervals[0].lo[4];
        assert!((w4 / w0 - 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn short_series_are_refused_by_name() {
        let e = seasonal_naive(&[1.0, 2.0], 3, 7, &[]).unwrap_err();
        assert!(
            e.to_string().contains("seasonal_naive needs at least 7"),
            "{e}"
        );
    }
}
