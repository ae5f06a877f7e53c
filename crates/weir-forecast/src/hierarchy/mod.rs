//! Hierarchical reconciliation as hierarchicalforecast does it: base
//! forecasts for every node of a hierarchy are made coherent (each parent
//! equals the sum of its children) by ỹ = S P ŷ, with P from BottomUp,
//! TopDown (forecast proportions) or MinTrace (ols, wls_struct, wls_var,
//! mint_cov, mint_shrink). Intervals follow its `Normality` sampler: the
//! base standard deviations, correlated as W says, pushed through S P.
//!
//! Nodes are ordered aggregates first, then bottom series, so S = [A; I].

use std::collections::{BTreeMap, HashMap};

use crate::math::mean;

mod weights;
use crate::{ForecastError, Result};
use weights::{mat_mul, normality_sd, projection, weights};

/// A hierarchy built from (child, parent) edges.
#[derive(Clone, Debug)]
pub struct Hierarchy {
    /// Aggregates (top first, by depth then name), then bottom series by name.
    pub names: Vec<String>,
    pub n_aggregates: usize,
    parent: Vec<Option<usize>>,
    /// Row-major n × n_bottom summing matrix.
    s: Vec<f64>,
}

impl Hierarchy {
    pub fn from_edges<S: AsRef<str>>(edges: &[(S, S)]) -> Result<Hierarchy> {
        let mut parent_of: BTreeMap<String, String> = BTreeMap::new();
        let mut all: BTreeMap<String, ()> = BTreeMap::new();
        for (c, p) in edges {
            let (c, p) = (c.as_ref().to_string(), p.as_ref().to_string());
            if c == p {
                return Err(ForecastError::arg(
                    "hierarchy",
                    format!("'{c}' is its own parent"),
                ));
            }
            if let Some(old) = parent_of.insert(c.clone(), p.clone())
                && old != p
            {
                return Err(ForecastError::arg(
                    "hierarchy",
                    format!(
                        "'{c}' has two parents ('{old}' and '{p}'); reconciliation needs a tree"
                    ),
                ));
            }
            all.insert(c, ());
            all.insert(p, ());
        }
        if all.is_empty() {
            return Err(ForecastError::arg("hierarchy", "no edges"));
        }
        let has_child: std::collections::HashSet<&String> = parent_of.values().collect();
        let depth = |name: &String| -> Result<usize> {
            let (mut d, mut cur) = (0, name);
            while let Some(p) = parent_of.get(cur) {
                d += 1;
                cur = p;
                if d > all.len() {
                    return Err(ForecastError::arg(
                        "hierarchy",
                        format!("cycle through '{name}'"),
                    ));
                }
            }
            Ok(d)
        };
        let mut aggs = Vec::new();
        let mut bottom = Vec::new();
        for name in all.keys() {
            if has_child.contains(name) {
                aggs.push((depth(name)?, name.clone()));
            } else {
                bottom.push(name.clone());
            }
        }
        aggs.sort();
        let names: Vec<String> = aggs.into_iter().map(|(_, n)| n).chain(bottom).collect();
        let index: HashMap<&String, usize> =
            names.iter().enumerate().map(|(i, n)| (n, i)).collect();
        let parent: Vec<Option<usize>> = names
            .iter()
            .map(|n| parent_of.get(n).map(|p| index[p]))
            .collect();
        let n = names.len();
        let n_aggregates = n - names.iter().filter(|n| !has_child.contains(n)).count();
        let nb = n - n_aggregates;
        let mut s = vec![0.0; n * nb];
        for b in 0..nb {
            let mut cur = Some(n_aggregates + b);
            while let Some(i) = cur {
                s[i * nb + b] = 1.0;
                cur = parent[i];
            }
        }
        Ok(Hierarchy {
            names,
            n_aggregates,
            parent,
            s,
        })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn n_bottom(&self) -> usize {
        self.len() - self.n_aggregates
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// S[i][b]: 1 when bottom series b sums into node i.
    pub fn s(&self, i: usize, b: usize) -> f64 {
        self.s[i * self.n_bottom() + b]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    BottomUp,
    /// TopDown with forecast proportions.
    TopDown,
    Ols,
    WlsStruct,
    WlsVar,
    MintCov,
    MintShrink,
}

pub const METHOD_NAMES: [&str; 7] = [
    "bottom_up",
    "top_down",
    "ols",
    "wls_struct",
    "wls_var",
    "mint_cov",
    "mint_shrink",
];

impl Method {
    pub fn parse(name: &str) -> Result<Method> {
        let m = match name.to_ascii_lowercase().trim_start_matches("min_trace_") {
            "bottom_up" | "bu" => Method::BottomUp,
            "top_down" | "forecast_proportions" => Method::TopDown,
            "ols" => Method::Ols,
            "wls_struct" => Method::WlsStruct,
            "wls_var" => Method::WlsVar,
            "mint_cov" => Method::MintCov,
            "mint_shrink" | "min_trace" | "mint" => Method::MintShrink,
            _ => {
                return Err(ForecastError::arg(
                    "reconciliation method",
                    format!("unknown '{name}'; accepted: {}", METHOD_NAMES.join(", ")),
                ));
            }
        };
        Ok(m)
    }

    pub fn name(self) -> &'static str {
        METHOD_NAMES[self as usize]
    }

    pub fn needs_residuals(self) -> bool {
        matches!(self, Method::WlsVar | Method::MintCov | Method::MintShrink)
    }
}

/// Reconciled means (n × h) and, when base standard deviations were given,
/// reconciled standard deviations.
#[derive(Clone, Debug)]
pub struct Reconciled {
    pub mean: Vec<Vec<f64>>,
    pub sd: Option<Vec<Vec<f64>>>,
}

/// Reconciles `base` (one row per node in `h.names` order, h columns).
/// `residuals` (one row per node, in-sample y − fitted) are required by
/// wls_var, mint_cov and mint_shrink; `sd` (n × h) gives intervals.
pub fn reconcile(
    h: &Hierarchy,
    base: &[Vec<f64>],
    method: Method,
    residuals: Option<&[Vec<f64>]>,
    sd: Option<&[Vec<f64>]>,
) -> Result<Reconciled> {
    let n = h.len();
    let steps = base.first().map_or(0, |r| r.len());
    if base.len() != n || base.iter().any(|r| r.len() != steps) {
        return Err(ForecastError::arg(
            "reconcile",
            format!("needs a base forecast of equal length for each of the {n} nodes"),
        ));
    }
    if base.iter().flatten().any(|v| !v.is_finite()) {
        return Err(ForecastError::arg(
            "reconcile",
            "base forecasts must be finite",
        ));
    }
    if method == Method::TopDown {
        return top_down(h, base, sd);
    }
    let w = weights(h, method, residuals)?;
    let p = projection(h, &w, method == Method::BottomUp)?;
    let sp = mat_mul(&h.s, n, h.n_bottom(), &p, n);
    let mean: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..steps)
                .map(|t| (0..n).map(|k| sp[i * n + k] * base[k][t]).sum())
                .collect()
        })
        .collect();
    let sd = sd.map(|sd| normality_sd(&sp, &w, sd, n, steps));
    Ok(Reconciled { mean, sd })
}

