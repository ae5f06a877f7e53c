//! Accuracy metrics over aligned actuals and forecasts, with the
//! conventions of Nixtla's utilsforecast (fractions, not percentages) and
//! the M4/M5 scaled errors. Pairs where either side is NaN are skipped.
//!
//! Each metric is the mean of a per-observation term in [`point`]; weir's
//! streaming SQL aggregates sum the same terms, so both give one answer.

/// Per-observation terms: a metric is the mean of its term over the rows
/// where the term is defined (`None` rows are skipped).
pub mod point {
    pub fn abs_error(y: f64, f: f64) -> f64 {
        (y - f).abs()
    }
    pub fn sq_error(y: f64, f: f64) -> f64 {
        (y - f).powi(2)
    }
    /// Absolute percentage error as a fraction; undefined where y = 0.
    pub fn ape(y: f64, f: f64) -> Option<f64> {
        (y != 0.0).then(|| ((y - f) / y).abs())
    }
    /// |y - f| / (|y| + |f|), with 0/0 = 0.
    pub fn sape(y: f64, f: f64) -> f64 {
        let d = y.abs() + f.abs();
        if d == 0.0 { 0.0 } else { (y - f).abs() / d }
    }
    /// Forecast minus actual.
    pub fn error(y: f64, f: f64) -> f64 {
        f - y
    }
    pub fn pinball(y: f64, q: f64, tau: f64) -> f64 {
        let d = y - q;
        (tau * d).max((tau - 1.0) * d)
    }
    /// 1 inside [lo, hi], else 0.
    pub fn covered(y: f64, lo: f64, hi: f64) -> f64 {
        if y >= lo && y <= hi { 1.0 } else { 0.0 }
    }
}

fn pairs<'a>(y: &'a [f64], f: &'a [f64]) -> impl Iterator<Item = (f64, f64)> + 'a {
    y.iter()
        .zip(f)
        .map(|(a, b)| (*a, *b))
        .filter(|(a, b)| !a.is_nan() && !b.is_nan())
}

fn mean_of(it: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = it.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

pub fn mae(y: &[f64], f: &[f64]) -> f64 {
    mean_of(pairs(y, f).map(|(a, b)| point::abs_error(a, b)))
}

pub fn mse(y: &[f64], f: &[f64]) -> f64 {
    mean_of(pairs(y, f).map(|(a, b)| point::sq_error(a, b)))
}

pub fn rmse(y: &[f64], f: &[f64]) -> f64 {
    mse(y, f).sqrt()
}

/// Mean absolute percentage error as a fraction; periods with y = 0 are skipped.
pub fn mape(y: &[f64], f: &[f64]) -> f64 {
    mean_of(pairs(y, f).filter_map(|(a, b)| point::ape(a, b)))
}

/// Symmetric MAPE as a fraction in [0, 1]: |y - f| / (|y| + |f|), 0/0 = 0.
/// (M4's sMAPE in percent is 200 times this.)
pub fn smape(y: &[f64], f: &[f64]) -> f64 {
    mean_of(pairs(y, f).map(|(a, b)| point::sape(a, b)))
}

/// MASE's scale: the in-sample MAE of the seasonal naive forecast with
/// period `m` (NaN when the history has no full season).
pub fn mase_scale(train: &[f64], m: usize) -> f64 {
    let m = m.max(1);
    if train.len() <= m {
        return f64::NAN;
    }
    mean_of(train.windows(m + 1).map(|w| (w[m] - w[0]).abs()))
}

/// RMSSE's scale (M5): the mean squared one-step change, counted from the
/// first non-zero value.
pub fn rmsse_scale(train: &[f64]) -> f64 {
    let start = train.iter().position(|v| *v != 0.0).unwrap_or(0);
    let t = &train[start..];
    if t.len() < 2 {
        return f64::NAN;
    }
    mean_of(t.windows(2).map(|w| (w[1] - w[0]).powi(2)))
}

/// Mean absolute scaled error (Hyndman & Koehler): MAE over the in-sample
/// MAE of the seasonal naive forecast with period `m`.
pub fn mase(y: &[f64], f: &[f64], train: &[f64], m: usize) -> f64 {
    mae(y, f) / mase_scale(train, m)
}

/// Root mean squared scaled error (M5).
pub fn rmsse(y: &[f64], f: &[f64], train: &[f64]) -> f64 {
    (mse(y, f) / rmsse_scale(train)).sqrt()
}

/// Mean forecast minus actual: positive means over-forecasting.
pub fn bias(y: &[f64], f: &[f64]) -> f64 {
    mean_of(pairs(y, f).map(|(a, b)| point::error(a, b)))
}

/// Pinball (quantile) loss of quantile forecasts `q` at level `tau`.
pub fn pinball(y: &[f64], q: &[f64], tau: f64) -> f64 {
    mean_of(pairs(y, q).map(|(a, b)| point::pinball(a, b, tau)))
}

/// Share of actuals inside [lo, hi].
pub fn coverage(y: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    mean_of(
        y.iter()
            .zip(lo.iter().zip(hi))
            .filter(|(a, (l, h))| !a.is_nan() && !l.is_nan() && !h.is_nan())
            .map(|(a, (l, h))| point::covered(*a, *l, *h)),
    )
}

/// Mean interval width.
pub fn interval_width(lo: &[f64], hi: &[f64]) -> f64 {
    mean_of(pairs(lo, hi).map(|(l, h)| h - l))
}

/// MSE split into squared bias and error variance (MSE = bias² + variance).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorDecomposition {
    pub mse: f64,
    pub bias_sq: f64,
    pub variance: f64,
}

pub fn error_decomposition(y: &[f64], f: &[f64]) -> ErrorDecomposition {
    let b = bias(y, f);
    let m = mse(y, f);
    ErrorDecomposition {
        mse: m,
        bias_sq: b * b,
        variance: m - b * b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_hand() {
        let y = [1.0, 2.0, 3.0, 4.0];
        let f = [2.0, 2.0, 2.0, 2.0];
        assert_eq!(mae(&y, &f), 1.0);
        assert_eq!(rmse(&y, &f), 1.5f64.sqrt());
        assert_eq!(bias(&y, &f), -0.5);
        let d = error_decomposition(&y, &f);
        assert!((d.bias_sq + d.variance - d.mse).abs() < 1e-15);
        // in-sample naive MAE of [1, 3, 2, 4] is (2 + 1 + 2) / 3
        assert!((mase(&y, &f, &[1.0, 3.0, 2.0, 4.0], 1) - 1.0 / (5.0 / 3.0)).abs() < 1e-15);
        assert_eq!(pinball(&[10.0], &[8.0], 0.9), 0.9 * 2.0);
        assert!((pinball(&[10.0], &[12.0], 0.9) - 0.2).abs() < 1e-15);
        assert_eq!(
            coverage(&y, &[0.0, 0.0, 3.5, 0.0], &[5.0, 5.0, 5.0, 3.0]),
            0.5
        );
        assert_eq!(smape(&[0.0], &[0.0]), 0.0);
    }
}
