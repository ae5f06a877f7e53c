//! Pipelines compiled into the binary, so `weir quickstart` runs them from
//! any directory; the same files are in `sql/` for users to read and copy.

use std::path::Path;

use weir_jobs::Manifest;

pub struct BuiltIn {
    /// Where the manifest is in the repository (shown in messages).
    pub path: &'static str,
    /// The manifest, then every file it names, by the name it uses.
    pub files: &'static [(&'static str, &'static str)],
}

macro_rules! files {
    ($dir:literal: $($f:literal),+) => {
        &[$(($f, include_str!(concat!("../../../sql/", $dir, "/", $f)))),+]
    };
}

/// The shipped unemployment data shaped as the `demand` table.
pub const UNEMPLOYMENT_DEMAND: BuiltIn = BuiltIn {
    path: "sql/quickstart/weir.toml",
    files: files!("quickstart": "weir.toml", "demand.sql"),
};

/// The flagship demand-forecasting pipeline.
pub const FORECASTING: BuiltIn = BuiltIn {
    path: "sql/forecasting/weir.toml",
    files: files!("forecasting": "weir.toml", "panel.sql", "hierarchy.sql", "preflight.sql",
        "features.yaml", "backtest_points.sql", "backtest.sql", "model_choice.sql",
        "base_forecast.sql", "residuals.sql", "diagnostics.sql", "reconciled.sql", "drift.sql", "anomalies.sql",
        "orders.sql"),
};

impl BuiltIn {
    pub fn manifest(&self) -> weir_jobs::Result<Manifest> {
        Manifest::parse(self.files[0].1, Path::new(self.path), &|p: &Path| {
            self.files
                .iter()
                .find(|(f, _)| Path::new(f) == p)
                .map(|(_, text)| text.to_string())
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not built in"))
        })
    }
}
