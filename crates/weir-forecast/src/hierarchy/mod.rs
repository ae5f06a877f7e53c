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

#[cfg(test)]
mod dense;
mod weights;
use crate::{ForecastError, Result};
use weights::{projection, weights};

/// A hierarchy built from (child, parent) edges.
#[derive(Clone, Debug)]
pub struct Hierarchy {
    /// Aggregates (top first, by depth then name), then bottom series by name.
    pub names: Vec<String>,
    pub n_aggregates: usize,
    parent: Vec<Option<usize>>,
    index: HashMap<String, usize>,
    /// The aggregates each bottom series sums into (S's column, sparse).
    ancestors: Vec<Vec<usize>>,
    /// Bottom series grouped by parent: (the parent's chain of
    /// aggregates, the series), since they share every ancestor.
    groups: Vec<(Vec<usize>, Vec<usize>)>,
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
        let ancestors: Vec<Vec<usize>> = (0..nb)
            .map(|b| {
                let mut chain = Vec::new();
                let mut cur = parent[n_aggregates + b];
                while let Some(i) = cur {
                    chain.push(i);
                    cur = parent[i];
                }
                chain
            })
            .collect();
        let mut by_parent: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
        for b in 0..nb {
            by_parent
                .entry(parent[n_aggregates + b])
                .or_default()
                .push(b);
        }
        let groups = by_parent
            .into_values()
            .map(|members| (ancestors[members[0]].clone(), members))
            .collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Ok(Hierarchy {
            names,
            n_aggregates,
            parent,
            index,
            ancestors,
            groups,
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
        self.index.get(name).copied()
    }

    /// S[i][b]: 1 when bottom series b sums into node i.
    pub fn s(&self, i: usize, b: usize) -> f64 {
        if i == self.n_aggregates + b || self.ancestors[b].contains(&i) {
            1.0
        } else {
            0.0
        }
    }

    /// How many bottom series sum into each node (S's row sums).
    fn leaf_counts(&self) -> Vec<f64> {
        let mut c = vec![0.0; self.len()];
        for (b, anc) in self.ancestors.iter().enumerate() {
            c[self.n_aggregates + b] += 1.0;
            for &a in anc {
                c[a] += 1.0;
            }
        }
        c
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
    let p = projection(h, &w, method == Method::BottomUp).ok_or_else(weights::singular)?;
    let mut mean = vec![vec![0.0; steps]; n];
    let mut out_sd = sd.map(|_| vec![vec![0.0; steps]; n]);
    for t in 0..steps {
        let y: Vec<f64> = base.iter().map(|r| r[t]).collect();
        for (i, v) in p.apply(h, &y).into_iter().enumerate() {
            mean[i][t] = v;
        }
        if let (Some(sd), Some(out)) = (sd, out_sd.as_mut()) {
            let sigma: Vec<f64> = sd.iter().map(|r| r[t]).collect();
            for (i, v) in p.normality_sd(h, &w, &sigma).into_iter().enumerate() {
                out[i][t] = v;
            }
        }
    }
    Ok(Reconciled { mean, sd: out_sd })
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

    #[test]
    fn factored_mintrace_matches_the_dense_form() {
        // Bottom series at three depths, one straight under the total.
        let h = Hierarchy::from_edges(&[
            ("a", "total"),
            ("b", "total"),
            ("x", "total"),
            ("a1", "a"),
            ("a2", "a"),
            ("aa", "a"),
            ("aa1", "aa"),
            ("aa2", "aa"),
            ("b1", "b"),
            ("b2", "b"),
        ])
        .unwrap();
        let n = h.len();
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let base: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..3)
                    .map(|_| 50.0 + 10.0 * i as f64 + 20.0 * rnd())
                    .collect()
            })
            .collect();
        let sd: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..3).map(|_| 3.0 + 2.0 * rnd()).collect())
            .collect();
        let common: Vec<f64> = (0..30).map(|_| rnd()).collect();
        let resid: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..30)
                    .map(|t| 4.0 * rnd() + common[t] * (1.0 + i as f64 * 0.3))
                    .collect()
            })
            .collect();
        for name in METHOD_NAMES.into_iter().filter(|m| *m != "top_down") {
            let m = Method::parse(name).unwrap();
            let fast = reconcile(&h, &base, m, Some(&resid), Some(&sd)).unwrap();
            let slow = dense::reconcile(&h, &base, m, Some(&resid), Some(&sd)).unwrap();
            let close = |a: &Vec<Vec<f64>>, b: &Vec<Vec<f64>>| {
                a.iter()
                    .flatten()
                    .zip(b.iter().flatten())
                    .all(|(x, y)| (x - y).abs() <= 1e-9 * y.abs().max(1.0))
            };
            assert!(
                close(&fast.mean, &slow.mean),
                "{name} means: {:?} vs {:?}",
                fast.mean,
                slow.mean
            );
            assert!(
                close(fast.sd.as_ref().unwrap(), slow.sd.as_ref().unwrap()),
                "{name} sd: {:?} vs {:?}",
                fast.sd,
                slow.sd
            );
        }
    }
}
