//! MinTrace without n × n matrices.
//!
//! Every weight matrix W hierarchicalforecast uses is a diagonal plus a
//! multiple of the residual outer product: W = diag(d) + c F Fᵀ, F the
//! n × T centred in-sample residuals (c = 0 for ols/wls; mint_cov has
//! d = 0; mint_shrink shrinks F Fᵀ's off-diagonal by 1 − λ, which is a
//! diagonal correction). The projection P = J − V Uᵀ (Uᵀ = [I | −A],
//! V = J W U (Uᵀ W U)⁻¹) then needs only na × T and nb × na products,
//! na the number of aggregates, and P itself is never formed: a dense P or
//! W at 10,000 series is 800 MB and a cubic amount of work. The same
//! factoring gives the Normality interval variances diag(S P Σ Pᵀ Sᵀ).
//! `dense.rs` keeps the textbook form as the tests' oracle.

use super::{Hierarchy, Method};
use crate::math::mean;
use crate::{ForecastError, Result};

/// W for `method`: identity for BottomUp, TopDown and ols (BottomUp's P
/// ignores it anyway).
pub(super) fn weights(
    h: &Hierarchy,
    method: Method,
    residuals: Option<&[Vec<f64>]>,
) -> Result<Weights> {
    let n = h.len();
    Ok(match method {
        Method::BottomUp | Method::Ols | Method::TopDown => Weights::diagonal(vec![1.0; n]),
        Method::WlsStruct => Weights::diagonal(h.leaf_counts()),
        _ => {
            let r = checked_residuals(n, residuals)?;
            let t = r[0].len();
            match method {
                Method::WlsVar => Weights::diagonal(
                    r.iter()
                        .map(|x| x.iter().map(|e| e * e).sum::<f64>() / t as f64 + 2e-8)
                        .collect(),
                ),
                Method::MintCov => Weights::covariance(r),
                _ => Weights::shrunk(r, 2e-8),
            }
        }
    })
}

/// The in-sample residuals wls_var, mint_cov and mint_shrink need: one
/// row per node, aligned, at least 2 observations, not all ~0.
pub(super) fn checked_residuals(n: usize, residuals: Option<&[Vec<f64>]>) -> Result<&[Vec<f64>]> {
    let r = residuals.ok_or_else(|| {
        ForecastError::arg(
            "reconcile",
            "wls_var, mint_cov and mint_shrink need in-sample residuals",
        )
    })?;
    let t = r.first().map_or(0, |x| x.len());
    if r.len() != n || r.iter().any(|x| x.len() != t) || t < 2 {
        return Err(ForecastError::arg(
            "reconcile",
            format!("residuals need at least 2 aligned observations for each of the {n} nodes"),
        ));
    }
    let flat = r
        .iter()
        .filter(|x| x.iter().sum::<f64>().abs() < 1e-4)
        .count();
    if flat as f64 / n as f64 > 0.98 {
        return Err(ForecastError::arg(
            "reconcile",
            "in-sample residuals are all close to 0 (overfitted base models)",
        ));
    }
    Ok(r)
}

/// The error when W is singular along the aggregation constraints.
pub(super) fn singular() -> ForecastError {
    ForecastError::NotApplicable(
        "MinTrace: the weight matrix is singular for this hierarchy (use mint_shrink, wls_var or ols)".into(),
    )
}

/// W = diag(d) + c · F Fᵀ.
pub(super) struct Weights {
    d: Vec<f64>,
    c: f64,
    /// One row of T values per node; empty when W is diagonal.
    f: Vec<Vec<f64>>,
    /// diag(W).
    w_diag: Vec<f64>,
}

impl Weights {
    pub(super) fn diagonal(d: Vec<f64>) -> Weights {
        Weights {
            w_diag: d.clone(),
            d,
            c: 0.0,
            f: Vec::new(),
        }
    }

    fn low_rank(d: Vec<f64>, c: f64, f: Vec<Vec<f64>>) -> Weights {
        let w_diag = d
            .iter()
            .zip(&f)
            .map(|(d, row)| d + c * row.iter().map(|v| v * v).sum::<f64>())
            .collect();
        Weights { d, c, f, w_diag }
    }

