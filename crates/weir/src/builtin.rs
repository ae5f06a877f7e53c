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
        "features.yaml", "backtest_points.sql", "backtest.sql", "model_choice.sql", "not_worse.sql",
        "base_forecast.sql", "residuals.sql", "diagnostics.sql", "reconciled.sql", "drift.sql", "anomalies.sql",
        "orders.sql", "mlflow_metrics.sql", "mlflow_children.sql"),
};

/// Drift, anomalies and forecast health of each new batch.
pub const MONITORING: BuiltIn = BuiltIn {
    path: "sql/monitoring/weir.toml",
    files: files!("monitoring": "weir.toml", "drift_history.sql", "drift_summary.sql",
        "anomaly_log.sql", "forecast_health.sql"),
};

impl BuiltIn {
    /// Writes the manifest and its files into `dir`, for a trigger to run
    /// later from there.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<std::path::PathBuf> {
        std::fs::create_dir_all(dir)?;
        for (name, text) in self.files {
            std::fs::write(dir.join(name), text)?;
        }
        Ok(dir.join(self.files[0].0))
    }

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
