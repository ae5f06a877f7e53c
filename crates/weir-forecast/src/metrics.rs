//! Accuracy metrics over aligned actuals and forecasts, with the
//! conventions of Nixtla's utilsforecast (fractions, not percentages) and
//! the M4/M5 scaled errors. Pairs where either side is NaN are skipped.

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
    mean_of(pairs(y, f).map(|(a, b)| (a - b).abs()))
}

pub fn mse(y: &[f64], f: &[f64]) -> f64 {
    mean_of(pairs(y, f).map(|(a, b)| (a - b).powi(2)))
}

pub fn rmse(y: &[f64], f: &[f64]) -> f64 {
    mse(y, f).sqrt()
}

/// Mean absolute percentage error as a fraction; periods with y = 0 are skipped.
pub fn mape(y: &[f64], f: &[f64]) -> f64 {
    mean_of(
        pairs(y, f)
            .filter(|(a, _)| *a != 0.0)
            .map(|(a, b)| ((a - b) / a).abs()),
    )
}

/// Symmetric MAPE as a fraction in [0, 1]: |y - f| / (|y| + |f|), 0/0 = 0.
/// (M4's sMAPE in percent is 200 times this.)
pub fn smape(y: &[f64], f: &[f64]) -> f64 {
    mean_of(pairs(y, f).map(|(a, b)| {
        let d = a.abs() + b.abs();
        if d == 0.0 { 0.0 } else { (a - b).abs() / d }
    }))
}

/// Mean of the seasonal-naive absolute (or squared) in-sample differences.
fn naive_scale(train: &[f64], m: usize, squared: bool) -> f64 {
    let m = m.max(1);
    if train.len() <= m {
        return f64::NAN;
    }
    mean_of(train.windows(m + 1).map(|w| {
        let d = w[m] - w[0];
        if squared { d * d } else { d.abs() }
    }))
}

/// Mean absolute scaled error (Hyndman & Koehler): MAE over the in-sample
/// MAE of the seasonal naive forecast with period `m`.
pub fn mase(y: &[f64], f: &[f64], train: &[f64], m: usize) -> f64 {
    mae(y, f) / naive_scale(train, m, false)
}

/// Root mean squared scaled error (M5): scale from the first non-zero sale.
pub fn rmsse(y: &[f64], f: &[f64], train: &[f64], m: usize) -> f64 {
    let start = train.iter().position(|v| *v != 0.0).unwrap_or(0);
    (mse(y, f) / naive_scale(&train[start..], m, true)).sqrt()
}

/// Mean forecast minus actual: positive means over-forecasting.
pub fn bias(y: &[f64], f: &[f64]) -> f64 {
    mean_of(pairs(y, f).map(|(a, b)| b - a))
}

/// Pinball (quantile) loss of quantile forecasts `q` at level `tau`.
pub fn pinball(y: &[f64], q: &[f64], tau: f64) -> f64 {
    mean_of(pairs(y, q).map(|(a, b)| {
        let d = a - b;
        (tau * d).max((tau - 1.0) * d)
    }))
}

/// Share of actuals inside [lo, hi].
pub fn coverage(y: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    mean_of(
        y.iter()
            .zip(lo.iter().zip(hi))
            .filter(|(a, (l, h))| !a.is_nan() && !l.is_nan() && !h.is_nan())
            .map(|(a, (l, h))| if *a >= *l && *a <= *h { 1.0 } else { 0.0 }),
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
