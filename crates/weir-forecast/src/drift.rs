//! Data drift between a reference and a current sample, as Evidently's
//! `DataDriftPreset` computes it (legacy stattests engine): the same
//! statistics, the same default test per column, the same thresholds and
//! the same display names, so a weir drift report can be compared with an
//! Evidently report row by row.
//!
//! Nulls are the caller's to drop (SQL aggregates skip them), as Evidently
//! drops NaN before testing.

use std::collections::HashMap;
use std::hash::Hash;

use crate::special::{chi2_sf, ks_2samp_pvalue, z_two_sided};
use crate::{ForecastError, Result};

/// The tests Evidently selects by default, plus PSI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatTest {
    Ks,
    ChiSquare,
    Z,
    Wasserstein,
    JensenShannon,
    Psi,
}

pub const STAT_TEST_NAMES: [&str; 6] = [
    "ks",
    "chisquare",
    "z",
    "wasserstein",
    "jensenshannon",
    "psi",
];

impl StatTest {
    pub fn parse(name: &str) -> Result<StatTest> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "ks" => StatTest::Ks,
            "chisquare" | "chi2" => StatTest::ChiSquare,
            "z" => StatTest::Z,
            "wasserstein" => StatTest::Wasserstein,
            "jensenshannon" | "js" => StatTest::JensenShannon,
            "psi" => StatTest::Psi,
            _ => {
                return Err(ForecastError::arg(
                    "drift method",
                    format!("unknown '{name}'; accepted: {}", STAT_TEST_NAMES.join(", ")),
                ));
            }
        })
    }

    /// Evidently's `name`.
    pub fn name(self) -> &'static str {
        STAT_TEST_NAMES[self as usize]
    }

    /// Evidently's `display_name`, which its reports call `stattest_name`.
    pub fn display_name(self) -> &'static str {
        match self {
            StatTest::Ks => "K-S p_value",
            StatTest::ChiSquare => "chi-square p_value",
            StatTest::Z => "Z-test p_value",
            StatTest::Wasserstein => "Wasserstein distance (normed)",
            StatTest::JensenShannon => "Jensen-Shannon distance",
            StatTest::Psi => "PSI",
        }
    }

    pub fn default_threshold(self) -> f64 {
        match self {
            StatTest::Ks | StatTest::ChiSquare | StatTest::Z => 0.05,
            _ => 0.1,
        }
    }

    /// p-value tests flag small scores, distances flag large ones; KS alone
    /// counts a p-value equal to the threshold as drift.
    pub fn detects(self, score: f64, threshold: f64) -> bool {
        match self {
            StatTest::Ks => score <= threshold,
            StatTest::ChiSquare | StatTest::Z => score < threshold,
            _ => score >= threshold,
        }
    }

    fn numerical_only(self) -> bool {
        matches!(self, StatTest::Ks | StatTest::Wasserstein)
    }
}

/// One column's verdict, with Evidently's report field names.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftResult {
    pub stattest: StatTest,
    pub stattest_threshold: f64,
    pub drift_score: f64,
    pub drift_detected: bool,
}

/// Evidently's `_get_default_stattest`: the reference size decides between
/// the small-sample tests and the distances; the number of distinct values
/// in reference ∪ current decides between the continuous and discrete ones.
pub fn default_test(n_reference: usize, n_unique: usize, numerical: bool) -> StatTest {
    let discrete = !numerical || n_unique <= 5;
    match (n_reference <= 1000, discrete) {
        (true, false) => StatTest::Ks,
        (true, true) if n_unique > 2 => StatTest::ChiSquare,
        (true, true) => StatTest::Z,
        (false, false) => StatTest::Wasserstein,
        (false, true) => StatTest::JensenShannon,
    }
}

/// Drift of a numerical column; `method`/`threshold` override the defaults.
pub fn drift_numerical(
    reference: &[f64],
    current: &[f64],
    method: Option<StatTest>,
    threshold: Option<f64>,
) -> Result<DriftResult> {
    nonempty(reference.len(), current.len())?;
    let keys_ref: Vec<u64> = reference.iter().map(|v| key(*v)).collect();
    let keys_cur: Vec<u64> = current.iter().map(|v| key(*v)).collect();
    let test = match method {
        Some(t) => t,
        None => default_test(reference.len(), unique(&keys_ref, &keys_cur), true),
    };
    let score = match test {
        StatTest::Ks => ks_2samp(reference, current).1,
        StatTest::Wasserstein => wasserstein_norm(reference, current),
        StatTest::ChiSquare => chisquare_pvalue(&keys_ref, &keys_cur),
        StatTest::Z => z_pvalue(&keys_ref, &keys_cur),
        StatTest::Psi | StatTest::JensenShannon => {
            let ref_unique = unique(&keys_ref, &[]);
            let (r, c) = if ref_unique > 20 {
                sturges_shares(reference, current)
            } else {
                category_shares(&keys_ref, &keys_cur)
            };
            shares_score(test, r, c)
        }
    };
    Ok(verdict(test, score, threshold))
}

