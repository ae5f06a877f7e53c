//! Exponential smoothing state-space models (ETS) and AutoETS, following
//! statsforecast's `ets.py`/`ets.cpp` step for step: the same initial
//! states, starting parameters, bounds, Nelder–Mead settings, likelihood and
//! AICc, so the selected model and its forecasts agree with statsforecast.
//!
//! Intervals use the analytic variances of Hyndman et al. (2008): classes 1
//! and 2 from the c_j = w F^(j-1) g recursion (exact for every linear
//! model), class 3 (multiplicative error and season) from the moment
//! recursion of R's `forecast` package. statsforecast's port of class 3
//! freezes the mean after the first step and vectorises the mean matrix in
//! row order; weir follows R there, so step-1 intervals agree and later steps
//! use the correct recursion.

use crate::error::{ForecastError, Result};
use crate::math::{lstsq, mean, nelder_mead, seasonal_component};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comp {
    N,
    A,
    M,
}

impl Comp {
    fn letter(self) -> char {
        match self {
            Comp::N => 'N',
            Comp::A => 'A',
            Comp::M => 'M',
        }
    }
}

const TOL: f64 = 1e-10;
const HUGE_N: f64 = 1e10;
const PHI_LOWER: f64 = 0.8;
const PHI_UPPER: f64 = 0.98;
/// Longest season a seasonal ETS model is fitted for (weekly data in a year).
pub const MAX_SEASON: usize = 52;

/// A fitted ETS model: enough to forecast and to compute intervals.
#[derive(Clone, Debug)]
pub struct EtsFit {
    pub error: Comp,
    pub trend: Comp,
    pub season: Comp,
    pub damped: bool,
    pub m: usize,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
    /// State after the last observation: level, growth (if any), seasonals (most recent first).
    pub last_state: Vec<f64>,
    pub residuals: Vec<f64>,
    pub aicc: f64,
    pub aic: f64,
    pub bic: f64,
    pub sigma2: f64,
    pub n_params: usize,
}

impl EtsFit {
    /// "ETS(M,Ad,N)" as statsforecast and R print it.
    pub fn method(&self) -> String {
        format!(
            "ETS({},{}{},{})",
            self.error.letter(),
            self.trend.letter(),
            if self.damped { "d" } else { "" },
            self.season.letter()
        )
    }

    pub fn forecast_mean(&self, h: usize) -> Vec<f64> {
        let (l, b, s) = self.split_state();
        let mut f = vec![0.0; h];
        forecast_into(&mut f, l, b, s, self.m, self.trend, self.season, self.phi);
        f
    }

    fn split_state(&self) -> (f64, f64, &[f64]) {
        let has_b = self.trend != Comp::N;
        let b = if has_b { self.last_state[1] } else { 0.0 };
        (
            self.last_state[0],
            b,
            &self.last_state[1 + has_b as usize..],
        )
    }

    /// Forecast variance for steps 1..=h (None for the classes that need simulation).
    pub fn forecast_variance(&self, mean: &[f64]) -> Option<Vec<f64>> {
        let h = mean.len();
        let s2 = self.sigma2;
        match (self.error, self.trend, self.season) {
            (Comp::A, Comp::M, _) | (Comp::A, _, Comp::M) | (Comp::M, Comp::M, _) => None,
            (Comp::M, _, Comp::M) => Some(self.class3_variance(h)),
            (Comp::A, _, _) => {
                let c = self.cvals(h);
                let mut acc = 1.0;
                let mut out = Vec::with_capacity(h);
                for k in 0..h {
                    if k > 0 {
                        acc += c[k - 1] * c[k - 1];
                    }
                    out.push(s2 * acc);
                }
                Some(out)
            }
            (Comp::M, _, _) => {
                let c = self.cvals(h);
                let mut theta = vec![0.0; h];
                theta[0] = mean[0] * mean[0];
                for k in 1..h {
                    let sum: f64 = (0..k).map(|j| c[j] * c[j] * theta[k - 1 - j]).sum();
                    theta[k] = mean[k] * mean[k] + s2 * sum;
                }
                Some(
                    (0..h)
                        .map(|k| (1.0 + s2) * theta[k] - mean[k] * mean[k])
                        .collect(),
                )
            }
            (Comp::N, _, _) => None,
        }
    }

