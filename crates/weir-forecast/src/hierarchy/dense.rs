//! The tests' oracle: MinTrace in its textbook form, with W and P as dense
//! n × n matrices (the first implementation, checked against
//! hierarchicalforecast's numbers). `weights.rs` computes the same without
//! forming either, which it must to reach thousands of series.

use super::weights::{checked_residuals, singular, solve};
use super::{Hierarchy, Method, Reconciled};
use crate::Result;
use crate::math::mean;

/// W: identity for BottomUp and ols (BottomUp's P ignores it anyway).
pub(super) fn weights(
    h: &Hierarchy,
    method: Method,
    residuals: Option<&[Vec<f64>]>,
) -> Result<Weights> {
    let n = h.len();
    let nb = h.n_bottom();
    Ok(match method {
        Method::BottomUp | Method::Ols | Method::TopDown => Weights::Diag(vec![1.0; n]),
        Method::WlsStruct => {
            Weights::Diag((0..n).map(|i| (0..nb).map(|b| h.s(i, b)).sum()).collect())
        }
        _ => {
            let r = checked_residuals(n, residuals)?;
            let t = r[0].len();
            match method {
                Method::WlsVar => Weights::Diag(
                    r.iter()
                        .map(|x| x.iter().map(|e| e * e).sum::<f64>() / t as f64 + 2e-8)
                        .collect(),
                ),
                Method::MintCov => Weights::Full(covariance(r)),
                _ => Weights::Full(shrunk_covariance(r, 2e-8)),
            }
        }
    })
}

pub(super) enum Weights {
    Diag(Vec<f64>),
    /// Row-major n × n.
    Full(Vec<f64>),
}

impl Weights {
    fn get(&self, i: usize, j: usize, n: usize) -> f64 {
        match self {
            Weights::Diag(d) => {
                if i == j {
                    d[i]
                } else {
                    0.0
                }
            }
            Weights::Full(w) => w[i * n + j],
        }
    }
}

/// P = J − J W U (Uᵀ W U)⁻¹ Uᵀ with Uᵀ = [I | −A], J = [0 | I], which is
/// (Sᵀ W⁻¹ S)⁻¹ Sᵀ W⁻¹ without inverting W. With no aggregates (or for
/// BottomUp) P = J.
pub(super) fn projection(h: &Hierarchy, w: &Weights, bottom_up: bool) -> Result<Vec<f64>> {
    let (n, na, nb) = (h.len(), h.n_aggregates, h.n_bottom());
    let mut p = vec![0.0; nb * n];
    for b in 0..nb {
        p[b * n + na + b] = 1.0;
    }
    if na == 0 || bottom_up {
        return Ok(p);
    }
    // Uᵀ as a function: row a of Uᵀ has 1 at a and −A[a][b] at na + b.
    let ut = |a: usize, k: usize| -> f64 {
        if k < na {
            if k == a { 1.0 } else { 0.0 }
        } else {
            -h.s(a, k - na)
        }
    };
    // UtW = Uᵀ W (na × n).
    let mut utw = vec![0.0; na * n];
    for a in 0..na {
        for j in 0..n {
            utw[a * n + j] = match w {
                Weights::Diag(d) => ut(a, j) * d[j],
                Weights::Full(_) => (0..n).map(|k| ut(a, k) * w.get(k, j, n)).sum(),
            };
        }
    }
    let mut coef = vec![0.0; na * na];
    for a in 0..na {
        for c in 0..na {
            coef[a * na + c] = (0..n).map(|k| utw[a * n + k] * ut(c, k)).sum();
        }
    }
    // dep = Uᵀ W Jᵀ: Jᵀ picks the bottom columns.
    let mut dep = vec![0.0; na * nb];
    for a in 0..na {
        for b in 0..nb {
            dep[a * nb + b] = utw[a * n + na + b];
        }
    }
    // Round-off in Uᵀ W U is of the order of W's largest entries times ε;
    // a pivot near that means W is singular along U (for example mint_cov
    // when an aggregate's residuals are exactly the sum of its children's).
    let w_scale = (0..n).map(|i| w.get(i, i, n).abs()).fold(0.0, f64::max) * (nb + 1) as f64;
    solve(&mut coef, na, &mut dep, nb, 1e-9 * w_scale).ok_or_else(singular)?;
    // P −= depᵀ Uᵀ.
    for b in 0..nb {
        for k in 0..n {
            let v: f64 = (0..na).map(|a| dep[a * nb + b] * ut(a, k)).sum();
            p[b * n + k] -= v;
        }
    }
    Ok(p)
}

