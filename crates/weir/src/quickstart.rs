//! `weir quickstart`: a guided tour on real data, with no server and no
//! network. It creates (or reuses) a lake, loads the datasets shipped in
//! `data/` (compiled into the binary, so it works from any directory), and
//! walks through branch, commit, diff, merge, log and verify, printing each
//! step and the command that does the same by hand.
//!
//! Running it again is safe: unchanged data makes no new commits.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use object_store::PutPayload;
use weir_store::{
    DiffMode, DiffScope, Lake, LogOptions, MergeOptions, PutOptions, Repo, StoreError,
};

use crate::Ctx;
use crate::output::{Format, print_diff};

#[derive(clap::Args)]
pub struct Args {
    /// Repository to build the tour in
    #[arg(long, default_value = "demand")]
    repo: String,
}

/// The shipped datasets: (file name, bytes).
pub const DATASETS: &[(&str, &[u8])] = &[
    ("Airline.csv", include_bytes!("../../../data/Airline.csv")),
    (
        "PBS_dataset.csv",
        include_bytes!("../../../data/PBS_dataset.csv"),
    ),
    (
        "elec_equip.csv",
        include_bytes!("../../../data/elec_equip.csv"),
    ),
    (
        "m1_yearly_dataset.tsf",
        include_bytes!("../../../data/m1_yearly_dataset.tsf"),
    ),
    (
        "seattle-weather.csv",
        include_bytes!("../../../data/seattle-weather.csv"),
    ),
    (
        "unemployment-across-industries.json",
        include_bytes!("../../../data/unemployment-across-industries.json"),
    ),
    ("SOURCES.md", include_bytes!("../../../data/SOURCES.md")),
];

/// Datasets loaded as tables: (table, file).
const TABLES: &[(&str, &str)] = &[
    ("airline", "Airline.csv"),
    ("weather", "seattle-weather.csv"),
    ("unemployment", "unemployment-across-industries.json"),
];

pub struct Tour {
    pub text: bool,
}

impl Tour {
    pub fn step(&self, title: &str, cmd: &str) {
        if self.text {
            println!("\n== {title}\n   $ {cmd}");
        }
    }
    pub fn say(&self, line: impl AsRef<str>) {
        if self.text {
            println!("   {}", line.as_ref());
        }
    }
}

/// Yearly passenger totals from the monthly AirPassengers series: a small,
/// real derived dataset for the branch to add.
fn airline_yearly(csv: &str) -> String {
    let mut years: BTreeMap<&str, u64> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        if let Some((date, v)) = line.split_once(',')
            && let (Some(y), Ok(n)) = (date.get(..4), v.trim().parse::<u64>())
        {
            *years.entry(y).or_default() += n;
        }
    }
    let mut out = String::from("year,passengers\n");
    for (y, n) in years {
        out.push_str(&format!("{y},{n}\n"));
    }
    out
}