    /// c_j = w F^(j-1) g for j = 1..=h of the linear state-space form.
    fn cvals(&self, h: usize) -> Vec<f64> {
        let has_b = self.trend != Comp::N;
        let has_s = self.season != Comp::N;
        let m = if has_s { self.m } else { 0 };
        let phi = if self.damped { self.phi } else { 1.0 };
        // state: [l, b?, s_0..s_{m-1}], s_0 most recent
        let nb = has_b as usize;
        let len = 1 + nb + m;
        let mut v = vec![0.0; len];
        v[0] = self.alpha;
        if has_b {
            v[1] = self.beta;
        }
        if has_s {
            v[1 + nb] = self.gamma;
        }
        let w = |v: &[f64]| -> f64 {
            let mut r = v[0];
            if has_b {
                r += phi * v[1];
            }
            if has_s {
                r += v[len - 1];
            }
            r
        };
        let mut out = Vec::with_capacity(h);
        for _ in 0..h {
            out.push(w(&v));
            let mut next = vec![0.0; len];
            next[0] = v[0] + if has_b { phi * v[1] } else { 0.0 };
            if has_b {
                next[1] = phi * v[1];
            }
            if has_s {
                next[1 + nb] = v[len - 1];
                next[2 + nb..len].copy_from_slice(&v[1 + nb..len - 1]);
            }
            v = next;
        }
        out
    }

    fn class3_variance(&self, h: usize) -> Vec<f64> {
        let m = self.m;
        let s2 = self.sigma2;
        let has_b = self.trend != Comp::N;
        let q = 1 + has_b as usize;
        let h1 = Mat::from_rows(1, q, vec![1.0; q]);
        let mut h2v = vec![0.0; m];
        h2v[m - 1] = 1.0;
        let h2 = Mat::from_rows(1, m, h2v);
        let (f1, g1) = if has_b {
            let phi = if self.damped { self.phi } else { 1.0 };
            (
                Mat::from_rows(2, 2, vec![1.0, 1.0, 0.0, phi]),
                Mat::from_rows(2, 2, vec![self.alpha, self.alpha, self.beta, self.beta]),
            )
        } else {
            (
                Mat::from_rows(1, 1, vec![1.0]),
                Mat::from_rows(1, 1, vec![self.alpha]),
            )
        };
        let mut f2 = Mat::zeros(m, m);
        f2.set(0, m - 1, 1.0);
        for i in 1..m {
            f2.set(i, i - 1, 1.0);
        }
        let mut g2 = Mat::zeros(m, m);
        g2.set(0, m - 1, self.gamma);
        let ls = &self.last_state;
        let mut mh = Mat::zeros(q, m);
        for i in 0..q {
            for j in 0..m {
                mh.set(i, j, ls[i] * ls[q + j]);
            }
        }
        let qm = q * m;
        let mut vh = Mat::zeros(qm, qm);
        let h21 = h2.kron(&h1);
        let f21 = f2.kron(&f1);
        let g21 = g2.kron(&g1);
        let k = g2.kron(&f1).add(&f2.kron(&g1));
        let (f21t, g21t, kt, h21t) = (f21.t(), g21.t(), k.t(), h21.t());
        let (h2t, f2t, g2t) = (h2.t(), f2.t(), g2.t());
        let mut var = Vec::with_capacity(h);
        for _ in 0..h {
            let mu = h1.mul(&mh).mul(&h2t).data[0];
            let v0 = h21.mul(&vh).mul(&h21t).data[0];
            var.push((1.0 + s2) * v0 + s2 * mu * mu);
            // column-major vec(Mh), matching the Kronecker ordering
            let vec_mh: Vec<f64> = (0..m)
                .flat_map(|j| (0..q).map(move |i| (i, j)))
                .map(|(i, j)| mh.get(i, j))
                .collect();
            let outer = Mat::outer(&vec_mh);
            let a = f21.mul(&vh).mul(&f21t);
            let b = f21.mul(&vh).mul(&g21t);
            let c = g21.mul(&vh).mul(&f21t);
            let d = k.mul(&vh.add(&outer)).mul(&kt);
            let e = g21
                .mul(&vh.scale(3.0).add(&outer.scale(2.0)))
                .mul(&g21t)
                .scale(s2);
            vh = a.add(&b.add(&c).add(&d).add(&e).scale(s2));
            mh = f1.mul(&mh).mul(&f2t).add(&g1.mul(&mh).mul(&g2t).scale(s2));
        }
        var
    }
}

