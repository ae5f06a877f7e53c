//! MSTL as statsforecast's `MSTL(season_length)`: the series is split into
//! one seasonal component per period by iterated STL (statsmodels' `STL`
//! with `seasonal=7+4k`, `seasonal_deg=0`, its default trend and low-pass
//! windows, 5 inner iterations, no robustness), each seasonal component is
//! forecast by repeating its last period, and the rest (trend + remainder)
//! by AutoETS with no seasonality (`ZZN`), whose intervals carry over.
//!
//! STL here is Cleveland et al.'s algorithm (J. Official Statistics 6, 1990)
//! in the order of the reference Fortran that statsmodels wraps, with unit
//! jumps (statsmodels' defaults), so decompositions agree to round-off.
//! One departure: periods with fewer than two full cycles in the data are
//! dropped, as R's `forecast::mstl` does (statsforecast would fail).

use crate::{Forecast, ForecastError, Result};

/// STL decomposition settings (statsmodels' names).
#[derive(Clone, Copy, Debug)]
pub struct Stl {
    pub period: usize,
    pub seasonal: usize,
    pub trend: usize,
    pub low_pass: usize,
    pub seasonal_deg: usize,
    pub trend_deg: usize,
    pub low_pass_deg: usize,
    pub inner_iter: usize,
}

impl Stl {
    /// statsmodels' defaults for `STL(period=p, seasonal=s, seasonal_deg=0)`.
    pub fn new(period: usize, seasonal: usize) -> Stl {
        let odd = |v: usize| if v.is_multiple_of(2) { v + 1 } else { v };
        let trend = (1.5 * period as f64 / (1.0 - 1.5 / seasonal as f64)).ceil() as usize;
        Stl {
            period,
            seasonal,
            trend: odd(trend),
            low_pass: odd(period + 1),
            seasonal_deg: 0,
            trend_deg: 1,
            low_pass_deg: 1,
            inner_iter: 5,
        }
    }

    /// (seasonal, trend) of `y`.
    pub fn fit(&self, y: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let n = y.len();
        let np = self.period;
        let mut season = vec![0.0; n];
        let mut trend = vec![0.0; n];
        let mut detrended = vec![0.0; n];
        let mut cycle = vec![0.0; n + 2 * np];
        let mut low = vec![0.0; n + 2 * np];
        let mut smooth_low = vec![0.0; n];
        for _ in 0..self.inner_iter {
            for i in 0..n {
                detrended[i] = y[i] - trend[i];
            }
            self.subseries(&detrended, &mut cycle);
            low_pass_filter(&cycle, np, &mut low);
            loess(&low[..n], self.low_pass, self.low_pass_deg, &mut smooth_low);
            for i in 0..n {
                season[i] = cycle[np + i] - smooth_low[i];
                detrended[i] = y[i] - season[i];
            }
            loess(&detrended, self.trend, self.trend_deg, &mut trend);
        }
        (season, trend)
    }

    /// Smooths each cycle-subseries and extends it one period at both ends;
    /// `out` has n + 2·period values.
    fn subseries(&self, y: &[f64], out: &mut [f64]) {
        let (n, np, ns) = (y.len(), self.period, self.seasonal);
        let mut sub = Vec::with_capacity(n / np + 1);
        let mut smooth = Vec::with_capacity(n / np + 3);
        let mut w = Vec::with_capacity(ns);
        for j in 0..np {
            sub.clear();
            sub.extend((j..n).step_by(np).map(|i| y[i]));
            let k = sub.len();
            smooth.clear();
            smooth.resize(k + 2, 0.0);
            loess(&sub, ns, self.seasonal_deg, &mut smooth[1..k + 1]);
            let nright = ns.min(k);
            smooth[0] =
                estimate(&sub, ns, self.seasonal_deg, 0.0, 1, nright, &mut w).unwrap_or(smooth[1]);
            let nleft = if k >= ns { k - ns + 1 } else { 1 };
            smooth[k + 1] = estimate(
                &sub,
                ns,
                self.seasonal_deg,
                (k + 1) as f64,
                nleft,
                k,
                &mut w,
            )
            .unwrap_or(smooth[k]);
            for (m, v) in smooth.iter().enumerate() {
                out[m * np + j] = *v;
            }
        }
    }
}

/// Moving averages of lengths period, period and 3: n + 2·period values in,
/// n out.
fn low_pass_filter(x: &[f64], np: usize, out: &mut [f64]) {
    let a = moving_average(x, np);
    let b = moving_average(&a, np);
    let c = moving_average(&b, 3);
    out[..c.len()].copy_from_slice(&c);
}

fn moving_average(x: &[f64], len: usize) -> Vec<f64> {
    let newn = x.len() + 1 - len;
    let mut out = Vec::with_capacity(newn);
    let mut v: f64 = x[..len].iter().sum();
    out.push(v / len as f64);
    for j in 1..newn {
        v = v - x[j - 1] + x[len + j - 1];
        out.push(v / len as f64);
    }
    out
}