/// Drift of a categorical column (any hashable value).
pub fn drift_categorical<K: Hash + Eq + Clone>(
    reference: &[K],
    current: &[K],
    method: Option<StatTest>,
    threshold: Option<f64>,
) -> Result<DriftResult> {
    nonempty(reference.len(), current.len())?;
    let test = match method {
        Some(t) if t.numerical_only() => {
            return Err(ForecastError::arg(
                "drift method",
                format!("'{}' needs a numerical column", t.name()),
            ));
        }
        Some(t) => t,
        None => default_test(reference.len(), unique(reference, current), false),
    };
    let score = match test {
        StatTest::ChiSquare => chisquare_pvalue(reference, current),
        StatTest::Z => z_pvalue(reference, current),
        _ => {
            let (r, c) = category_shares(reference, current);
            shares_score(test, r, c)
        }
    };
    Ok(verdict(test, score, threshold))
}

fn verdict(test: StatTest, score: f64, threshold: Option<f64>) -> DriftResult {
    let threshold = threshold.unwrap_or(test.default_threshold());
    DriftResult {
        stattest: test,
        stattest_threshold: threshold,
        drift_score: score,
        drift_detected: test.detects(score, threshold),
    }
}

fn nonempty(n_ref: usize, n_cur: usize) -> Result<()> {
    if n_ref == 0 || n_cur == 0 {
        return Err(ForecastError::arg(
            "drift",
            format!("both samples need values (reference has {n_ref}, current has {n_cur})"),
        ));
    }
    Ok(())
}

/// -0.0 and 0.0 are one value, as pandas counts them.
fn key(v: f64) -> u64 {
    if v == 0.0 { 0 } else { v.to_bits() }
}

fn unique<K: Hash + Eq>(a: &[K], b: &[K]) -> usize {
    let mut seen = std::collections::HashSet::with_capacity(a.len());
    seen.extend(a.iter().chain(b));
    seen.len()
}

fn counts<K: Hash + Eq + Clone>(a: &[K], b: &[K]) -> Vec<(f64, f64)> {
    let mut map: HashMap<K, (f64, f64)> = HashMap::new();
    for k in a {
        map.entry(k.clone()).or_default().0 += 1.0;
    }
    for k in b {
        map.entry(k.clone()).or_default().1 += 1.0;
    }
    map.into_values().collect()
}