/// A small dense row-major matrix for the class-3 variance recursion.
#[derive(Clone)]
struct Mat {
    r: usize,
    c: usize,
    data: Vec<f64>,
}

impl Mat {
    fn zeros(r: usize, c: usize) -> Self {
        Mat {
            r,
            c,
            data: vec![0.0; r * c],
        }
    }
    fn from_rows(r: usize, c: usize, data: Vec<f64>) -> Self {
        Mat { r, c, data }
    }
    fn outer(v: &[f64]) -> Self {
        let n = v.len();
        let mut m = Mat::zeros(n, n);
        for i in 0..n {
            for j in 0..n {
                m.data[i * n + j] = v[i] * v[j];
            }
        }
        m
    }
    fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.c + j]
    }
    fn set(&mut self, i: usize, j: usize, v: f64) {
        self.data[i * self.c + j] = v;
    }
    fn t(&self) -> Self {
        let mut o = Mat::zeros(self.c, self.r);
        for i in 0..self.r {
            for j in 0..self.c {
                o.data[j * self.r + i] = self.get(i, j);
            }
        }
        o
    }
    fn mul(&self, o: &Mat) -> Mat {
        let mut out = Mat::zeros(self.r, o.c);
        for i in 0..self.r {
            for k in 0..self.c {
                let a = self.data[i * self.c + k];
                if a == 0.0 {
                    continue;
                }
                for j in 0..o.c {
                    out.data[i * o.c + j] += a * o.data[k * o.c + j];
                }
            }
        }
        out
    }
    fn add(&self, o: &Mat) -> Mat {
        let data = self.data.iter().zip(&o.data).map(|(a, b)| a + b).collect();
        Mat {
            r: self.r,
            c: self.c,
            data,
        }
    }
    fn scale(&self, s: f64) -> Mat {
        Mat {
            r: self.r,
            c: self.c,
            data: self.data.iter().map(|a| a * s).collect(),
        }
    }
    fn kron(&self, o: &Mat) -> Mat {
        let mut out = Mat::zeros(self.r * o.r, self.c * o.c);
        for i in 0..self.r {
            for j in 0..self.c {
                let a = self.get(i, j);
                for k in 0..o.r {
                    for l in 0..o.c {
                        out.set(i * o.r + k, j * o.c + l, a * o.get(k, l));
                    }
                }
            }
        }
        out
    }
}

#[allow(clippy::too_many_arguments)]
fn forecast_into(
    f: &mut [f64],
    l: f64,
    b: f64,
    s: &[f64],
    m: usize,
    trend: Comp,
    season: Comp,
    phi: f64,
) {
    let mut phistar = phi;
    let h = f.len();
    for (i, fi) in f.iter_mut().enumerate() {
        *fi = match trend {
            Comp::N => l,
            Comp::A => l + phistar * b,
            Comp::M if b < 0.0 => f64::NAN,
            Comp::M => l * b.powf(phistar),
        };
        if season != Comp::N {
            let j = (m - 1) - (i % m);
            match season {
                Comp::A => *fi += s[j],
                _ => *fi *= s[j],
            }
        }
        if i + 1 < h {
            phistar += if (phi - 1.0).abs() < TOL {
                1.0
            } else {
                phi.powi(i as i32 + 1)
            };
        }
    }
}

