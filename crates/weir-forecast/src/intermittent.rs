//! Intermittent-demand models: Croston (classic, optimized, SBA), TSB,
//! ADIDA and IMAPA, with statsforecast's exact point forecasts.
//!
//! statsforecast has no native intervals for these (only conformal ones);
//! weir gives a normal interval from the in-sample one-step errors of the
//! same recursion, constant over the horizon and floored at zero when the
//! history has no negative values, so a newsvendor step always has a spread.

use crate::baseline::{ses_forecast, ses_optimized};
use crate::error::{ForecastError, Result};
use crate::{Forecast, need};

/// Non-zero demand sizes (statsforecast's `_demand` keeps values > 0).
fn demand(y: &[f64]) -> Vec<f64> {
    y.iter().copied().filter(|v| *v > 0.0).collect()
}

/// Periods between non-zero values, the first counted from the series start.
fn intervals(y: &[f64]) -> Vec<f64> {
    let mut prev = 0usize;
    let mut out = Vec::new();
    for (i, v) in y.iter().enumerate() {
        if *v != 0.0 {
            out.push((i + 1 - prev) as f64);
            prev = i + 1;
        }
    }
    out
}

/// One-step errors of a level forecast that is updated after each demand:
/// `level_at(t)` gives the forecast made before observing y[t].
fn level_sigma(y: &[f64], level_at: impl Fn(usize) -> f64) -> f64 {
    let errs: Vec<f64> = (1..y.len())
        .map(|t| y[t] - level_at(t))
        .filter(|e| e.is_finite())
        .collect();
    if errs.is_empty() {
        return 0.0;
    }
    (errs.iter().map(|e| e * e).sum::<f64>() / errs.len() as f64).sqrt()
}