    /// Sample covariance (1/(T−1), as `np.cov`) in factored form.
    pub(super) fn covariance(r: &[Vec<f64>]) -> Weights {
        let t = r[0].len() as f64;
        Weights::low_rank(vec![0.0; r.len()], 1.0 / (t - 1.0), centred(r))
    }

    /// Schäfer–Strimmer shrinkage of the covariance towards its diagonal:
    /// off-diagonals × (1 − λ), λ = Σ Var̂(r_ij) / Σ r_ij² over i ≠ j
    /// (clamped to [0, 1]), diagonal floored at `ridge`. The sums over
    /// pairs are taken through the T × T Gram matrix of the standardised
    /// residuals, so they cost O(n T²), not O(n² T).
    pub(super) fn shrunk(r: &[Vec<f64>], ridge: f64) -> Weights {
        let t = r[0].len();
        let tf = t as f64;
        let f = centred(r);
        let var: Vec<f64> = f
            .iter()
            .map(|x| x.iter().map(|v| v * v).sum::<f64>() / (tf - 1.0))
            .collect();
        // Z: standardised residuals, time-major (T rows of n).
        let mut z = vec![vec![0.0; f.len()]; t];
        for (i, x) in f.iter().enumerate() {
            let sd = var[i].sqrt();
            if sd > 0.0 {
                for (k, v) in x.iter().enumerate() {
                    z[k][i] = v / sd;
                }
            }
        }
        // Σ_{i≠j} (z_i·z_j)² = ‖Z Zᵀ‖²_F − Σ_i (z_i·z_i)².
        let mut frob = 0.0;
        for a in 0..t {
            for b in 0..=a {
                let g: f64 = z[a].iter().zip(&z[b]).map(|(x, y)| x * y).sum();
                frob += if a == b { g * g } else { 2.0 * g * g };
            }
        }
        let self_dots: f64 = f
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let s: f64 = z.iter().map(|row| row[i] * row[i]).sum();
                s * s
            })
            .sum();
        let cross = frob - self_dots;
        // Σ_{i≠j} Σ_t z_it² z_jt² = Σ_t ((Σ_i z_it²)² − Σ_i z_it⁴).
        let fourth: f64 = z
            .iter()
            .map(|row| {
                let s2: f64 = row.iter().map(|v| v * v).sum();
                s2 * s2 - row.iter().map(|v| v.powi(4)).sum::<f64>()
            })
            .sum();
        let ss = fourth - cross / tf;
        let var_sum = ss * tf / (tf - 1.0).powi(3);
        let sq_sum = cross / (tf - 1.0).powi(2);
        let lambda = if sq_sum > 0.0 {
            (var_sum / sq_sum).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let keep = 1.0 - lambda;
        let d = var.iter().map(|v| v.max(ridge) - keep * v).collect();
        Weights::low_rank(d, keep / (tf - 1.0), f)
    }
}

fn centred(r: &[Vec<f64>]) -> Vec<Vec<f64>> {
    r.iter()
        .map(|x| {
            let m = mean(x);
            x.iter().map(|v| v - m).collect()
        })
        .collect()
}

/// P = J − V Uᵀ, kept as V (nb × na, row-major); empty V is BottomUp.
pub(super) struct Projection {
    v: Vec<f64>,
}

/// Uᵀ x: each aggregate minus the sum of its bottom series.
fn ut_apply(h: &Hierarchy, x: &[f64]) -> Vec<f64> {
    let na = h.n_aggregates;
    let mut out = x[..na].to_vec();
    for (b, anc) in h.ancestors.iter().enumerate() {
        for &a in anc {
            out[a] -= x[na + b];
        }
    }
    out
}

