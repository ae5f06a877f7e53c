//! Numerical building blocks shared by the kernels: the normal distribution,
//! sample quantiles, small least squares, the Nelder–Mead and golden-section
//! optimizers, autocorrelation and classical decomposition.
//!
//! The optimizers follow statsforecast's own (not scipy's) so that fitted
//! parameters, and therefore forecasts, agree with it to the printed digits.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// Standard normal density.
pub fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

/// Standard normal distribution function, accurate to about 1e-15.
pub fn norm_cdf(x: f64) -> f64 {
    if x < 0.0 {
        0.5 * erfc(-x * FRAC_1_SQRT_2)
    } else {
        1.0 - 0.5 * erfc(x * FRAC_1_SQRT_2)
    }
}

/// Upper tail P(Z > x) without cancellation for large x.
pub fn norm_sf(x: f64) -> f64 {
    norm_cdf(-x)
}

/// Complementary error function. A positive-term series below 1.5 (no
/// cancellation) and a continued fraction above it (where 1 - erf would cancel).
pub fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 1.5 {
        // erf(x) = 2/sqrt(pi) * exp(-x^2) * sum 2^n x^(2n+1) / (1*3*...*(2n+1))
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
        }
        1.0 - 2.0 / PI.sqrt() * (-x2).exp() * sum
    } else {
        // Lentz's algorithm for erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
        let tiny = 1e-300;
        let mut f = x;
        let mut c = x;
        let mut d = 0.0;
        for k in 1..5000 {
            let a = k as f64 / 2.0;
            d = x + a * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = x + a / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (-x * x).exp() / PI.sqrt() / f
    }
}

// The coefficients are AS 241 as published.
#[allow(clippy::inconsistent_digit_grouping, clippy::excessive_precision)]
/// Standard normal quantile (Wichura's AS 241, about 1e-16 relative error).
pub fn norm_ppf(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q
            * (((((((2509.080_928_730_122_7 * r + 33430.575_583_588_13) * r
                + 67265.770_927_008_7)
                * r
                + 45921.953_931_549_87)
                * r
                + 13731.693_765_509_46)
                * r
                + 1971.590_950_306_551_3)
                * r
                + 133.141_667_891_784_38)
                * r
                + 3.387_132_872_796_366_5)
            / (((((((5226.495_278_852_545 * r + 28729.085_735_721_94) * r
                + 39307.895_800_092_71)
                * r
                + 21213.794_301_586_6)
                * r
                + 5394.196_021_424_751)
                * r
                + 687.187_007_492_057_9)
                * r
                + 42.313_330_701_600_91)
                * r
                + 1.0);
    }
    let mut r = if q < 0.0 { p } else { 1.0 - p };
    r = (-r.ln()).sqrt();
    let val = if r <= 5.0 {
        let r = r - 1.6;
        (((((((7.745_450_142_783_414e-4 * r + 0.022_723_844_989_269_184) * r
            + 0.241_780_725_177_450_6)
            * r
            + 1.270_458_252_452_368_4)
            * r
            + 3.647_848_324_763_204_5)
            * r
            + 5.769_497_221_460_691)
            * r
            + 4.630_337_846_156_546)
            * r
            + 1.423_437_110_749_683_5)
            / (((((((1.050_750_071_644_416_9e-9 * r + 5.475_938_084_995_345e-4) * r
                + 0.015_198_666_563_616_457)
                * r
                + 0.148_103_976_427_480_08)
                * r
                + 0.689_767_334_985_1)
                * r
                + 1.676_384_830_183_803_8)
                * r
                + 2.053_191_626_637_759)
                * r
                + 1.0)
    } else {
        let r = r - 5.0;
        (((((((2.010_334_399_292_288_1e-7 * r + 2.711_555_568_743_487_6e-5) * r
            + 0.001_242_660_947_388_078_4)
            * r
            + 0.026_532_189_526_576_124)
            * r
            + 0.296_560_571_828_504_87)
            * r
            + 1.784_826_539_917_291_3)
            * r
            + 5.463_784_911_164_114)
            * r
            + 6.657_904_643_501_103)
            / (((((((2.044_263_103_389_939_7e-15 * r + 1.421_511_758_316_446e-7) * r
                + 1.846_318_317_510_054_8e-5)
                * r
                + 7.868_691_311_456_133e-4)
                * r
                + 0.014_875_361_290_850_615)
                * r
                + 0.136_929_880_922_735_8)
                * r
                + 0.599_832_206_555_888)
                * r
                + 1.0)
    };
    if q < 0.0 { -val } else { val }
}

