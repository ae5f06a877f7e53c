//! Parity with statsforecast 2.1.1 on real series, against the golden values
//! measured in `../shared/research/forecasting-anchors.md` §9.

mod parity;

use std::path::PathBuf;

/// Second column of a CSV shipped in `data/`.
pub fn series(file: &str) -> Vec<f64> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.rsplit(',').next().unwrap().trim().parse().unwrap())
        .collect()
}

/// Asserts each value matches a golden printed to two decimals.
#[track_caller]
pub fn close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g:.4}, statsforecast {w}\n all: {got:.2?}"
        );
    }
}