fn finish(y: &[f64], value: f64, sigma: f64, h: usize, levels: &[f64], name: &str) -> Forecast {
    let mut f = Forecast::normal(vec![value; h], &vec![sigma; h], levels, name);
    if y.iter().all(|v| *v >= 0.0) {
        for iv in &mut f.intervals {
            iv.lo.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    }
    f
}

/// Croston's in-sample forecasts: sizes and intervals smoothed only when a
/// demand occurs, so the forecast before y[t] is size/interval after the
/// last demand strictly before t.
fn croston_path(y: &[f64], alpha_d: f64, alpha_p: f64) -> Vec<f64> {
    let mut out = vec![f64::NAN; y.len()];
    let (mut z, mut p) = (f64::NAN, f64::NAN);
    let mut since = 0usize;
    for t in 0..y.len() {
        out[t] = if z.is_nan() { f64::NAN } else { z / p };
        since += 1;
        if y[t] > 0.0 {
            if z.is_nan() {
                z = y[t];
                p = since as f64;
            } else {
                z += alpha_d * (y[t] - z);
                p += alpha_p * (since as f64 - p);
            }
            since = 0;
        }
    }
    out
}

fn croston(
    y: &[f64],
    h: usize,
    levels: &[f64],
    optimized: bool,
    factor: f64,
    name: &'static str,
) -> Result<Forecast> {
    need(name, y, 1)?;
    let yd = demand(y);
    if yd.is_empty() {
        return crate::baseline::naive(y, h, levels).map(|mut f| {
            f.method = name.into();
            f
        });
    }
    let yi = intervals(y);
    let ((zp, ad), (pp, ap)) = if optimized {
        (ses_optimized(&yd, 0.1, 0.3), ses_optimized(&yi, 0.1, 0.3))
    } else {
        (
            (ses_forecast(&yd, 0.1).0, 0.1),
            (ses_forecast(&yi, 0.1).0, 0.1),
        )
    };
    let mean = if pp != 0.0 { zp / pp } else { zp };
    let path = croston_path(y, ad, ap);
    let sigma = level_sigma(y, |t| path[t] * factor);
    Ok(finish(y, mean * factor, sigma, h, levels, name))
}

pub fn croston_classic(y: &[f64], h: usize, levels: &[f64]) -> Result<Forecast> {
    croston(y, h, levels, false, 1.0, "CrostonClassic")
}

pub fn croston_optimized(y: &[f64], h: usize, levels: &[f64]) -> Result<Forecast> {
    croston(y, h, levels, true, 1.0, "CrostonOptimized")
}

/// Syntetos–Boylan approximation: Croston classic times (1 - alpha/2) = 0.95.
pub fn croston_sba(y: &[f64], h: usize, levels: &[f64]) -> Result<Forecast> {
    croston(y, h, levels, false, 0.95, "CrostonSBA")
}

/// Teunter–Syntetos–Babai: SES on demand size (updated on demand) and on
/// the probability of demand (updated every period).
pub fn tsb(y: &[f64], h: usize, alpha_d: f64, alpha_p: f64, levels: &[f64]) -> Result<Forecast> {
    for (name, a) in [("alpha_d", alpha_d), ("alpha_p", alpha_p)] {
        if !(0.0..=1.0).contains(&a) {
            return Err(ForecastError::arg(name, format!("{a} is outside [0, 1]")));
        }
    }
    need("tsb", y, 1)?;
    if y.iter().all(|v| *v == 0.0) {
        return Ok(finish(y, 0.0, 0.0, h, levels, "TSB"));
    }
    let yd = demand(y);
    let yp: Vec<f64> = y
        .iter()
        .map(|v| if *v != 0.0 { 1.0 } else { 0.0 })
        .collect();
    let (pf, p_fit) = ses_forecast(&yp, alpha_p);
    let (df, _) = ses_forecast(&yd, alpha_d);
    // Demand-size path before each period, for the in-sample errors.
    let mut size_before = vec![f64::NAN; y.len()];
    let mut z = f64::NAN;
    for t in 0..y.len() {
        size_before[t] = z;
        if y[t] > 0.0 {
            z = if z.is_nan() {
                y[t]
            } else {
                z + alpha_d * (y[t] - z)
            };
        }
    }
    let sigma = level_sigma(y, |t| p_fit[t] * size_before[t]);
    Ok(finish(y, pf * df, sigma, h, levels, "TSB"))
}

/// Bucket sums of `size`, dropping the oldest `len % size` points, then
/// optimized SES on the sums (statsforecast's `chunk_forecast`).
fn chunk_forecast(y: &[f64], size: usize) -> f64 {
    let lost = y.len() % size;
    let sums: Vec<f64> = y[lost..].chunks(size).map(|c| c.iter().sum()).collect();
    match sums.len() {
        0 => y[y.len() - 1],
        1 => sums[0],
        _ => ses_optimized(&sums, 0.1, 0.3).0,
    }
}

fn mean_interval_level(y: &[f64]) -> usize {
    let iv = intervals(y);
    ((iv.iter().sum::<f64>() / iv.len() as f64).round() as usize).max(1)
}

/// Aggregate–disaggregate intermittent demand approach (Nikolopoulos et al.).
pub fn adida(y: &[f64], h: usize, levels: &[f64]) -> Result<Forecast> {
    need("adida", y, 1)?;
    if y.iter().all(|v| *v == 0.0) {
        return Ok(finish(y, 0.0, 0.0, h, levels, "ADIDA"));
    }
    let k = mean_interval_level(y);
    let value = chunk_forecast(y, k) / k as f64;
    let sigma = level_sigma(y, |_| value);
    Ok(finish(y, value, sigma, h, levels, "ADIDA"))
}

/// Intermittent multiple aggregation prediction algorithm: ADIDA averaged
/// over every aggregation level 1..=round(mean interval).
pub fn imapa(y: &[f64], h: usize, levels: &[f64]) -> Result<Forecast> {
    need("imapa", y, 1)?;
    if y.iter().all(|v| *v == 0.0) {
        return Ok(finish(y, 0.0, 0.0, h, levels, "IMAPA"));
    }
    let kmax = mean_interval_level(y);
    let value = (1..=kmax)
        .map(|k| chunk_forecast(y, k) / k as f64)
        .sum::<f64>()
        / kmax as f64;
    let sigma = level_sigma(y, |_| value);
    Ok(finish(y, value, sigma, h, levels, "IMAPA"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_count_from_the_start() {
        assert_eq!(
            intervals(&[0.0, 3.0, 0.0, 0.0, 1.0, 2.0]),
            vec![2.0, 3.0, 1.0]
        );
    }

    #[test]
    fn croston_classic_by_hand() {
        // sizes 3, 1, 2 -> SES(0.1) = 0.1*2 + 0.9*(0.1*1 + 0.9*3) = 2.72
        // intervals 2, 3, 1 -> 0.1*1 + 0.9*(0.1*3 + 0.9*2) = 1.99
        let f = croston_classic(&[0.0, 3.0, 0.0, 0.0, 1.0, 2.0], 2, &[]).unwrap();
        assert!((f.mean[0] - 2.72 / 1.99).abs() < 1e-12, "{}", f.mean[0]);
        let sba = croston_sba(&[0.0, 3.0, 0.0, 0.0, 1.0, 2.0], 2, &[]).unwrap();
        assert!((sba.mean[0] - 0.95 * 2.72 / 1.99).abs() < 1e-12);
    }

    #[test]
    fn all_zero_series_forecast_zero() {
        let y = [0.0; 10];
        assert_eq!(adida(&y, 3, &[]).unwrap().mean, vec![0.0; 3]);
        assert_eq!(imapa(&y, 3, &[]).unwrap().mean, vec![0.0; 3]);
        assert_eq!(croston_classic(&y, 3, &[]).unwrap().mean, vec![0.0; 3]);
    }
}
