//! Parity with the Python tools on real series: statsforecast's golden values
//! from the research notes (parity.rs) and values computed by Evidently,
//! scipy, statsmodels, PyOD and hierarchicalforecast (kernels.rs).

mod kernels;
mod parity;

/// A file shipped in `data/`.
pub fn data(file: &str) -> String {
    let path = manifest_dir().join("../../data").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Second column of a CSV shipped in `data/`.
pub fn series(file: &str) -> Vec<f64> {
    data(file)
        .lines()
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

/// This crate's directory, read when the tests run: a shared target
/// directory may hold a test binary built from another checkout of the
/// same sources, whose compile-time path is not this one.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}
