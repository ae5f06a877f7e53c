//! Anomaly scores, higher = more abnormal, and PyOD's contamination rule
//! for turning scores into flags: the threshold is the (1 − contamination)
//! percentile of the scores and a point is an anomaly when its score is
//! strictly above it.
//!
//! - [`ecod`]: PyOD's ECOD, exactly as its code computes it (per dimension
//!   the larger of the left, right and skew-chosen tail −log ECDF, summed).
//! - [`eif`]: Extended Isolation Forest (Hariri, Kind & Brunner 2018):
//!   random hyperplane cuts instead of axis-parallel ones. Seeded, so the
//!   same data and seed give the same scores (an audit has to re-make them).
//! - [`robust_z`] (median/MAD, Iglewicz–Hoaglin) and [`z_score`].
//!
//! Data are given column by column: `columns[j][i]` is feature j of row i.

use crate::math::{mean, quantile_sorted, sorted};
use crate::{ForecastError, Result};

pub const DEFAULT_CONTAMINATION: f64 = 0.1;
pub const DETECTORS: [&str; 4] = ["ecod", "eif", "mad", "zscore"];

/// Checks a detector name and how many feature columns it gets, without
/// data, so a bad call fails when a query is planned.
pub fn check_detector(detector: &str, n_columns: usize) -> Result<()> {
    let one_column_only = match detector {
        "ecod" | "eif" | "iforest" => false,
        "mad" | "robust_z" | "zscore" | "z" => true,
        _ => {
            return Err(ForecastError::arg(
                "anomaly detector",
                format!("unknown '{detector}'; accepted: {}", DETECTORS.join(", ")),
            ));
        }
    };
    if n_columns == 0 || (one_column_only && n_columns != 1) {
        return Err(ForecastError::arg(
            "anomaly detector",
            format!("'{detector}' scores one column, got {n_columns}"),
        ));
    }
    Ok(())
}

/// Scores by detector name (`ecod`, `eif`, `mad`, `zscore`).
pub fn score(detector: &str, columns: &[&[f64]], seed: u64) -> Result<Vec<f64>> {
    check_detector(detector, columns.len())?;
    check(columns)?;
    Ok(match detector {
        "ecod" => ecod(columns),
        "eif" | "iforest" => eif(
            columns,
            &EifParams {
                seed,
                ..EifParams::default()
            },
        ),
        "mad" | "robust_z" => robust_z(columns[0]),
        _ => z_score(columns[0]),
    })
}

fn check(columns: &[&[f64]]) -> Result<()> {
    let n = columns.first().map_or(0, |c| c.len());
    if columns.is_empty() || columns.iter().any(|c| c.len() != n) {
        return Err(ForecastError::arg(
            "anomaly",
            "needs one or more columns of equal length",
        ));
    }
    if columns.iter().any(|c| c.iter().any(|v| !v.is_finite())) {
        return Err(ForecastError::arg(
            "anomaly",
            "values must be finite (drop or fill NULLs first)",
        ));
    }
    Ok(())
}

/// PyOD's threshold: the (1 − contamination) percentile of the scores.
pub fn threshold(scores: &[f64], contamination: f64) -> Result<f64> {
    if !(contamination > 0.0 && contamination <= 0.5) {
        return Err(ForecastError::arg(
            "contamination",
            format!("must be in (0, 0.5], got {contamination}"),
        ));
    }
    let s = sorted(scores);
    if s.is_empty() {
        return Err(ForecastError::arg(
            "contamination",
            "no scores to threshold",
        ));
    }
    Ok(quantile_sorted(&s, 1.0 - contamination))
}

/// Flags: score strictly above the contamination threshold.
pub fn labels(scores: &[f64], contamination: f64) -> Result<Vec<bool>> {
    let t = threshold(scores, contamination)?;
    Ok(scores.iter().map(|s| *s > t).collect())
}