/// Model components and fixed parameters for one state-space pass.
#[derive(Clone, Copy)]
struct Spec {
    error: Comp,
    trend: Comp,
    season: Comp,
    m: usize,
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
}

/// Runs the model over y from `state` (updated in place to the last state).
/// Returns statsforecast's -2 log-likelihood up to a constant; fills `e`.
///
/// This is the optimiser's inner loop (hundreds of passes per candidate
/// model), so the seasonal states live in a ring buffer instead of being
/// shifted every step, and Σ ln|f_t| (multiplicative errors) is taken as the
/// log of running products, one `ln` per ~100 steps instead of one per step
/// (the logarithm was 40 % of AutoETS's time). Otherwise the arithmetic is
/// statsforecast's `etscalc`, in its order.
fn calc(state: &mut [f64], e: &mut [f64], y: &[f64], sp: &Spec) -> f64 {
    let has_s = sp.season != Comp::N;
    let m = if has_s { sp.m.max(1) } else { 1 };
    let has_b = sp.trend != Comp::N;
    let off = 1 + has_b as usize;
    let mut l = state[0];
    let mut b = if has_b { state[1] } else { 0.0 };
    // ring[(head + k) % m] is statsforecast's s[k] (s[0] the newest).
    let mut ring = vec![0.0f64; m];
    if has_s {
        ring[..m].copy_from_slice(&state[off..off + m]);
    }
    let mut head = 0usize;
    let damped_m = (sp.phi - 1.0).abs() >= TOL;
    let (mut lik, mut lik2, mut prod) = (0.0, 0.0, 1.0f64);
    let mult_error = sp.error == Comp::M;
    for (i, &yi) in y.iter().enumerate() {
        let (old_l, old_b) = (l, b);
        let oldest = if head == 0 { m - 1 } else { head - 1 };
        let last_s = ring[oldest];
        let mut f0 = match sp.trend {
            Comp::N => old_l,
            Comp::A => old_l + sp.phi * old_b,
            Comp::M if old_b < 0.0 => f64::NAN,
            Comp::M => old_l * old_b.powf(sp.phi),
        };
        match sp.season {
            Comp::N => {}
            Comp::A => f0 += last_s,
            Comp::M => f0 *= last_s,
        }
        e[i] = if sp.error == Comp::A {
            yi - f0
        } else {
            let d = if f0.abs() < TOL { f0 + TOL } else { f0 };
            (yi - f0) / d
        };
        let (q, phi_b) = match sp.trend {
            Comp::N => (old_l, 0.0),
            Comp::A => (old_l + sp.phi * old_b, sp.phi * old_b),
            Comp::M if !damped_m => (old_l * old_b, old_b),
            Comp::M => {
                let pb = old_b.powf(sp.phi);
                (old_l * pb, pb)
            }
        };
        let p = match sp.season {
            Comp::N => yi,
            Comp::A => yi - last_s,
            Comp::M => {
                if last_s.abs() < TOL {
                    HUGE_N
                } else {
                    yi / last_s
                }
            }
        };
        l = q + sp.alpha * (p - q);
        if has_b {
            let r = match sp.trend {
                Comp::A => l - old_l,
                _ => {
                    if old_l.abs() < TOL {
                        HUGE_N
                    } else {
                        l / old_l
                    }
                }
            };
            b = phi_b + (sp.beta / sp.alpha) * (r - phi_b);
        }
        if has_s {
            let t = match sp.season {
                Comp::A => yi - q,
                _ => {
                    if q.abs() < TOL {
                        HUGE_N
                    } else {
                        yi / q
                    }
                }
            };
            // The oldest slot becomes the newest state.
            ring[oldest] = last_s + sp.gamma * (t - last_s);
            head = oldest;
        }
        lik += e[i] * e[i];
        if mult_error {
            let v = f0.abs();
            prod *= if v > 0.0 { v } else { v + 1e-8 };
            // Flush well before the product could overflow or underflow.
            if !(1e-150..=1e150).contains(&prod) {
                lik2 += prod.ln();
                prod = 1.0;
            }
        }
    }
    lik2 += prod.ln();
    state[0] = l;
    if has_b {
        state[1] = b;
    }
    if has_s {
        for k in 0..m {
            state[off + k] = ring[(head + k) % m];
        }
    }
    let n = y.len() as f64;
    let mut lik = if lik > 0.0 {
        n * lik.ln()
    } else {
        n * (lik + 1e-8).ln()
    };
    if sp.error == Comp::M {
        lik += 2.0 * lik2;
    }
    lik
}

