//! `weir generate demand`: a seeded synthetic demand panel with known
//! anomalies and a known drift, as CSV or Parquet, plus its truth as JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use deltalake::arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::arrow::record_batch::RecordBatch;
use serde_json::json;
use weir_forecast::synth;

use crate::Ctx;
use crate::output::{Format, print_json};

#[derive(Subcommand)]
pub enum GenerateCmd {
    /// Daily demand per store and item (columns unique_id, store, item,
    /// category, ds, y, promo), with trend, weekly and yearly seasonality,
    /// promotions, intermittent items, injected spikes and a level shift on
    /// a known date. Writes FILE (.csv or .parquet) and FILE.truth.json
    /// (the spikes and the drift, to check a pipeline against).
    Demand(DemandArgs),
}

#[derive(Args)]
pub struct DemandArgs {
    /// Output file; the format comes from the extension (.csv or .parquet)
    file: PathBuf,
    /// Number of series (store × item)
    #[arg(long, default_value_t = 100)]
    series: usize,
    /// Days per series, from 2022-01-01
    #[arg(long, default_value_t = 730)]
    days: usize,
    /// Seed: the same seed gives the same data everywhere
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn invalid(msg: String) -> anyhow::Error {
    weir_tables::TablesError::InvalidArgument(msg).into()
}

/// Days since 1970-01-01 of 2022-01-01.
const START: i32 = 18993;

fn batch(p: &synth::Panel) -> anyhow::Result<RecordBatch> {
    let s = |f: &dyn Fn(&synth::Series) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            p.rows.iter().map(|r| f(&p.series[r.series]).to_string()),
        ))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("unique_id", DataType::Utf8, false),
        Field::new("store", DataType::Utf8, false),
        Field::new("item", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("ds", DataType::Date32, false),
        Field::new("y", DataType::Float64, false),
        Field::new("promo", DataType::Boolean, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        s(&|x| &x.id),
        s(&|x| &x.store),
        s(&|x| &x.item),
        s(&|x| &x.category),
        Arc::new(Date32Array::from_iter_values(
            p.rows.iter().map(|r| START + r.day as i32),
        )),
        Arc::new(Float64Array::from_iter_values(p.rows.iter().map(|r| r.y))),
        Arc::new(BooleanArray::from_iter(
            p.rows.iter().map(|r| Some(r.promo)),
        )),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

fn date(day: usize) -> String {
    chrono::NaiveDate::from_ymd_opt(2022, 1, 1)
        .map(|d| (d + chrono::Duration::days(day as i64)).to_string())
        .unwrap_or_default()
}

fn write(path: &Path, b: &RecordBatch) -> anyhow::Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let file = std::fs::File::create(path)?;
    match ext {
        "csv" => {
            let mut w = deltalake::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(file);
            w.write(b)?;
        }
        "parquet" => {
            let mut w = deltalake::parquet::arrow::ArrowWriter::try_new(file, b.schema(), None)?;
            w.write(b)?;
            w.close()?;
        }
        _ => unreachable!("checked before"),
    }
    Ok(())
}

pub async fn generate(ctx: &Ctx, cmd: GenerateCmd) -> anyhow::Result<ExitCode> {
    let GenerateCmd::Demand(a) = cmd;
    let ext = a.file.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "csv" | "parquet") {
        return Err(invalid(format!(
            "{}: name the file .csv or .parquet (the format comes from the extension)",
            a.file.display()
        )));
    }
    if a.series == 0 || a.series > 1_000_000 {
        return Err(invalid("--series must be between 1 and 1000000".into()));
    }
    if !(60..=20_000).contains(&a.days) {
        return Err(invalid(
            "--days must be between 60 and 20000 (the drift and the spikes need room)".into(),
        ));
    }
    let panel = synth::demand(a.series, a.days, a.seed);
    write(&a.file, &batch(&panel)?)?;
    let truth = json!({
        "seed": a.seed,
        "series": a.series,
        "days": a.days,
        "start": date(0),
        "anomalies": panel.truth.anomalies.iter().map(|&(s, d)| json!({
            "unique_id": panel.series[s].id, "ds": date(d)})).collect::<Vec<_>>(),
        "drift": {
            "from": date(panel.truth.drift_day),
            "factor": panel.truth.drift_factor,
            "unique_ids": panel.truth.drift_series.iter().map(|&s| &panel.series[s].id).collect::<Vec<_>>(),
        },
        "intermittent": panel.series.iter().filter(|s| s.intermittent).map(|s| &s.id).collect::<Vec<_>>(),
    });
    let truth_path = PathBuf::from(format!("{}.truth.json", a.file.display()));
    std::fs::write(&truth_path, serde_json::to_string_pretty(&truth)?)?;
    match ctx.format {
        Format::Json => print_json(&json!({
            "file": a.file.display().to_string(),
            "truth": truth_path.display().to_string(),
            "rows": panel.rows.len(),
            "anomalies": panel.truth.anomalies.len(),
            "drift_from": date(panel.truth.drift_day),
        })),
        Format::Text => println!(
            "Wrote {} rows ({} series × {} days) to {}; {} injected spikes and a drift from {} (×{}) on {} series are listed in {}",
            panel.rows.len(),
            a.series,
            a.days,
            a.file.display(),
            panel.truth.anomalies.len(),
            date(panel.truth.drift_day),
            panel.truth.drift_factor,
            panel.truth.drift_series.len(),
            truth_path.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