/// Uᵀ applied to every column of the n × T rows `f` (scaled by `g`).
fn ut_rows(h: &Hierarchy, f: &[Vec<f64>], g: Option<&[f64]>) -> Vec<Vec<f64>> {
    let na = h.n_aggregates;
    if f.is_empty() {
        return vec![Vec::new(); na];
    }
    let scale = |k: usize| g.map_or(1.0, |g| g[k]);
    let mut out: Vec<Vec<f64>> = (0..na)
        .map(|a| f[a].iter().map(|v| v * scale(a)).collect())
        .collect();
    for (b, anc) in h.ancestors.iter().enumerate() {
        let s = scale(na + b);
        for &a in anc {
            for (o, v) in out[a].iter_mut().zip(&f[na + b]) {
                *o -= s * v;
            }
        }
    }
    out
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(super) fn projection(h: &Hierarchy, w: &Weights, bottom_up: bool) -> Option<Projection> {
    let (na, nb) = (h.n_aggregates, h.n_bottom());
    if na == 0 || bottom_up {
        return Some(Projection { v: Vec::new() });
    }
    let utf = ut_rows(h, &w.f, None);
    // K = Uᵀ W U = Uᵀ diag(d) U + c (Uᵀ F)(Uᵀ F)ᵀ.
    let mut k = vec![0.0; na * na];
    for a in 0..na {
        k[a * na + a] = w.d[a];
    }
    for (b, anc) in h.ancestors.iter().enumerate() {
        for &a in anc {
            for &c in anc {
                k[a * na + c] += w.d[na + b];
            }
        }
    }
    for a in 0..na {
        for c in 0..=a {
            let v = w.c * dot(&utf[a], &utf[c]);
            k[a * na + c] += v;
            if a != c {
                k[c * na + a] += v;
            }
        }
    }
    // dep = Uᵀ W Jᵀ (na × nb): column b is (W U) row na + b.
    let mut dep = vec![0.0; na * nb];
    for b in 0..nb {
        if !w.f.is_empty() {
            for a in 0..na {
                dep[a * nb + b] = w.c * dot(&w.f[na + b], &utf[a]);
            }
        }
        for &a in &h.ancestors[b] {
            dep[a * nb + b] -= w.d[na + b];
        }
    }
    // Round-off in Uᵀ W U is of the order of W's largest entries times ε;
    // a pivot near that means W is singular along U (for example mint_cov
    // when an aggregate's residuals are exactly the sum of its children's).
    let w_scale = w.w_diag.iter().fold(0.0f64, |m, v| m.max(v.abs())) * (nb + 1) as f64;
    solve(&mut k, na, &mut dep, nb, 1e-9 * w_scale)?;
    let mut v = vec![0.0; nb * na];
    for a in 0..na {
        for b in 0..nb {
            v[b * na + a] = dep[a * nb + b];
        }
    }
    Some(Projection { v })
}

impl Projection {
    /// S P y for one step: coherent values of every node.
    pub(super) fn apply(&self, h: &Hierarchy, y: &[f64]) -> Vec<f64> {
        let (na, nb) = (h.n_aggregates, h.n_bottom());
        let mut out = vec![0.0; h.len()];
        let gap = if self.v.is_empty() {
            Vec::new()
        } else {
            ut_apply(h, y)
        };
        for b in 0..nb {
            let mut v = y[na + b];
            if !gap.is_empty() {
                v -= dot(&self.v[b * na..(b + 1) * na], &gap);
            }
            out[na + b] = v;
            for &a in &h.ancestors[b] {
                out[a] += v;
            }
        }
        out
    }

    /// Reconciled sd under hierarchicalforecast's `Normality`: Σ = R ∘ σσᵀ
    /// with R the correlation implied by W, i.e. Σ = G W G with
    /// G = diag(σ / √diag W); then √diag(S P Σ Pᵀ Sᵀ). With Q = P G:
    /// S Q diag(d) Qᵀ Sᵀ is summed per group of bottom series sharing a
    /// parent (they share every ancestor), and c S Q F (Q F)ᵀ Sᵀ from the
    /// nb × T product.
    pub(super) fn normality_sd(&self, h: &Hierarchy, w: &Weights, sigma: &[f64]) -> Vec<f64> {
        let (n, na, nb) = (h.len(), h.n_aggregates, h.n_bottom());
        let g: Vec<f64> = (0..n)
            .map(|k| {
                if w.w_diag[k] > 0.0 {
                    sigma[k] / w.w_diag[k].sqrt()
                } else {
                    0.0
                }
            })
            .collect();
        let vrow = |b: usize| -> &[f64] {
            if self.v.is_empty() {
                &[]
            } else {
                &self.v[b * na..(b + 1) * na]
            }
        };
        // Ṽ = S_bottom V: row i sums V over the bottom series under i.
        let mut vt = vec![vec![0.0; na]; n];
        if !self.v.is_empty() {
            for b in 0..nb {
                let row = vrow(b).to_vec();
                for &a in &h.ancestors[b] {
                    for (o, x) in vt[a].iter_mut().zip(&row) {
                        *o += x;
                    }
                }
                vt[na + b] = row;
            }
        }
        // Bottom series grouped by parent: Σ d g² per group.
        let groups = &h.groups;
        let dg2: Vec<f64> = groups
            .iter()
            .map(|(_, members)| {
                members
                    .iter()
                    .map(|&b| w.d[na + b] * g[na + b].powi(2))
                    .sum()
            })
            .collect();
        let mut var = vec![0.0; n];
        for i in 0..n {
            let agg: f64 = (0..na).map(|a| w.d[a] * (g[a] * vt[i][a]).powi(2)).sum();
            let mut bot = 0.0;
            for (gi, (chain, _)) in groups.iter().enumerate() {
                let x: f64 = chain.iter().map(|&a| vt[i][a]).sum();
                let inside = i < na && chain.contains(&i);
                bot += dg2[gi] * (if inside { 1.0 + x } else { x }).powi(2);
            }
            if i >= na {
                // The series itself: its own term is (1 + x)², not x².
                let b = i - na;
                let x: f64 = h.ancestors[b].iter().map(|&a| vt[i][a]).sum();
                bot += w.d[i] * g[i].powi(2) * ((1.0 + x).powi(2) - x * x);
            }
            var[i] = agg + bot;
        }
        if !w.f.is_empty() && w.c != 0.0 {
            // Q F = J G F − V Uᵀ G F, then summed up the tree.
            let ugf = ut_rows(h, &w.f, Some(&g));
            let t = w.f[0].len();
            let mut qf = vec![vec![0.0; t]; n];
            for b in 0..nb {
                let row = &mut qf[na + b];
                for (o, v) in row.iter_mut().zip(&w.f[na + b]) {
                    *o = g[na + b] * v;
                }
                for (a, coef) in vrow(b).iter().enumerate() {
                    for (o, u) in row.iter_mut().zip(&ugf[a]) {
                        *o -= coef * u;
                    }
                }
                let row = qf[na + b].clone();
                for &a in &h.ancestors[b] {
                    for (o, v) in qf[a].iter_mut().zip(&row) {
                        *o += v;
                    }
                }
            }
            for (v, row) in var.iter_mut().zip(&qf) {
                *v += w.c * row.iter().map(|x| x * x).sum::<f64>();
            }
        }
        var.into_iter().map(|v| v.max(0.0).sqrt()).collect()
    }
}

/// Solves A X = B in place (A n × n, B n × m) by Gaussian elimination with
/// partial pivoting; None when a pivot is at or below `tiny`.
pub(super) fn solve(a: &mut [f64], n: usize, b: &mut [f64], m: usize, tiny: f64) -> Option<()> {
    for col in 0..n {
        let piv =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[piv * n + col].abs() <= tiny {
            return None;
        }
        if piv != col {
            for k in 0..n {
                a.swap(piv * n + k, col * n + k);
            }
            for k in 0..m {
                b.swap(piv * m + k, col * m + k);
            }
        }
        for r in col + 1..n {
            let f = a[r * n + col] / a[col * n + col];
            if f == 0.0 {
                continue;
            }
            for k in col..n {
                a[r * n + k] -= f * a[col * n + k];
            }
            for k in 0..m {
                b[r * m + k] -= f * b[col * m + k];
            }
        }
    }
    for col in (0..n).rev() {
        for k in 0..m {
            let mut v = b[col * m + k];
            for j in col + 1..n {
                v -= a[col * n + j] * b[j * m + k];
            }
            b[col * m + k] = v / a[col * n + col];
        }
    }
    Some(())
}
