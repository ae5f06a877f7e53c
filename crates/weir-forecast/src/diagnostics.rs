//! Residual diagnostics: is what a model left behind noise? Ljung–Box for
//! autocorrelation (as `statsmodels.stats.diagnostic.acorr_ljungbox`) and a
//! one-sample t test for bias (as `scipy.stats.ttest_1samp(e, 0)`).

use crate::math::{acf, mean};
use crate::special::{chi2_sf, t_two_sided};
use crate::{ForecastError, Result};

/// A test statistic with its p-value and degrees of freedom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
    pub dof: f64,
}

/// Ljung–Box Q over lags 1..=`lags`: Q = n(n+2) Σ r_k² / (n − k), compared
/// with χ²(lags − model_df). `model_df` is the number of fitted parameters
/// when the residuals come from an ARMA-type fit (0 otherwise).
pub fn ljung_box(residuals: &[f64], lags: usize, model_df: usize) -> Result<TestResult> {
    let n = residuals.len();
    if lags == 0 || lags >= n {
        return Err(ForecastError::arg(
            "ljung_box lags",
            format!(
                "must be between 1 and n - 1 = {}, got {lags}",
                n.saturating_sub(1)
            ),
        ));
    }
    if model_df >= lags {
        return Err(ForecastError::arg(
            "ljung_box model_df",
            format!("must be below lags ({lags}), got {model_df}"),
        ));
    }
    let r = acf(residuals, lags);
    let nf = n as f64;
    let q = nf
        * (nf + 2.0)
        * r.iter()
            .enumerate()
            .map(|(k, rk)| rk * rk / (nf - (k + 1) as f64))
            .sum::<f64>();
    let dof = (lags - model_df) as f64;
    Ok(TestResult {
        statistic: q,
        p_value: chi2_sf(q, dof),
        dof,
    })
}

/// The lag count forecasters use by default (Hyndman & Athanasopoulos,
/// FPP3 §5.4): 10 without seasonality, 2m with period m, at most n/5.
pub fn default_lags(n: usize, season_length: usize) -> usize {
    let lags = if season_length > 1 {
        2 * season_length
    } else {
        10
    };
    lags.min(n / 5).max(1)
}

/// One-sample t test of mean(residuals) = 0: t = ē / (s/√n), two-sided.
pub fn bias_t_test(residuals: &[f64]) -> Result<TestResult> {
    let n = residuals.len();
    if n < 2 {
        return Err(ForecastError::arg(
            "bias_t_test",
            format!("needs at least 2 residuals, got {n}"),
        ));
    }
    let m = mean(residuals);
    let var = residuals.iter().map(|e| (e - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = m / (var / n as f64).sqrt();
    let dof = (n - 1) as f64;
    Ok(TestResult {
        statistic: t,
        p_value: t_two_sided(t, dof),
        dof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_noise_passes_and_a_sine_fails() {
        let noise: Vec<f64> = (0..200)
            .map(|i| ((i * 7919 % 1000) as f64 / 1000.0) - 0.5)
            .collect();
        let sine: Vec<f64> = (0..200).map(|i| (i as f64 / 3.0).sin()).collect();
        assert!(ljung_box(&sine, 10, 0).unwrap().p_value < 1e-10);
        assert!(
            ljung_box(&noise, 10, 0).unwrap().statistic
                < ljung_box(&sine, 10, 0).unwrap().statistic
        );
        assert!(ljung_box(&noise, 0, 0).is_err());
        let biased: Vec<f64> = noise.iter().map(|e| e + 0.2).collect();
        assert!(bias_t_test(&biased).unwrap().p_value < 1e-6);
        assert_eq!(default_lags(100, 12), 20);
        assert_eq!(default_lags(30, 1), 6);
    }
}