/// ECOD as PyOD 3 codes it: U_l = −ln F(x), U_r = −ln F̄(x) via the ECDF of
/// −x, the skew-chosen tail (both tails when the skewness is exactly 0),
/// the element-wise maximum of the three, summed over dimensions. A
/// constant column contributes 0 (PyOD returns NaN there).
pub fn ecod(columns: &[&[f64]]) -> Vec<f64> {
    let n = columns.first().map_or(0, |c| c.len());
    let mut out = vec![0.0; n];
    for col in columns {
        let left = ecdf(col);
        let neg: Vec<f64> = col.iter().map(|v| -v).collect();
        let right = ecdf(&neg);
        let s = skew(col);
        if s.is_nan() {
            continue;
        }
        let s = sign(s);
        for i in 0..n {
            let (ul, ur) = (-left[i].ln(), -right[i].ln());
            let uskew = ul * -sign(s - 1.0) + ur * sign(s + 1.0);
            out[i] += ul.max(ur).max(uskew);
        }
    }
    out
}

/// numpy's sign: 0 at 0 (Rust's `signum` gives ±1 there).
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// F(x_i) = #{x_j ≤ x_i} / n.
fn ecdf(x: &[f64]) -> Vec<f64> {
    let s = sorted(x);
    let n = s.len() as f64;
    x.iter()
        .map(|v| s.partition_point(|w| w <= v) as f64 / n)
        .collect()
}

/// Biased sample skewness m3 / m2^1.5 (scipy's default).
fn skew(x: &[f64]) -> f64 {
    let m = mean(x);
    let n = x.len() as f64;
    let m2 = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
    let m3 = x.iter().map(|v| (v - m).powi(3)).sum::<f64>() / n;
    // scipy's "effectively constant" rule.
    if m2 <= (1e-15 * m).powi(2) {
        return f64::NAN;
    }
    m3 / m2.powf(1.5)
}

/// |x − median| / (1.4826 · MAD): the modified z-score of Iglewicz and
/// Hoaglin (0.6745 (x − median) / MAD); above 3.5 is their outlier rule.
/// A zero MAD falls back to the mean absolute deviation (× 1.2533).
pub fn robust_z(x: &[f64]) -> Vec<f64> {
    let s = sorted(x);
    let med = quantile_sorted(&s, 0.5);
    let dev = sorted(&x.iter().map(|v| (v - med).abs()).collect::<Vec<_>>());
    let mad = quantile_sorted(&dev, 0.5);
    let scale = if mad > 0.0 {
        mad / 0.6745
    } else {
        1.2533 * mean(&dev)
    };
    x.iter()
        .map(|v| {
            if scale > 0.0 {
                (v - med).abs() / scale
            } else {
                0.0
            }
        })
        .collect()
}