/// statsforecast's `initstate`: level (and growth) from a regression on the
/// first points of the seasonally adjusted series; m-1 seasonal states from a
/// classical decomposition (or a Fourier fit when there are < 3 seasons).
fn init_state(y: &[f64], m: usize, trend: Comp, season: Comp) -> Result<Vec<f64>> {
    let n = y.len();
    let (init_seas, y_sa, m) = if season != Comp::N {
        if n < 4 {
            return Err(ForecastError::TooShort {
                model: "ets",
                needed: 4,
                got: n,
            });
        }
        let seasonal: Vec<f64> = if n < 3 * m {
            let mut x = Vec::with_capacity(n * 4);
            for t in 1..=n {
                let a = 2.0 * std::f64::consts::PI * t as f64 / m as f64;
                x.extend_from_slice(&[1.0, t as f64, a.cos(), a.sin()]);
            }
            let cols = if m == 2 { 3 } else { 4 };
            let x: Vec<f64> = if cols == 3 {
                x.chunks(4).flat_map(|r| r[..3].to_vec()).collect()
            } else {
                x
            };
            let coef = lstsq(&x, cols, y).ok_or_else(|| {
                ForecastError::NotApplicable("ets: cannot initialise the seasonal states".into())
            })?;
            (1..=n)
                .map(|t| {
                    let tr = coef[0] + coef[1] * t as f64;
                    if season == Comp::A {
                        y[t - 1] - tr
                    } else {
                        y[t - 1] / tr
                    }
                })
                .collect()
        } else {
            seasonal_component(y, m, season == Comp::M)
        };
        let mut init: Vec<f64> = seasonal[1..m].iter().rev().copied().collect();
        let y_sa: Vec<f64> = if season == Comp::A {
            y.iter().zip(&seasonal).map(|(a, s)| a - s).collect()
        } else {
            init.iter_mut().for_each(|v| *v = v.max(1e-2));
            let sum: f64 = init.iter().sum();
            if sum > m as f64 {
                let d: f64 = init.iter().map(|v| v + 1e-2).sum();
                init.iter_mut().for_each(|v| *v /= d);
            }
            y.iter()
                .zip(&seasonal)
                .map(|(a, s)| a / s.max(1e-2))
                .collect()
        };
        (init, y_sa, m)
    } else {
        (Vec::new(), y.to_vec(), 1)
    };
    let maxn = (2 * m).max(10).min(n);
    let mut out = Vec::with_capacity(2 + init_seas.len());
    if trend == Comp::N {
        out.push(mean(&y_sa[..maxn]));
    } else {
        let x: Vec<f64> = (1..=maxn).flat_map(|t| [1.0, t as f64]).collect();
        let c = lstsq(&x, 2, &y_sa[..maxn]).ok_or_else(|| {
            ForecastError::NotApplicable("ets: cannot initialise the trend".into())
        })?;
        let (l, b) = (c[0], c[1]);
        if trend == Comp::A {
            let (mut l0, mut b0) = (l, b);
            if (l0 + b0).abs() < 1e-8 {
                l0 *= 1.0 + 1e-3;
                b0 *= 1.0 - 1e-3;
            }
            out.extend_from_slice(&[l0, b0]);
        } else {
            let mut l0 = l + b;
            if l0.abs() < 1e-8 {
                l0 = 1e-7;
            }
            let mut b0 = (l + 2.0 * b) / l0;
            let div = if b0.abs() <= 1e-8 { 1e-8 } else { b0 };
            l0 /= div;
            if b0.abs() > 1e10 {
                b0 = b0.signum() * 1e10;
            }
            if l0 < 1e-8 || b0 < 1e-8 {
                l0 = y_sa[0].max(1e-3);
                let div = if y_sa[0].abs() <= 1e-8 { 1e-8 } else { y_sa[0] };
                b0 = (y_sa[1] / div).max(1e-3);
            }
            out.extend_from_slice(&[l0, b0]);
        }
    }
    out.extend(init_seas);
    Ok(out)
}