/// hierarchicalforecast's forecast-proportions TopDown: from the top, each
/// child gets its parent's reconciled value in proportion to the children's
/// base forecasts (equal shares when they sum to ~0). Intervals scale the
/// same way (TopDown's P is proportional within each step).
fn top_down(h: &Hierarchy, base: &[Vec<f64>], sd: Option<&[Vec<f64>]>) -> Result<Reconciled> {
    let n = h.len();
    let roots: Vec<usize> = (0..n).filter(|&i| h.parent[i].is_none()).collect();
    if roots.len() != 1 {
        return Err(ForecastError::arg(
            "top_down",
            format!("needs a single top node, the hierarchy has {}", roots.len()),
        ));
    }
    let steps = base[0].len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        if let Some(p) = h.parent[i] {
            children[p].push(i);
        }
    }
    let mut mean = vec![vec![0.0; steps]; n];
    let mut ratio = vec![vec![0.0; steps]; n];
    mean[roots[0]] = base[roots[0]].clone();
    ratio[roots[0]] = vec![1.0; steps];
    // Aggregates come before their children in `names`, so one pass works.
    for p in 0..n {
        let kids = &children[p];
        for t in 0..steps {
            let sum: f64 = kids.iter().map(|&c| base[c][t]).sum();
            for &c in kids {
                let share = if sum.abs() < 1e-8 {
                    1.0 / kids.len() as f64
                } else {
                    base[c][t] / sum
                };
                mean[c][t] = mean[p][t] * share;
                ratio[c][t] = ratio[p][t] * share;
            }
        }
    }
    let sd = sd.map(|sd| {
        (0..n)
            .map(|i| {
                (0..steps)
                    .map(|t| (ratio[i][t] * sd[roots[0]][t]).abs())
                    .collect()
            })
            .collect()
    });
    Ok(Reconciled { mean, sd })
}