/// |x − mean| / sd (population sd).
pub fn z_score(x: &[f64]) -> Vec<f64> {
    let m = mean(x);
    let sd = (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    x.iter()
        .map(|v| if sd > 0.0 { (v - m).abs() / sd } else { 0.0 })
        .collect()
}

/// Extended Isolation Forest parameters; the defaults are PyOD/sklearn's
/// IForest ones (100 trees, 256 samples) with full extension.
#[derive(Clone, Debug)]
pub struct EifParams {
    pub trees: usize,
    pub sample_size: usize,
    /// Hyperplane dimensions − 1; `None` = fully extended (d − 1). 0 is
    /// the classic axis-parallel Isolation Forest.
    pub extension: Option<usize>,
    pub seed: u64,
}

impl Default for EifParams {
    fn default() -> Self {
        EifParams {
            trees: 100,
            sample_size: 256,
            extension: None,
            seed: 0,
        }
    }
}

/// Average path length of an unsuccessful BST search over n points.
fn c(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

enum Node {
    Leaf(usize),
    Split {
        normal: Vec<f64>,
        offset: f64,
        left: Box<Node>,
        right: Box<Node>,
    },
}

/// s(x) = 2^(−E[h(x)] / c(ψ)) over the forest.
pub fn eif(columns: &[&[f64]], p: &EifParams) -> Vec<f64> {
    let d = columns.len();
    let n = columns.first().map_or(0, |c| c.len());
    if n == 0 {
        return Vec::new();
    }
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| columns.iter().map(|c| c[i]).collect())
        .collect();
    let psi = p.sample_size.min(n).max(1);
    let limit = (psi as f64).log2().ceil() as usize;
    let ext = p.extension.unwrap_or(d - 1).min(d - 1);
    let mut rng = Rng::new(p.seed);
    let mut depth = vec![0.0; n];
    for _ in 0..p.trees.max(1) {
        let sample = rng.sample_indices(n, psi);
        let tree = grow(&rows, sample, 0, limit, ext, &mut rng);
        for (i, row) in rows.iter().enumerate() {
            depth[i] += path(&tree, row, 0);
        }
    }
    let cn = c(psi).max(f64::MIN_POSITIVE);
    let trees = p.trees.max(1) as f64;
    depth.iter().map(|h| 2f64.powf(-(h / trees) / cn)).collect()
}

fn grow(
    rows: &[Vec<f64>],
    idx: Vec<usize>,
    level: usize,
    limit: usize,
    ext: usize,
    rng: &mut Rng,
) -> Node {
    if level >= limit || idx.len() <= 1 {
        return Node::Leaf(idx.len());
    }
    let d = rows[0].len();
    let mut normal: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
    // Extension level e keeps e + 1 random coordinates of the normal.
    for j in rng.sample_indices(d, d - 1 - ext) {
        normal[j] = 0.0;
    }
    let point: Vec<f64> = (0..d)
        .map(|j| {
            let (lo, hi) = idx
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                    (lo.min(rows[i][j]), hi.max(rows[i][j]))
                });
            lo + rng.uniform() * (hi - lo)
        })
        .collect();
    let offset: f64 = point.iter().zip(&normal).map(|(p, n)| p * n).sum();
    let (left, right): (Vec<usize>, Vec<usize>) = idx
        .into_iter()
        .partition(|&i| dot(&rows[i], &normal) < offset);
    Node::Split {
        normal,
        offset,
        left: Box::new(grow(rows, left, level + 1, limit, ext, rng)),
        right: Box::new(grow(rows, right, level + 1, limit, ext, rng)),
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn path(node: &Node, x: &[f64], depth: usize) -> f64 {
    match node {
        Node::Leaf(size) => depth as f64 + c(*size),
        Node::Split {
            normal,
            offset,
            left,
            right,
        } => {
            let next = if dot(x, normal) < *offset {
                left
            } else {
                right
            };
            path(next, x, depth + 1)
        }
    }
}

/// SplitMix64: small, fast, and fixed forever, so seeded scores never change
/// with a dependency upgrade.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// k distinct indices of 0..n (partial Fisher–Yates).
    fn sample_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + (self.next() % (n - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(k.min(n));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two uniform-ish columns with outliers planted in rows 10 and 200.
    fn planted() -> (Vec<f64>, Vec<f64>) {
        let mut a: Vec<f64> = (0..300)
            .map(|i| ((i * 37 % 101) as f64 / 101.0) - 0.5)
            .collect();
        let mut b: Vec<f64> = (0..300)
            .map(|i| ((i * 53 % 97) as f64 / 97.0) - 0.5)
            .collect();
        a[10] = 6.0;
        b[10] = -5.0;
        a[200] = -4.0;
        (a, b)
    }

    #[test]
    fn ecod_matches_pyod() {
        // pyod 3.6.7 ECOD().fit(X).decision_scores_ on the data below.
        let (a, b) = planted();
        let s = ecod(&[&a, &b]);
        for (i, want) in [
            (10, 11.407564949312402),
            (200, 6.918928579580262),
            (0, 8.41183268),
            (1, 1.76752224),
        ] {
            assert!((s[i] - want).abs() < 1e-7, "{i}: {}", s[i]);
        }
        assert!((threshold(&s, 0.01).unwrap() - 7.537699252330755).abs() < 1e-9);
    }

    #[test]
    fn planted_outliers_score_highest() {
        let (a, b) = planted();
        let cols = [a.as_slice(), b.as_slice()];
        for det in ["ecod", "eif"] {
            let s = score(det, &cols, 7).unwrap();
            let l = labels(&s, 0.05).unwrap();
            assert!(l[10] && l[200], "{det}: {:?}", (s[10], s[200]));
            assert!(s.iter().all(|v| *v <= s[10]), "{det}");
        }
        let z = robust_z(cols[0]);
        assert!(z[10] > 3.5 && z[5] < 3.5);
        assert_eq!(
            eif(&cols, &EifParams::default()),
            eif(&cols, &EifParams::default())
        );
        assert!(labels(&z, 0.7).is_err());
        assert!(score("knn", &cols, 0).is_err());
        assert!(check_detector("mad", 2).is_err() && check_detector("ecod", 2).is_ok());
    }
}