/// The z value of a two-sided central interval at `level` percent (80 → 1.2816).
pub fn z_for_level(level: f64) -> f64 {
    norm_ppf(0.5 + level / 200.0)
}

pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample quantile with linear interpolation between order statistics
/// (numpy's default, R's type 7). `sorted` must be ascending and non-empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Sorts a copy, dropping NaNs.
pub fn sorted(x: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Least squares `min |X b - y|` by Householder QR; `x` is row-major with
/// `cols` columns. Returns None when X is rank-deficient.
pub fn lstsq(x: &[f64], cols: usize, y: &[f64]) -> Option<Vec<f64>> {
    let rows = y.len();
    if rows < cols || x.len() != rows * cols {
        return None;
    }
    let mut a = x.to_vec();
    let mut b = y.to_vec();
    for k in 0..cols {
        let norm = (k..rows)
            .map(|i| a[i * cols + k].powi(2))
            .sum::<f64>()
            .sqrt();
        if norm < 1e-300 {
            return None;
        }
        let alpha = if a[k * cols + k] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (k..rows).map(|i| a[i * cols + k]).collect();
        v[0] -= alpha;
        let vnorm2: f64 = v.iter().map(|t| t * t).sum();
        if vnorm2 < 1e-300 {
            continue;
        }
        for j in k..cols {
            let dot: f64 = (k..rows).map(|i| v[i - k] * a[i * cols + j]).sum();
            let f = 2.0 * dot / vnorm2;
            for i in k..rows {
                a[i * cols + j] -= f * v[i - k];
            }
        }
        let dot: f64 = (k..rows).map(|i| v[i - k] * b[i]).sum();
        let f = 2.0 * dot / vnorm2;
        for i in k..rows {
            b[i] -= f * v[i - k];
        }
    }
    let mut coef = vec![0.0; cols];
    for k in (0..cols).rev() {
        let s: f64 = (k + 1..cols).map(|j| a[k * cols + j] * coef[j]).sum();
        let d = a[k * cols + k];
        if d.abs() < 1e-12 * a[0].abs().max(1.0) {
            return None;
        }
        coef[k] = (b[k] - s) / d;
    }
    Some(coef)
}

/// Box-constrained Nelder–Mead as statsforecast runs it for ETS and Theta:
/// an initial simplex stepped 5% along each axis, adaptive coefficients,
/// clamping into the box, and a stop when the standard deviation of the
/// simplex values falls below `tol_std`. Returns the best point and value.
pub fn nelder_mead(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x: &[f64],
    lower: &[f64],
    upper: &[f64],
    tol_std: f64,
    max_iter: usize,
) -> (Vec<f64>, f64) {
    let n = x.len();
    let clamp = |p: &mut Vec<f64>| {
        for (i, v) in p.iter_mut().enumerate() {
            *v = v.max(lower[i]).min(upper[i]);
        }
    };
    let (init_step, zero_pert) = (0.05, 1.0e-4);
    let nf = n as f64;
    let (alpha, gamma, rho, sigma) = (1.0, 1.0 + 2.0 / nf, 0.75 - 1.0 / (2.0 * nf), 1.0 - 1.0 / nf);
    let mut x0 = x.to_vec();
    clamp(&mut x0);
    let mut simplex: Vec<Vec<f64>> = vec![x0; n + 1];
    for (i, row) in simplex.iter_mut().enumerate().take(n) {
        let val = row[i];
        let val = if val == 0.0 {
            zero_pert
        } else {
            val * (1.0 + init_step)
        };
        row[i] = val.max(lower[i]).min(upper[i]);
    }
    let mut fs: Vec<f64> = simplex.iter().map(|p| f(p)).collect();
    let mut best = 0;
    let mut order: Vec<usize> = (0..=n).collect();
    for _ in 0..max_iter {
        order.sort_by(|&a, &b| fs[a].total_cmp(&fs[b]));
        best = order[0];
        let worst = order[n];
        let second_worst = order[n - 1];
        let m = fs.iter().sum::<f64>() / (n + 1) as f64;
        let sd = (fs.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n + 1) as f64).sqrt();
        if sd < tol_std {
            break;
        }
        let mut xo = vec![0.0; n];
        for (r, p) in simplex.iter().enumerate() {
            if r != worst {
                for j in 0..n {
                    xo[j] += p[j];
                }
            }
        }
        xo.iter_mut().for_each(|v| *v /= nf);
        let towards = |c: f64, from: &[f64]| -> Vec<f64> {
            let mut p: Vec<f64> = (0..n).map(|j| xo[j] + c * (from[j] - xo[j])).collect();
            clamp(&mut p);
            p
        };
        let xr = towards(-alpha, &simplex[worst]);
        let fr = f(&xr);
        if fs[best] <= fr && fr < fs[second_worst] {
            simplex[worst] = xr;
            fs[worst] = fr;
            continue;
        }
        if fr < fs[best] {
            let xe = towards(gamma, &xr);
            let fe = f(&xe);
            if fe < fr {
                simplex[worst] = xe;
                fs[worst] = fe;
            } else {
                simplex[worst] = xr;
                fs[worst] = fr;
            }
            continue;
        }
        if fs[second_worst] <= fr && fr < fs[worst] {
            let xoc = towards(rho, &xr);
            let foc = f(&xoc);
            if foc <= fr {
                simplex[worst] = xoc;
                fs[worst] = foc;
                continue;
            }
        } else {
            let xic = towards(-rho, &xr);
            let fic = f(&xic);
            if fic < fs[worst] {
                simplex[worst] = xic;
                fs[worst] = fic;
                continue;
            }
        }
        let anchor = simplex[best].clone();
        for r in 0..=n {
            if r == best {
                continue;
            }
            let mut p: Vec<f64> = (0..n)
                .map(|j| anchor[j] + sigma * (simplex[r][j] - anchor[j]))
                .collect();
            clamp(&mut p);
            fs[r] = f(&p);
            simplex[r] = p;
        }
    }
    (simplex[best].clone(), fs[best])
}