fn ignore_no_changes<T>(r: weir_store::Result<T>) -> weir_store::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::NoChanges(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let t = Tour {
        text: ctx.format == Format::Text,
    };
    let dir = &ctx.config.lake;
    let lake = Arc::new(Lake::open_or_init(dir)?.with_actor(&ctx.config.committer));
    let who = &ctx.config.committer;
    let lk = format!("--lake {}", dir.display());
    t.step("A lake", &format!("weir init {lk}"));
    t.say(format!("Lake directory: {}", dir.display()));

    let name = &args.repo;
    t.step(
        "A repository with a main branch",
        &format!("weir repo create weir://{name} {lk}"),
    );
    let repo: Repo = match lake.repo(name) {
        Ok(r) => {
            t.say(format!("weir://{name} exists; reusing it"));
            r
        }
        Err(StoreError::NotFound { .. }) => {
            let r = lake.create_repo(name, "main", None, who).await?;
            t.say(format!("Created weir://{name} (default branch main)"));
            r
        }
        Err(e) => return Err(e.into()),
    };

    t.step(
        "Load the shipped datasets and commit",
        &format!("weir fs upload weir://{name}/main/raw/ --source data/ --recursive {lk}"),
    );
    let mut rows = Vec::new();
    for (file, bytes) in DATASETS {
        let opts = PutOptions {
            content_type: Some(
                crate::cli::fs::guess_content_type(std::path::Path::new(file)).to_string(),
            ),
            ..Default::default()
        };
        let e = repo
            .write_data(PutPayload::from_static(bytes), &opts)
            .await?;
        t.say(format!(
            "raw/{file:<38} {:>8} bytes  sha256 {}…",
            e.size,
            &e.checksum_hex()[..12]
        ));
        rows.push((format!("raw/{file}"), Some(e)));
    }
    repo.stage_many("main", &rows)?;
    let mut meta = BTreeMap::new();
    meta.insert(
        "source".to_string(),
        "weir quickstart: data/ (see raw/SOURCES.md)".to_string(),
    );
    match ignore_no_changes(
        repo.commit("main", "Load shipped datasets", who, meta, false)
            .await,
    )? {
        Some(c) => t.say(format!("Committed {} on main", &c.id[..16])),
        None => t.say("main already holds these exact bytes: nothing to commit"),
    }

    let branch = "quickstart-edit";
    t.step(
        "A branch is free: it shares every object with main",
        &format!("weir branch create weir://{name}/{branch} --source weir://{name}/main {lk}"),
    );
    if repo.branch_head(branch).is_ok() {
        repo.delete_branch(branch)?;
    }
    let c = repo.create_branch(branch, "main")?;
    t.say(format!("Created {branch} at {}", &c.id[..16]));

    t.step(
        "Change the branch: add a derived dataset and commit",
        &format!("weir commit weir://{name}/{branch} -m \"...\" {lk}"),
    );
    let airline = std::str::from_utf8(DATASETS[0].1).unwrap_or_default();
    let yearly = airline_yearly(airline);
    let opts = PutOptions {
        content_type: Some("text/csv".into()),
        ..Default::default()
    };
    repo.put_object(
        branch,
        "curated/airline_yearly.csv",
        PutPayload::from(yearly.into_bytes()),
        &opts,
    )
    .await?;
    let mut meta = BTreeMap::new();
    meta.insert("derived_from".to_string(), "raw/Airline.csv".to_string());
    match ignore_no_changes(
        repo.commit(branch, "Add yearly AirPassengers totals", who, meta, false)
            .await,
    )? {
        Some(c) => t.say(format!("Committed {} on {branch}", &c.id[..16])),
        None => t.say("nothing new to commit"),
    }

    t.step(
        "What the branch changed, compared with main",
        &format!("weir diff weir://{name}/main weir://{name}/{branch} {lk}"),
    );
    let changes = repo
        .diff("main", branch, DiffMode::ThreeDot, &DiffScope::all())
        .await?;
    if changes.is_empty() {
        t.say("No changes: main already has them (from an earlier quickstart)");
    }
    if t.text {
        for d in &changes {
            print!("   ");
            print_diff(d);
        }
    }

    t.step(
        "Merge the branch into main",
        &format!("weir merge weir://{name}/{branch} weir://{name}/main {lk}"),
    );
    match ignore_no_changes(
        repo.merge(branch, "main", who, &MergeOptions::default())
            .await,
    )? {
        Some(c) => t.say(format!("Merged: main is now at {}", &c.id[..16])),
        None => t.say("main already contains everything on the branch"),
    }

    t.step(
        "Tables: the datasets as Delta tables on main",
        &format!("weir ingest data/seattle-weather.csv weir://{name}/main/weather {lk}"),
    );
    for (table, file) in TABLES {
        let tref = weir_tables::TableRef::new(&repo, "main", table)?;
        if tref.load().await?.is_some() {
            t.say(format!("{table:<13} already loaded"));
            continue;
        }
        let bytes = DATASETS
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, b)| *b)
            .unwrap_or_default();
        // Ingest reads files: stage the shipped bytes in a temporary file.
        let tmp =
            std::env::temp_dir().join(format!("weir-quickstart-{}-{file}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        let r = weir_tables::ingest_file(
            &tref,
            &tmp,
            &weir_tables::IngestOptions {
                format: None,
                mode: weir_tables::WriteMode::Append,
                allow_new_columns: false,
                commit: true,
                message: Some(format!("Ingest {file} as table {table}")),
                committer: who.clone(),
                progress: None,
            },
        )
        .await;
        let _ = std::fs::remove_file(&tmp);
        let r = r?;
        if let Some(commit) = &r.lake_commit {
            crate::cli::tables::record_lineage(
                &lake,
                who,
                name,
                "main",
                &r,
                format!("weir/data/{file}"),
                commit,
            )
            .await;
        }
        t.say(format!(
            "{table:<13} {:>5} rows  from raw/{file}  (commit {})",
            r.rows,
            &r.lake_commit.unwrap_or_default()[..16]
        ));
    }

    let session = weir_sql::session(
        lake.clone(),
        &weir_sql::SqlOptions {
            repo: Some(name.clone()),
            reference: None,
        },
    )?;
    for (title, sql) in [
        (
            "SQL over the table",
            "SELECT weather, count(*) AS days, round(avg(temp_max), 1) AS avg_max_c FROM weather GROUP BY weather ORDER BY days DESC",
        ),
        (
            "Where every version of a table came from",
            "SELECT version, operation, lake_commit FROM table_history('weather')",
        ),
        (
            "Forecast with 95% intervals, in SQL (AutoETS, as statsforecast)",
            "SELECT f['ds'] AS month, round(f['mean']) AS forecast, round(f['lo']) AS lo95, round(f['hi']) AS hi95, f['model'] AS model FROM (SELECT unnest(forecast(date, count, 'auto_ets', 6, 12)) AS f FROM unemployment WHERE series = 'Construction')",
        ),
        (
            "Did 2015's weather drift from 2012-2014's? (Evidently's tests, per column)",
            "SELECT column_name, stattest_name, round(drift_score, 4) AS score, drift_detected FROM drift_report('SELECT * FROM weather WHERE date < DATE ''2015-01-01''', 'SELECT * FROM weather WHERE date >= DATE ''2015-01-01''')",
        ),
    ] {
        show(&t, &session, title, sql, &lk).await?;
    }

    crate::quickstart_pipeline::run(&t, &lake, dir, name, who, &lk).await?;

    t.step(
        "History of main",
        &format!("weir log weir://{name}/main --amount 5 {lk}"),
    );
    let (log, _) = repo.log(
        "main",
        &LogOptions {
            amount: 5,
            ..Default::default()
        },
    )?;
    for c in &log {
        t.say(format!("{}  {}", &c.id[..16], c.message));
    }

    t.step(
        "Prove nothing was tampered with",
        &format!("weir verify weir://{name} {lk}"),
    );
    let rep = repo.verify(true, &weir_store::NoProgress).await?;
    t.say(format!(
        "{}: {} commits, {} trees, {} ranges, {} objects, {} bytes re-hashed",
        if rep.ok() { "OK" } else { "PROBLEMS FOUND" },
        rep.commits,
        rep.metaranges,
        rep.ranges,
        rep.objects,
        rep.bytes
    ));
    for p in &rep.problems {
        t.say(format!("BAD: {p}"));
    }

    if t.text {
        println!("\nExplore further:");
        println!("   weir fs ls weir://{name}/main/ --recursive {lk}");
        println!("   weir fs cat weir://{name}/main/curated/airline_yearly.csv {lk}");
        println!("   weir fs cat weir://{name}/main~1/raw/SOURCES.md {lk}");
        println!("   weir log weir://{name}/main {lk}");
        println!("   weir diff weir://{name}/main~2 weir://{name}/main --two-way {lk}");
        println!(
            "   weir sql \"SELECT series, sum(count) AS unemployed FROM unemployment GROUP BY series ORDER BY unemployed DESC\" {lk}"
        );
        println!("   weir sql \"SELECT * FROM weir_log('main')\" {lk}");
        println!(
            "   weir sql \"SELECT series, drift(count, year < 2009)['drift_detected'] AS drifted FROM unemployment GROUP BY series\" {lk}"
        );
        println!(
            "   weir runs {lk}                       (then: weir runs RUN_ID, weir reproduce RUN_ID)"
        );
        println!(
            "   weir sql \"SELECT unique_id, config, cutoff, round(mae) AS mae FROM backtest WHERE unique_id = 'Construction' ORDER BY mae\" {lk}"
        );
        println!(
            "   weir sql \"SELECT * FROM orders WHERE unique_id = 'Construction' ORDER BY ds\" {lk}"
        );
        println!(
            "   weir sql \"SELECT * FROM features WHERE unique_id = 'Finance' ORDER BY ds DESC LIMIT 5\" {lk}"
        );
        println!("   weir sql \"SELECT * FROM diagnostics ORDER BY ljung_box_p\" {lk}");
        println!("   weir sql \"SELECT * FROM preflight_report\" {lk}");
        println!("   weir sql \"SELECT * FROM anomalies\" {lk}");
        println!("   weir lineage weir://{name}/main/orders --column order_qty --depth 8 {lk}");
        println!("   weir audit {lk}");
        println!("   weir sql {lk}          (interactive shell)");
    } else {
        crate::output::print_json(&serde_json::json!({
            "lake": dir,
            "repository": name,
            "head": log.first().map(|c| c.id.clone()),
            "verified": rep.ok(),
        }));
    }
    Ok(if rep.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One step of the tour that runs a query and prints its result.
pub async fn show(
    t: &Tour,
    session: &deltalake::datafusion::prelude::SessionContext,
    title: &str,
    sql: &str,
    lk: &str,
) -> anyhow::Result<()> {
    t.step(title, &format!("weir sql \"{sql}\" {lk}"));
    let batches = session.sql(sql).await?.collect().await?;
    if t.text {
        let table = deltalake::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
        for line in table.lines() {
            t.say(line);
        }
    }
    Ok(())
}
