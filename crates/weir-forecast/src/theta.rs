//! The Theta family (Standard, Optimized, Dynamic Standard, Dynamic
//! Optimized; Fiorucci et al. 2016) and AutoTheta, following statsforecast:
//! the same seasonal test and classical deseasonalisation, state recursion,
//! starting values, bounds, Nelder–Mead settings and MSE-based selection.
//!
//! Intervals: statsforecast simulates 200 paths; weir uses the analytic
//! SES-with-drift variance sigma^2 (1 + alpha^2 (h - 1)) with sigma from the
//! same residuals, which is deterministic and needs no sampling.

use crate::Forecast;
use crate::error::{ForecastError, Result};
use crate::math::{acf, mean, nelder_mead, seasonal_component};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThetaKind {
    /// Standard theta model: theta fixed at 2.
    Stm,
    /// Optimized theta.
    Otm,
    /// Dynamic standard theta.
    Dstm,
    /// Dynamic optimized theta.
    Dotm,
}

impl ThetaKind {
    fn dynamic(self) -> bool {
        matches!(self, ThetaKind::Dstm | ThetaKind::Dotm)
    }
    fn optimize_theta(self) -> bool {
        matches!(self, ThetaKind::Otm | ThetaKind::Dotm)
    }
    pub fn name(self) -> &'static str {
        match self {
            ThetaKind::Stm => "Theta",
            ThetaKind::Otm => "OptimizedTheta",
            ThetaKind::Dstm => "DynamicTheta",
            ThetaKind::Dotm => "DynamicOptimizedTheta",
        }
    }
}

/// One row of the state: level, running mean, A_n, B_n, one-step forecast mu.
type State = [f64; 5];

/// `pw` is (1 − alpha)^i: callers step i by one and carry the power, which
/// saves a `powi` per step in the optimiser's loop.
fn next_state(
    prev: &State,
    i: usize,
    pw: f64,
    dynamic: bool,
    alpha: f64,
    theta: f64,
    y: Option<f64>,
) -> State {
    let [level, meany, an, bn, _] = *prev;
    let mu = level + (1.0 - 1.0 / theta) * (an * pw + bn * (1.0 - pw * (1.0 - alpha)) / alpha);
    let y = y.unwrap_or(mu);
    let level = alpha * y + (1.0 - alpha) * level;
    let fi = i as f64;
    let meany_new = (fi * meany + y) / (fi + 1.0);
    let (an, bn) = if dynamic {
        let bn = ((fi - 1.0) * bn + 6.0 * (y - meany) / (fi + 1.0)) / (fi + 2.0);
        (meany_new - bn * (fi + 2.0) / 2.0, bn)
    } else {
        (an, bn)
    };
    [level, meany_new, an, bn, mu]
}

struct ThetaFit {
    kind: ThetaKind,
    alpha: f64,
    theta: f64,
    last: State,
    n: usize,
    residuals: Vec<f64>,
    mse: f64,
}

/// Runs the recursion; returns the last state and the residuals, and the
/// selection criterion (sum of squared errors after the first three, over mean |y|).
fn calc(
    y: &[f64],
    kind: ThetaKind,
    level0: f64,
    alpha: f64,
    theta: f64,
    e: &mut [f64],
) -> (State, f64) {
    let n = y.len();
    let (an, bn, mu) = if kind.dynamic() {
        (y[0], 0.0, y[0])
    } else {
        let nf = n as f64;
        let ym = mean(y);
        let wavg = y
            .iter()
            .enumerate()
            .map(|(i, v)| v * (i + 1) as f64)
            .sum::<f64>()
            / nf;
        let bn = 6.0 * (2.0 * wavg - (nf + 1.0) * ym) / (nf * nf - 1.0);
        let an = ym - (nf + 1.0) * bn / 2.0;
        (an, bn, level0 + (1.0 - 1.0 / theta) * (an + bn))
    };
    let mut st: State = [alpha * y[0] + (1.0 - alpha) * level0, y[0], an, bn, mu];
    e[0] = y[0] - mu;
    let mut pw = 1.0;
    for i in 1..n {
        pw *= 1.0 - alpha;
        st = next_state(&st, i, pw, kind.dynamic(), alpha, theta, Some(y[i]));
        e[i] = y[i] - st[4];
    }
    let mean_abs = (y.iter().map(|v| v.abs()).sum::<f64>() / n as f64).max(1e-10);
    let sse: f64 = e.iter().skip(3).map(|v| v * v).sum();
    (st, sse / mean_abs)
}