/// Fits one ETS model with optimised parameters. `upper` is shared across
/// the candidates of one AutoETS search, as in statsforecast, where choosing
/// the starting beta and gamma narrows the bounds for later candidates too.
fn fit_one(
    y: &[f64],
    m: usize,
    error: Comp,
    trend: Comp,
    season: Comp,
    damped: bool,
    upper: &mut [f64; 4],
) -> Result<Option<EtsFit>> {
    let lower = [0.0001, 0.0001, 0.0001, PHI_LOWER];
    let m = if season == Comp::N { 1 } else { m };
    let mut alpha = lower[0] + 0.2 * (upper[0] - lower[0]) / m as f64;
    if !(0.0..=1.0).contains(&alpha) {
        alpha = lower[0] + 2e-3;
    }
    let mut par = vec![alpha];
    let mut lo = vec![lower[0]];
    let mut hi = vec![upper[0]];
    if trend != Comp::N {
        upper[1] = upper[1].min(alpha);
        let mut beta = lower[1] + 0.1 * (upper[1] - lower[1]);
        if beta < 0.0 || beta > alpha {
            beta = alpha - 1e-3;
        }
        par.push(beta);
        lo.push(lower[1]);
        hi.push(upper[1]);
    }
    if season != Comp::N {
        upper[2] = upper[2].min(1.0 - alpha);
        let mut gamma = lower[2] + 0.05 * (upper[2] - lower[2]);
        if gamma < 0.0 || gamma > 1.0 - alpha {
            gamma = 1.0 - alpha - 1e-3;
        }
        par.push(gamma);
        lo.push(lower[2]);
        hi.push(upper[2]);
    }
    if damped {
        let mut phi = lower[3] + 0.99 * (upper[3] - lower[3]);
        if !(0.0..=1.0).contains(&phi) {
            phi = upper[3] - 1e-3;
        }
        par.push(phi);
        lo.push(lower[3]);
        hi.push(upper[3]);
    }
    let n_smooth = par.len();
    let init = init_state(y, m, trend, season)?;
    let nstate = init.len();
    par.extend_from_slice(&init);
    lo.resize(par.len(), f64::NEG_INFINITY);
    hi.resize(par.len(), f64::INFINITY);
    let np = par.len();
    if np + 1 >= y.len() {
        return Ok(None);
    }
    let has_b = trend != Comp::N;
    let unpack = |p: &[f64]| -> (Spec, Vec<f64>) {
        let mut j = 1;
        let beta = if has_b {
            j += 1;
            p[j - 1]
        } else {
            0.0
        };
        let gamma = if season != Comp::N {
            j += 1;
            p[j - 1]
        } else {
            0.0
        };
        let phi = if damped { p[j] } else { 1.0 };
        let mut state = p[n_smooth..].to_vec();
        if season != Comp::N {
            let start = 1 + has_b as usize;
            let sum: f64 = state[start..nstate].iter().sum();
            state.push(if season == Comp::M { m as f64 } else { 0.0 } - sum);
        }
        (
            Spec {
                error,
                trend,
                season,
                m,
                alpha: p[0],
                beta,
                gamma,
                phi,
            },
            state,
        )
    };
    let mut e = vec![0.0; y.len()];
    let mut objective = |p: &[f64]| -> f64 {
        let (sp, mut state) = unpack(p);
        if season == Comp::M && state[1 + has_b as usize..].iter().any(|v| *v < 0.0) {
            return f64::INFINITY;
        }
        let lik = calc(&mut state, &mut e, y, &sp).max(-1e10);
        if lik.is_nan() { f64::INFINITY } else { lik }
    };
    let (best, _) = nelder_mead(&mut objective, &par, &lo, &hi, 1e-4, 1_000);
    let (sp, mut state) = unpack(&best);
    let mut e = vec![0.0; y.len()];
    let lik = calc(&mut state, &mut e, y, &sp);
    if !lik.is_finite() {
        return Ok(None);
    }
    let n = y.len() as f64;
    let k = (np + 1) as f64;
    let aic = lik + 2.0 * k;
    let bic = lik + n.ln() * k;
    let aicc = if n - k - 1.0 != 0.0 {
        aic + 2.0 * k * (k + 1.0) / (n - k - 1.0)
    } else {
        f64::INFINITY
    };
    let sigma2 = e.iter().map(|v| v * v).sum::<f64>() / (n - k - 1.0);
    Ok(Some(EtsFit {
        error,
        trend,
        season,
        damped,
        m,
        alpha: sp.alpha,
        beta: sp.beta,
        gamma: sp.gamma,
        phi: sp.phi,
        last_state: state,
        residuals: e,
        aicc,
        aic,
        bic,
        sigma2,
        n_params: np + 1,
    }))
}