/// LOESS of y at every position 1..=n with window `len` (stless, jump 1).
fn loess(y: &[f64], len: usize, deg: usize, out: &mut [f64]) {
    let n = y.len();
    if n < 2 {
        out[0] = y[0];
        return;
    }
    let mut w = Vec::with_capacity(len.min(n));
    if len >= n {
        for i in 1..=n {
            out[i - 1] = estimate(y, len, deg, i as f64, 1, n, &mut w).unwrap_or(y[i - 1]);
        }
        return;
    }
    let nsh = len.div_ceil(2);
    let (mut nleft, mut nright) = (1, len);
    for i in 1..=n {
        if i > nsh && nright != n {
            nleft += 1;
            nright += 1;
        }
        out[i - 1] = estimate(y, len, deg, i as f64, nleft, nright, &mut w).unwrap_or(y[i - 1]);
    }
}

/// The local fit at position `xs` over points nleft..=nright (1-based):
/// tricube weights, degree 0 or 1 (stlest). None when every weight is 0.
fn estimate(
    y: &[f64],
    len: usize,
    deg: usize,
    xs: f64,
    nleft: usize,
    nright: usize,
    w: &mut Vec<f64>,
) -> Option<f64> {
    let n = y.len();
    let range = n as f64 - 1.0;
    let mut h = (xs - nleft as f64).max(nright as f64 - xs);
    if len > n {
        h += ((len - n) / 2) as f64;
    }
    let (h9, h1) = (0.999 * h, 0.001 * h);
    // `w` is the caller's scratch: this runs once per point per pass.
    w.clear();
    w.resize(nright - nleft + 1, 0.0);
    let mut a = 0.0;
    for (k, j) in (nleft..=nright).enumerate() {
        let r = (j as f64 - xs).abs();
        if r <= h9 {
            w[k] = if r <= h1 {
                1.0
            } else {
                (1.0 - (r / h).powi(3)).powi(3)
            };
            a += w[k];
        }
    }
    if a <= 0.0 {
        return None;
    }
    for v in w.iter_mut() {
        *v /= a;
    }
    if h > 0.0 && deg > 0 {
        let a: f64 = (nleft..=nright)
            .zip(w.iter())
            .map(|(j, wj)| wj * j as f64)
            .sum();
        let mut b = xs - a;
        let c: f64 = (nleft..=nright)
            .zip(w.iter())
            .map(|(j, wj)| wj * (j as f64 - a).powi(2))
            .sum();
        if c.sqrt() > 0.001 * range {
            b /= c;
            for (j, wj) in (nleft..=nright).zip(w.iter_mut()) {
                *wj *= b * (j as f64 - a) + 1.0;
            }
        }
    }
    Some(
        (nleft..=nright)
            .zip(w.iter())
            .map(|(j, wj)| wj * y[j - 1])
            .sum(),
    )
}

/// MSTL decomposition: one seasonal component per period (ascending) and
/// the deseasonalised series (trend + remainder).
pub fn decompose(y: &[f64], periods: &[usize]) -> (Vec<usize>, Vec<Vec<f64>>, Vec<f64>) {
    let n = y.len();
    let mut periods: Vec<usize> = periods
        .iter()
        .copied()
        .filter(|&p| p > 1 && 2 * p < n)
        .collect();
    periods.sort_unstable();
    periods.dedup();
    let iterate = if periods.len() > 1 { 2 } else { 1 };
    let mut seas = vec![vec![0.0; n]; periods.len()];
    let mut deseas = y.to_vec();
    for _ in 0..iterate {
        for (i, &p) in periods.iter().enumerate() {
            for t in 0..n {
                deseas[t] += seas[i][t];
            }
            let (s, _) = Stl::new(p, 7 + 4 * (i + 1)).fit(&deseas);
            for t in 0..n {
                deseas[t] -= s[t];
            }
            seas[i] = s;
        }
    }
    (periods, seas, deseas)
}

/// Forecast: AutoETS(ZZN) on the deseasonalised series plus each seasonal
/// component's last period repeated.
pub fn mstl(y: &[f64], periods: &[usize], h: usize, levels: &[f64]) -> Result<Forecast> {
    if y.iter().any(|v| !v.is_finite()) {
        return Err(ForecastError::arg(
            "mstl",
            "the series has missing or infinite values",
        ));
    }
    crate::need("mstl", y, 3)?;
    let (periods, seas, deseas) = decompose(y, periods);
    let mut f = crate::forecast(&deseas, "auto_ets(model=ZZN)", h, 1, levels)?;
    let n = y.len();
    for (p, s) in periods.iter().zip(&seas) {
        let last = &s[n - p..];
        for step in 0..h {
            let add = last[step % p];
            f.mean[step] += add;
            for iv in &mut f.intervals {
                iv.lo[step] += add;
                iv.hi[step] += add;
            }
        }
    }
    f.method = "MSTL".to_string();
    Ok(f)
}