/// Golden-section search for the minimum of `f` on [lower, upper].
pub fn golden_section(f: impl Fn(f64) -> f64, lower: f64, upper: f64) -> f64 {
    let gr = (5f64.sqrt() + 1.0) / 2.0;
    let (mut a, mut b) = (lower, upper);
    let mut c = b - (b - a) / gr;
    let mut d = a + (b - a) / gr;
    let mut fc = f(c);
    let mut fd = f(d);
    while (b - a).abs() >= 1e-12 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - (b - a) / gr;
            fc = f(c);
        } else if fd < fc {
            a = c;
            c = d;
            fc = fd;
            d = a + (b - a) / gr;
            fd = f(d);
        } else {
            break;
        }
    }
    (a + b) / 2.0
}

/// Sample autocorrelations r_1..r_nlags (biased estimator, as statsmodels' acf).
pub fn acf(y: &[f64], nlags: usize) -> Vec<f64> {
    let m = mean(y);
    let denom: f64 = y.iter().map(|v| (v - m) * (v - m)).sum();
    (1..=nlags)
        .map(|k| {
            if k >= y.len() || denom == 0.0 {
                return 0.0;
            }
            (0..y.len() - k)
                .map(|t| (y[t] - m) * (y[t + k] - m))
                .sum::<f64>()
                / denom
        })
        .collect()
}