fn parse_model(model: &str) -> Result<[Option<Comp>; 3]> {
    let bad = || {
        ForecastError::arg(
            "ets model",
            format!("'{model}' must be three letters: error A|M|Z, trend N|A|M|Z, season N|A|M|Z"),
        )
    };
    let chars: Vec<char> = model.chars().collect();
    if chars.len() != 3 {
        return Err(bad());
    }
    let mut out = [None; 3];
    for (i, c) in chars.iter().enumerate() {
        out[i] = match c.to_ascii_uppercase() {
            'N' if i > 0 => Some(Comp::N),
            'A' => Some(Comp::A),
            // statsforecast leaves multiplicative trend out of its search by
            // default, and its intervals need simulation: not offered.
            'M' if i == 1 => {
                return Err(ForecastError::arg(
                    "ets model",
                    format!("'{model}': multiplicative trend is not supported; use A, N or Z"),
                ));
            }
            'M' => Some(Comp::M),
            'Z' => None,
            _ => return Err(bad()),
        };
    }
    Ok(out)
}

/// AutoETS: fits every admissible model in the `model` pattern ("ZZZ"
/// searches all; "AAN" is Holt) and keeps the lowest AICc.
pub fn auto_ets(y: &[f64], m: usize, model: &str, damped: Option<bool>) -> Result<EtsFit> {
    let [e_sel, t_sel, s_sel] = parse_model(model)?;
    let n = y.len();
    if y.iter().any(|v| !v.is_finite()) {
        return Err(ForecastError::arg(
            "y",
            "contains missing or infinite values",
        ));
    }
    if n == 0 {
        return Err(ForecastError::TooShort {
            model: "auto_ets",
            needed: 1,
            got: 0,
        });
    }
    if y.iter().all(|v| *v == y[0]) {
        return Ok(EtsFit {
            error: Comp::A,
            trend: Comp::N,
            season: Comp::N,
            damped: false,
            m: 1,
            alpha: 0.9999,
            beta: 0.0,
            gamma: 0.0,
            phi: 1.0,
            last_state: vec![y[0]],
            residuals: vec![0.0; n],
            aicc: f64::NEG_INFINITY,
            aic: f64::NEG_INFINITY,
            bic: f64::NEG_INFINITY,
            sigma2: 0.0,
            n_params: 2,
        });
    }
    let mut s_sel = s_sel;
    if m < 1 || n <= m {
        s_sel = Some(Comp::N);
    }
    if m <= 1 {
        if matches!(s_sel, Some(Comp::A | Comp::M)) {
            return Err(ForecastError::arg(
                "season_length",
                "a seasonal ETS model needs season_length > 1",
            ));
        }
        s_sel = Some(Comp::N);
    }
    // The seasonal state has m values and the class-3 variance works on
    // (2m)^2 matrices; like R's ets, longer seasons are left to other models.
    if m > MAX_SEASON && s_sel != Some(Comp::N) {
        if s_sel.is_some() {
            return Err(ForecastError::arg(
                "season_length",
                format!(
                    "seasonal ETS supports season_length up to {MAX_SEASON}, got {m}; use auto_theta for longer seasons"
                ),
            ));
        }
        s_sel = Some(Comp::N);
    }
    let forbidden = |e: Comp, t: Comp, s: Comp| {
        (e == Comp::A && (t == Comp::M || s == Comp::M))
            || (e == Comp::M && t == Comp::M && s == Comp::A)
    };
    if let (Some(e), Some(t), Some(s)) = (e_sel, t_sel, s_sel)
        && forbidden(e, t, s)
    {
        return Err(ForecastError::arg(
            "ets model",
            format!("'{model}' is a forbidden combination (unstable)"),
        ));
    }
    let positive = y.iter().all(|v| *v > 0.0);
    if !positive && e_sel == Some(Comp::M) {
        return Err(ForecastError::NotApplicable(
            "multiplicative errors need strictly positive data".into(),
        ));
    }
    let mut npars = 2;
    if matches!(t_sel, Some(Comp::A | Comp::M)) {
        npars += 2;
    }
    if matches!(s_sel, Some(Comp::A | Comp::M)) {
        npars += 2;
    }
    if damped == Some(true) {
        npars += 1;
    }
    if n <= npars + 4 {
        return Err(ForecastError::TooShort {
            model: "auto_ets",
            needed: npars + 5,
            got: n,
        });
    }
    let errors = e_sel.map_or(vec![Comp::A, Comp::M], |c| vec![c]);
    let trends = t_sel.map_or(vec![Comp::N, Comp::A], |c| vec![c]);
    let seasons = s_sel.map_or(vec![Comp::N, Comp::A, Comp::M], |c| vec![c]);
    let dampings = damped.map_or(vec![true, false], |d| vec![d]);
    let mut upper = [0.9999, 0.9999, 0.9999, PHI_UPPER];
    let mut best: Option<EtsFit> = None;
    let mut best_ic = f64::INFINITY;
    for &e in &errors {
        for &t in &trends {
            for &s in &seasons {
                for &d in &dampings {
                    if (t == Comp::N && d)
                        || forbidden(e, t, s)
                        || (!positive && (e == Comp::M || s == Comp::M))
                        || (s != Comp::N && m == 1)
                    {
                        continue;
                    }
                    if let Some(fit) = fit_one(y, m, e, t, s, d, &mut upper)?
                        && fit.aicc < best_ic
                    {
                        best_ic = fit.aicc;
                        best = Some(fit);
                    }
                }
            }
        }
    }
    best.ok_or_else(|| {
        ForecastError::NotApplicable("auto_ets: no ETS model could be fitted to this series".into())
    })
}