/// Reconciled sd under hierarchicalforecast's `Normality`: Σ = R ∘ σσᵀ with
/// R the correlation implied by W, then diag(SP Σ (SP)ᵀ).
pub(super) fn normality_sd(
    sp: &[f64],
    w: &Weights,
    sd: &[Vec<f64>],
    n: usize,
    steps: usize,
) -> Vec<Vec<f64>> {
    let mut out = vec![vec![0.0; steps]; n];
    for t in 0..steps {
        let sig: Vec<f64> = (0..n).map(|k| sd[k][t]).collect();
        for i in 0..n {
            let m: Vec<f64> = (0..n).map(|k| sp[i * n + k] * sig[k]).collect();
            let var = match w {
                Weights::Diag(_) => m.iter().map(|v| v * v).sum::<f64>(),
                Weights::Full(full) => {
                    let d = |k: usize| full[k * n + k].sqrt();
                    let mut v = 0.0;
                    for k in 0..n {
                        if m[k] == 0.0 {
                            continue;
                        }
                        for l in 0..n {
                            let r = full[k * n + l] / (d(k) * d(l)).max(1e-16);
                            v += m[k] * r * m[l];
                        }
                    }
                    v
                }
            };
            out[i][t] = var.max(0.0).sqrt();
        }
    }
    out
}

pub(super) fn mat_mul(a: &[f64], rows: usize, inner: usize, b: &[f64], cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * cols];
    for i in 0..rows {
        for k in 0..inner {
            let v = a[i * inner + k];
            if v != 0.0 {
                for j in 0..cols {
                    out[i * cols + j] += v * b[k * cols + j];
                }
            }
        }
    }
    out
}

/// Sample covariance (1/(T−1)), as `np.cov`.
fn covariance(r: &[Vec<f64>]) -> Vec<f64> {
    let n = r.len();
    let t = r[0].len() as f64;
    let centred: Vec<Vec<f64>> = r
        .iter()
        .map(|x| {
            let m = mean(x);
            x.iter().map(|v| v - m).collect()
        })
        .collect();
    let mut w = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let c = centred[i]
                .iter()
                .zip(&centred[j])
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / (t - 1.0);
            w[i * n + j] = c;
            w[j * n + i] = c;
        }
    }
    w
}

/// Schäfer–Strimmer shrinkage of the residual covariance towards its
/// diagonal: off-diagonals × (1 − λ), λ = Σ Var̂(r_ij) / Σ r_ij² over i ≠ j
/// (clamped to [0, 1]), diagonal floored at `ridge`.
fn shrunk_covariance(r: &[Vec<f64>], ridge: f64) -> Vec<f64> {
    let n = r.len();
    let t = r[0].len();
    let tf = t as f64;
    let mut w = covariance(r);
    let std: Vec<f64> = (0..n).map(|i| w[i * n + i].sqrt()).collect();
    let z: Vec<Vec<f64>> = r
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let m = mean(x);
            x.iter()
                .map(|v| if std[i] > 0.0 { (v - m) / std[i] } else { 0.0 })
                .collect()
        })
        .collect();
    let (mut var_sum, mut sq_sum) = (0.0, 0.0);
    for i in 0..n {
        for j in 0..i {
            let prods: Vec<f64> = (0..t).map(|k| z[i][k] * z[j][k]).collect();
            let pm = mean(&prods);
            let corr = pm * tf / (tf - 1.0);
            let ss: f64 = prods.iter().map(|p| (p - pm).powi(2)).sum();
            var_sum += 2.0 * ss * tf / (tf - 1.0).powi(3);
            sq_sum += 2.0 * corr * corr;
        }
    }
    let lambda = if sq_sum > 0.0 {
        (var_sum / sq_sum).clamp(0.0, 1.0)
    } else {
        1.0
    };
    for i in 0..n {
        for j in 0..n {
            if i == j {
                w[i * n + i] = w[i * n + i].max(ridge);
            } else {
                w[i * n + j] *= 1.0 - lambda;
            }
        }
    }
    w
}

/// `reconcile` through the dense matrices (TopDown excluded).
pub(super) fn reconcile(
    h: &Hierarchy,
    base: &[Vec<f64>],
    method: Method,
    residuals: Option<&[Vec<f64>]>,
    sd: Option<&[Vec<f64>]>,
) -> Result<Reconciled> {
    let n = h.len();
    let steps = base[0].len();
    let w = weights(h, method, residuals)?;
    let p = projection(h, &w, method == Method::BottomUp)?;
    let s: Vec<f64> = (0..n)
        .flat_map(|i| (0..h.n_bottom()).map(move |b| (i, b)))
        .map(|(i, b)| h.s(i, b))
        .collect();
    let sp = mat_mul(&s, n, h.n_bottom(), &p, n);
    let mean = (0..n)
        .map(|i| {
            (0..steps)
                .map(|t| (0..n).map(|k| sp[i * n + k] * base[k][t]).sum())
                .collect()
        })
        .collect();
    let sd = sd.map(|sd| normality_sd(&sp, &w, sd, n, steps));
    Ok(Reconciled { mean, sd })
}