fn fit(y: &[f64], kind: ThetaKind) -> ThetaFit {
    let opt_theta = kind.optimize_theta();
    let mut x0 = vec![y[0] / 2.0, 0.5];
    let mut lo = vec![-1e10, 0.1];
    let mut hi = vec![1e10, 0.99];
    if opt_theta {
        x0.push(2.0);
        lo.push(1.0);
        hi.push(1e10);
    }
    let mut e = vec![0.0; y.len()];
    let mut objective = |p: &[f64]| {
        let theta = if opt_theta { p[2] } else { 2.0 };
        let v = calc(y, kind, p[0], p[1], theta, &mut e).1.max(-1e10);
        if v.is_nan() { f64::INFINITY } else { v }
    };
    let (best, _) = nelder_mead(&mut objective, &x0, &lo, &hi, 1e-4, 1_000);
    let theta = if opt_theta { best[2] } else { 2.0 };
    let mut e = vec![0.0; y.len()];
    let (last, mse) = calc(y, kind, best[0], best[1], theta, &mut e);
    ThetaFit {
        kind,
        alpha: best[1],
        theta,
        last,
        n: y.len(),
        residuals: e,
        mse,
    }
}

/// Theta-family forecast. `kind` None runs AutoTheta over all four.
pub fn theta(
    y: &[f64],
    h: usize,
    m: usize,
    kind: Option<ThetaKind>,
    levels: &[f64],
) -> Result<Forecast> {
    let n = y.len();
    if y.iter().any(|v| !v.is_finite()) {
        return Err(ForecastError::arg(
            "y",
            "contains missing or infinite values",
        ));
    }
    if n <= 3 {
        return Err(ForecastError::TooShort {
            model: "theta",
            needed: 4,
            got: n,
        });
    }
    // Seasonal test at 90% one-sided, as statsforecast: is lag m's
    // autocorrelation significant given the lower lags?
    let mut seasonal: Option<(Vec<f64>, bool)> = None;
    if m >= 4 && n >= 2 * m {
        let r = acf(y, m);
        let stat = ((1.0 + 2.0 * r[..m - 1].iter().map(|v| v * v).sum::<f64>()) / n as f64).sqrt();
        if r[m - 1].abs() / stat > 1.644_853_626_951_472_2 {
            let positive = y.iter().all(|v| *v > 0.0);
            let mut mult = positive;
            let mut s = seasonal_component(y, m, mult);
            if mult && s.iter().any(|v| *v < 0.01) {
                mult = false;
                s = seasonal_component(y, m, false);
            }
            seasonal = Some((s, mult));
        }
    }
    let adjusted: Vec<f64> = match &seasonal {
        Some((s, true)) => y.iter().zip(s).map(|(a, b)| a / b).collect(),
        Some((s, false)) => y.iter().zip(s).map(|(a, b)| a - b).collect(),
        None => y.to_vec(),
    };
    let kinds = kind.map_or(
        vec![
            ThetaKind::Stm,
            ThetaKind::Otm,
            ThetaKind::Dstm,
            ThetaKind::Dotm,
        ],
        |k| vec![k],
    );
    let best = kinds
        .into_iter()
        .map(|k| fit(&adjusted, k))
        .filter(|f| !f.mse.is_nan())
        .min_by(|a, b| a.mse.total_cmp(&b.mse))
        .ok_or_else(|| ForecastError::NotApplicable("theta: no model could be fitted".into()))?;
    let mut st = best.last;
    let mut mean_f = Vec::with_capacity(h);
    for j in 0..h {
        st = next_state(
            &st,
            best.n + j,
            (1.0 - best.alpha).powi((best.n + j) as i32),
            best.kind.dynamic(),
            best.alpha,
            best.theta,
            None,
        );
        mean_f.push(st[4]);
    }
    let tail = &best.residuals[3.min(best.residuals.len())..];
    let tail = if tail.len() < 2 {
        &best.residuals[..]
    } else {
        tail
    };
    let tm = mean(tail);
    let sigma = (tail.iter().map(|v| (v - tm).powi(2)).sum::<f64>()
        / (tail.len() as f64 - 1.0).max(1.0))
    .sqrt();
    let sd: Vec<f64> = (1..=h)
        .map(|k| sigma * (1.0 + best.alpha * best.alpha * (k - 1) as f64).sqrt())
        .collect();
    let method = if kind.is_none() {
        format!("AutoTheta({})", best.kind.name())
    } else {
        best.kind.name().to_string()
    };
    let mut f = Forecast::normal(mean_f, &sd, levels, &method);
    if let Some((s, mult)) = &seasonal {
        let last = &s[n - m..];
        let apply = |v: &mut Vec<f64>| {
            for (i, x) in v.iter_mut().enumerate() {
                if *mult {
                    *x *= last[i % m];
                } else {
                    *x += last[i % m];
                }
            }
        };
        apply(&mut f.mean);
        for iv in &mut f.intervals {
            apply(&mut iv.lo);
            apply(&mut iv.hi);
        }
    }
    Ok(f)
}