/// Two-sample Kolmogorov–Smirnov: (D, two-sided p-value) as
/// `scipy.stats.ks_2samp`.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (sa, sb) = (crate::math::sorted(a), crate::math::sorted(b));
    let (n1, n2) = (sa.len() as f64, sb.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < sa.len() && j < sb.len() {
        let x = sa[i].min(sb[j]);
        while i < sa.len() && sa[i] <= x {
            i += 1;
        }
        while j < sb.len() && sb[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    (d, ks_2samp_pvalue(d, sa.len(), sb.len()))
}

/// First Wasserstein distance ∫|F_a − F_b|, as
/// `scipy.stats.wasserstein_distance`.
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    let (sa, sb) = (crate::math::sorted(a), crate::math::sorted(b));
    let mut all: Vec<f64> = sa.iter().chain(&sb).copied().collect();
    all.sort_by(f64::total_cmp);
    let (n1, n2) = (sa.len() as f64, sb.len() as f64);
    let (mut i, mut j, mut total) = (0usize, 0usize, 0.0);
    for w in all.windows(2) {
        while i < sa.len() && sa[i] <= w[0] {
            i += 1;
        }
        while j < sb.len() && sb[j] <= w[0] {
            j += 1;
        }
        total += (i as f64 / n1 - j as f64 / n2).abs() * (w[1] - w[0]);
    }
    total
}

/// Evidently's normed Wasserstein: W1 / max(std(reference), 0.001).
pub fn wasserstein_norm(reference: &[f64], current: &[f64]) -> f64 {
    let m = crate::math::mean(reference);
    let var = reference.iter().map(|v| (v - m).powi(2)).sum::<f64>() / reference.len() as f64;
    wasserstein(reference, current) / var.sqrt().max(0.001)
}

/// Pearson chi-square of current counts against reference counts scaled to
/// the current size (`scipy.stats.chisquare(f_obs, f_exp)`): the p-value.
pub fn chisquare_pvalue<K: Hash + Eq + Clone>(reference: &[K], current: &[K]) -> f64 {
    let scale = current.len() as f64 / reference.len() as f64;
    let cells = counts(reference, current);
    let stat: f64 = cells
        .iter()
        .map(|&(r, c)| {
            let e = r * scale;
            if e == 0.0 {
                f64::INFINITY
            } else {
                (c - e).powi(2) / e
            }
        })
        .sum();
    if cells.len() < 2 {
        return f64::NAN;
    }
    chi2_sf(stat, (cells.len() - 1) as f64)
}

/// Two-proportion Z test on a two-valued column: the two-sided p-value.
pub fn z_pvalue<K: Hash + Eq + Clone>(reference: &[K], current: &[K]) -> f64 {
    let mut cells = counts(reference, current);
    if cells.len() == 1 {
        return 1.0;
    }
    // Which value counts as "1" does not change a two-sided p-value.
    cells.truncate(1);
    let (n1, n2) = (reference.len() as f64, current.len() as f64);
    let (p1, p2) = (cells[0].0 / n1, cells[0].1 / n2);
    let p = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (p * (1.0 - p) * (1.0 / n1 + 1.0 / n2)).sqrt();
    z_two_sided(z)
}

/// Shares per category (one bin per distinct value).
fn category_shares<K: Hash + Eq + Clone>(reference: &[K], current: &[K]) -> (Vec<f64>, Vec<f64>) {
    let (n1, n2) = (reference.len() as f64, current.len() as f64);
    counts(reference, current)
        .into_iter()
        .map(|(r, c)| (r / n1, c / n2))
        .unzip()
}

/// Shares over `np.histogram_bin_edges(reference ∪ current, "sturges")`,
/// with numpy's bin assignment (last bin closed).
fn sturges_shares(reference: &[f64], current: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let all = reference.iter().chain(current);
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    let n = (reference.len() + current.len()) as f64;
    let (first, last) = if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let width = (hi - lo) / (n.log2() + 1.0);
    let bins = if width > 0.0 {
        ((hi - lo) / width).ceil() as usize
    } else {
        1
    };
    let step = (last - first) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + first).collect();
    edges[bins] = last;
    let share = |xs: &[f64]| {
        let mut c = vec![0.0; bins];
        let norm = bins as f64 / (last - first);
        for &x in xs {
            let mut i = (((x - first) * norm) as usize).min(bins - 1);
            if x < edges[i] && i > 0 {
                i -= 1;
            } else if i + 1 < bins && x >= edges[i + 1] {
                i += 1;
            }
            c[i] += 1.0;
        }
        let len = xs.len() as f64;
        c.into_iter().map(|v| v / len).collect::<Vec<_>>()
    };
    (share(reference), share(current))
}

fn shares_score(test: StatTest, mut r: Vec<f64>, mut c: Vec<f64>) -> f64 {
    if test == StatTest::Psi {
        fill_zeroes(&mut r);
        fill_zeroes(&mut c);
        r.iter().zip(&c).map(|(a, b)| (a - b) * (a / b).ln()).sum()
    } else {
        jensen_shannon(&r, &c)
    }
}

/// Evidently replaces empty bins before PSI so the logarithm is finite.
fn fill_zeroes(p: &mut [f64]) {
    let min = p
        .iter()
        .copied()
        .filter(|v| *v != 0.0)
        .fold(f64::INFINITY, f64::min);
    let fill = if min <= 0.0001 { min / 1e6 } else { 0.0001 };
    p.iter_mut().filter(|v| **v == 0.0).for_each(|v| *v = fill);
}

/// Jensen–Shannon distance (natural log), `scipy.spatial.distance.jensenshannon`.
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    let rel = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let js: f64 = p
        .iter()
        .zip(q)
        .map(|(a, b)| {
            let (a, b) = (a / sp, b / sq);
            let m = (a + b) / 2.0;
            rel(a, m) + rel(b, m)
        })
        .sum();
    (js / 2.0).max(0.0).sqrt()
}