/// Classical decomposition's seasonal component (statsmodels'
/// `seasonal_decompose`): a centred moving average as trend, the mean
/// detrended value at each phase, centred to sum to 0 (additive) or to
/// average 1 (multiplicative), tiled over the series.
pub fn seasonal_component(y: &[f64], m: usize, multiplicative: bool) -> Vec<f64> {
    let n = y.len();
    let filt: Vec<f64> = if m.is_multiple_of(2) {
        let mut f = vec![1.0 / m as f64; m + 1];
        f[0] = 0.5 / m as f64;
        f[m] = 0.5 / m as f64;
        f
    } else {
        vec![1.0 / m as f64; m]
    };
    let half = filt.len() / 2;
    let mut detrended = vec![f64::NAN; n];
    for t in half..n.saturating_sub(filt.len() - 1 - half) {
        let trend: f64 = filt
            .iter()
            .enumerate()
            .map(|(k, w)| w * y[t + k - half])
            .sum();
        detrended[t] = if multiplicative {
            y[t] / trend
        } else {
            y[t] - trend
        };
    }
    let mut avgs: Vec<f64> = (0..m)
        .map(|i| {
            let vals: Vec<f64> = detrended[i..]
                .iter()
                .step_by(m)
                .copied()
                .filter(|v| !v.is_nan())
                .collect();
            if vals.is_empty() {
                f64::NAN
            } else {
                mean(&vals)
            }
        })
        .collect();
    let center = mean(&avgs);
    for a in avgs.iter_mut() {
        if multiplicative {
            *a /= center;
        } else {
            *a -= center;
        }
    }
    (0..n).map(|t| avgs[t % m]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_and_cdf() {
        assert!((norm_ppf(0.975) - 1.959_963_984_540_054).abs() < 1e-14);
        assert!((norm_ppf(0.9) - 1.281_551_565_544_600_5).abs() < 1e-14);
        assert!((norm_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-14);
        let t = norm_cdf(-3.5);
        assert!((t - 2.326_290_790_355_25e-4).abs() < 1e-18, "{t:e}");
        assert!((norm_cdf(0.3) - 0.617_911_422_188_952_7).abs() < 1e-15);
        for p in [1e-10, 0.01, 0.3, 0.5, 0.77, 0.999] {
            assert!(
                (norm_cdf(norm_ppf(p)) - p).abs() < 1e-13 * p.max(1e-3),
                "{p}"
            );
        }
    }

    #[test]
    fn lstsq_fits_a_line() {
        let x: Vec<f64> = (0..5).flat_map(|i| [1.0, i as f64]).collect();
        let y: Vec<f64> = (0..5).map(|i| 3.0 + 2.0 * i as f64).collect();
        let c = lstsq(&x, 2, &y).unwrap();
        assert!((c[0] - 3.0).abs() < 1e-12 && (c[1] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn nelder_mead_finds_a_quadratic_minimum() {
        let mut f = |p: &[f64]| (p[0] - 0.3).powi(2) + (p[1] + 2.0).powi(2);
        let (x, v) = nelder_mead(
            &mut f,
            &[1.0, 1.0],
            &[-10.0, -10.0],
            &[10.0, 10.0],
            1e-12,
            1000,
        );
        assert!(v < 1e-8 && (x[0] - 0.3).abs() < 1e-3, "{x:?}");
    }

    #[test]
    fn quantile_matches_numpy() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&s, 0.5), 2.5);
        assert_eq!(quantile_sorted(&s, 0.9), 3.7);
    }
}