/// How far reconciliation moved each aggregate away from its own base
/// forecast (its anchor): mean(reconciled − base) / mean|base| over the
/// horizon, flagged when its magnitude exceeds `threshold`.
#[derive(Clone, Debug, PartialEq)]
pub struct AnchorBias {
    pub node: String,
    pub bias: f64,
    pub relative: f64,
    pub flagged: bool,
}

pub fn anchor_bias(
    h: &Hierarchy,
    base: &[Vec<f64>],
    rec: &Reconciled,
    threshold: f64,
) -> Vec<AnchorBias> {
    (0..h.n_aggregates)
        .map(|i| {
            let diff: Vec<f64> = rec.mean[i]
                .iter()
                .zip(&base[i])
                .map(|(r, b)| r - b)
                .collect();
            let bias = mean(&diff);
            let scale = mean(&base[i].iter().map(|b| b.abs()).collect::<Vec<_>>());
            let relative = if scale > 0.0 { bias / scale } else { 0.0 };
            AnchorBias {
                node: h.names[i].clone(),
                bias,
                relative,
                flagged: relative.abs() > threshold,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Hierarchy {
        Hierarchy::from_edges(&[
            ("a", "total"),
            ("b", "total"),
            ("a1", "a"),
            ("a2", "a"),
            ("b1", "b"),
        ])
        .unwrap()
    }

    #[test]
    fn every_method_is_coherent() {
        let h = tree();
        assert_eq!(h.names, ["total", "a", "b", "a1", "a2", "b1"]);
        let base = vec![
            vec![100.0, 110.0],
            vec![55.0, 60.0],
            vec![40.0, 42.0],
            vec![30.0, 33.0],
            vec![20.0, 25.0],
            vec![41.0, 40.0],
        ];
        let resid: Vec<Vec<f64>> = (0..6)
            .map(|i| {
                (0..12)
                    .map(|t| ((i * 7 + t * 13) % 11) as f64 - 5.0 + i as f64 * 0.1)
                    .collect()
            })
            .collect();
        for name in METHOD_NAMES {
            let m = Method::parse(name).unwrap();
            let sd = vec![vec![5.0, 6.0]; 6];
            let r = reconcile(&h, &base, m, Some(&resid), Some(&sd)).unwrap();
            for t in 0..2 {
                let y = |i: usize| r.mean[i][t];
                assert!((y(0) - y(1) - y(2)).abs() < 1e-9, "{name}");
                assert!((y(1) - y(3) - y(4)).abs() < 1e-9, "{name}");
                assert!((y(2) - y(5)).abs() < 1e-9, "{name}");
            }
            let s = r.sd.unwrap();
            assert!(
                s.iter().flatten().all(|v| v.is_finite() && *v >= 0.0),
                "{name}"
            );
        }
        let bu = reconcile(&h, &base, Method::BottomUp, None, None).unwrap();
        assert_eq!(bu.mean[0], vec![91.0, 98.0]);
        let td = reconcile(&h, &base, Method::TopDown, None, None).unwrap();
        assert_eq!(td.mean[0], vec![100.0, 110.0]);
        let flags = anchor_bias(&h, &base, &bu, 0.05);
        assert!(flags[0].flagged && !flags[2].flagged);
        assert!(reconcile(&h, &base, Method::WlsVar, None, None).is_err());
        assert!(Hierarchy::from_edges(&[("a", "b"), ("b", "a")]).is_err());
        assert!(Hierarchy::from_edges(&[("a", "b"), ("a", "c")]).is_err());
    }
}
