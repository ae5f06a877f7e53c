//! Feature registries: parsed with errors naming the entry, compiled to
//! SQL, and run as a stage whose values are checked by hand.

use std::path::Path;

use weir_jobs::{FeatureRegistry, Manifest, run};

use crate::runs::{exec, opts, sql};

const REGISTRY: &str = r#"
source: sales_daily
id: item
time: day
target: qty
features:
  - {name: lag_1, kind: lag, periods: 1}
  - {name: mean_2, kind: rolling_mean, window: 2}
  - {name: sd_3, kind: rolling_std, window: 3}
  - {name: dow, kind: calendar, part: dow}
  - {name: weekend, kind: calendar, part: is_weekend}
  - {name: holiday, kind: event, table: holidays, time: date}
  - {name: promo, kind: exogenous, table: promos, column: discount, time: day, id: item}
"#;

fn parse_err(text: &str) -> String {
    FeatureRegistry::parse(text, "features.yaml")
        .unwrap_err()
        .to_string()
}

#[test]
fn mistakes_name_the_entry_and_what_is_accepted() {
    let head = "source: panel\nfeatures:\n";
    let e = parse_err(&format!("{head}  - {{name: l7, kind: lagg, periods: 7}}\n"));
    assert!(
        e.contains("features.yaml: feature \"l7\": unknown kind \"lagg\""),
        "{e}"
    );
    assert!(e.contains("rolling_mean"), "{e}");
    let e = parse_err(&format!("{head}  - {{name: l7, kind: lag}}\n"));
    assert!(
        e.contains("feature \"l7\": periods must be a whole number"),
        "{e}"
    );
    let e = parse_err(&format!(
        "{head}  - {{name: l7, kind: lag, periods: 7, window: 3}}\n"
    ));
    assert!(e.contains("feature \"l7\": unknown key \"window\""), "{e}");
    let e = parse_err(&format!(
        "{head}  - {{name: d, kind: calendar, part: hour}}\n"
    ));
    assert!(e.contains("unknown calendar part \"hour\""), "{e}");
    let e = parse_err(&format!("{head}  - {{name: y, kind: lag, periods: 1}}\n"));
    assert!(e.contains("feature \"y\": the name is taken"), "{e}");
    let e = parse_err(&format!(
        "{head}  - {{name: \"a b\", kind: lag, periods: 1}}\n"
    ));
    assert!(e.contains("name \"a b\": use letters"), "{e}");
    let e = parse_err(&format!(
        "{head}  - {{name: s, kind: rolling_std, window: 1}}\n"
    ));
    assert!(e.contains("window must be a whole number from 2"), "{e}");
    let e = parse_err(&format!("{head}  - lag_7\n"));
    assert!(e.contains("feature 1: write it as a map"), "{e}");
    let e = parse_err("source: panel\nfeatures: []\n");
    assert!(e.contains("list at least one feature"), "{e}");
    let e = parse_err("source: panel\nsauce: 1\nfeatures: []\n");
    assert!(e.contains("unknown field `sauce`"), "{e}");
}

async fn lake_with_sales() -> crate::runs::Fixture {
    let f = crate::runs::fixture().await;
    exec(
        &f.lake,
        "CREATE TABLE sales_daily AS SELECT item, CAST(day AS DATE) AS day, qty FROM (VALUES \
         ('a', '2024-01-05', 1.0), ('a', '2024-01-06', 3.0), ('a', '2024-01-07', 5.0), ('a', '2024-01-08', 7.0), \
         ('b', '2024-01-05', 10.0), ('b', '2024-01-06', 20.0)) AS t(item, day, qty)",
        "sales_daily",
    )
    .await;
    exec(
        &f.lake,
        "CREATE TABLE holidays AS SELECT CAST('2024-01-06' AS DATE) AS date, 'x' AS name",
        "holidays",
    )
    .await;
    exec(
        &f.lake,
        "CREATE TABLE promos AS SELECT * FROM (VALUES ('a', CAST('2024-01-07' AS DATE), 0.2), \
         ('a', CAST('2024-01-07' AS DATE), 0.3)) AS t(item, day, discount)",
        "promos",
    )
    .await;
    f
}

fn write_pipeline(dir: &Path, registry: &str) -> Manifest {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("features.yaml"), registry).unwrap();
    std::fs::write(
        dir.join("weir.toml"),
        "name = \"feat\"\n[[stage]]\nname = \"features\"\nfeatures = \"features.yaml\"\noutput = \"sales_features\"\n",
    )
    .unwrap();
    Manifest::load(&dir.join("weir.toml")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feature_stage_computes_what_the_registry_says() {
    let f = lake_with_sales().await;
    let m = write_pipeline(&f.root.join("feat"), REGISTRY);
    assert!(
        m.stages[0].sql.contains("lag(s.\"qty\", 1)"),
        "{}",
        m.stages[0].sql
    );
    let r = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.status, "merged", "{:?}", r.failure);
    let out = sql(
        &f.lake,
        "main",
        "SELECT item, day, lag_1, mean_2, round(sd_3, 4) AS sd_3, dow, weekend, holiday, promo \
         FROM sales_features ORDER BY item, day",
    )
    .await;
    // 2024-01-05 was a Friday. Rolling windows end the period before, so
    // the first row of a series has none; the two promo rows for one day
    // collapse to their max.
    let want = "\
| item | day        | lag_1 | mean_2 | sd_3 | dow | weekend | holiday | promo |
+------+------------+-------+--------+------+-----+---------+---------+-------+
| a    | 2024-01-05 |       |        |      | 5   | 0       | 0       |       |
| a    | 2024-01-06 | 1.0   | 1.0    |      | 6   | 1       | 1       |       |
| a    | 2024-01-07 | 3.0   | 2.0    | 1.4142 | 0   | 1       | 0       | 0.3   |
| a    | 2024-01-08 | 5.0   | 4.0    | 2.0  | 1   | 0       | 0       |       |
| b    | 2024-01-05 |       |        |      | 5   | 0       | 0       |       |
| b    | 2024-01-06 | 10.0  | 10.0   |      | 6   | 1       | 1       |       |";
    let norm = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with('|'))
            .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>().join("|"))
            .collect::<Vec<_>>()
    };
    assert_eq!(norm(&out), norm(want), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_column_is_refused_before_the_run_naming_the_entry() {
    let f = lake_with_sales().await;
    let bad = REGISTRY.replace("column: discount", "column: rebate");
    let m = write_pipeline(&f.root.join("feat"), &bad);
    let repo = f.lake.repo("demand").unwrap();
    let head = repo.branch_head("main").unwrap();
    let e = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("feature \"promo\": table promos has no column \"rebate\""),
        "{e}"
    );
    assert_eq!(repo.branch_head("main").unwrap(), head);
    assert_eq!(repo.list_branches().unwrap().len(), 1, "no run branch left");

    // A column of a table the pipeline writes itself is checked when the
    // feature stage runs, still naming the entry.
    let dir = f.root.join("feat2");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("base.sql"),
        "SELECT item, day, qty FROM sales_daily",
    )
    .unwrap();
    std::fs::write(
        dir.join("features.yaml"),
        "source: base\nid: item\ntime: day\ntarget: units\nfeatures:\n  - {name: l1, kind: lag, periods: 1}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("weir.toml"),
        "name = \"feat2\"\n[[stage]]\nname = \"base\"\nsql = \"base.sql\"\noutput = \"base\"\n\
         [[stage]]\nname = \"features\"\nfeatures = \"features.yaml\"\noutput = \"base_features\"\n",
    )
    .unwrap();
    let m = Manifest::load(&dir.join("weir.toml")).unwrap();
    let r = run(f.lake.clone(), &m, "demand", "main", &opts(&[])).await;
    let e = match r {
        Ok(r) => r.failure.map(|f| f.1).unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("target: table base has no column \"units\""),
        "{e}"
    );
    assert_eq!(repo.branch_head("main").unwrap(), head);
}

#[test]
fn a_stage_names_sql_or_features_not_both() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.sql"), "SELECT 1").unwrap();
    std::fs::write(
        dir.path().join("weir.toml"),
        "name = \"x\"\n[[stage]]\nname = \"s\"\nsql = \"a.sql\"\nfeatures = \"f.yaml\"\noutput = \"t\"\n",
    )
    .unwrap();
    let e = Manifest::load(&dir.path().join("weir.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("stage s: give either sql"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_deviation_over_a_run_of_zeros_is_zero_not_nan() {
    let f = crate::runs::fixture().await;
    // Values, then a long stretch of zeros: the sliding variance removes
    // the values one by one and must land on 0.
    exec(
        &f.lake,
        "CREATE TABLE z AS SELECT 'a' AS unique_id, d AS ds, \
         CASE WHEN v < 10 THEN CAST(v AS DOUBLE) * 1.1 ELSE 0.0 END AS y \
         FROM (SELECT d, row_number() OVER (ORDER BY d) - 1 AS v \
               FROM unnest(range(DATE '2024-01-01', DATE '2024-03-01', INTERVAL '1 day')) AS t(d))",
        "z",
    )
    .await;
    let reg = FeatureRegistry::parse(
        "source: z\nfeatures:\n  - {name: sd, kind: rolling_std, window: 7}\n",
        "f.yaml",
    )
    .unwrap();
    let out = sql(
        &f.lake,
        "main",
        &format!(
            "SELECT count(*) FILTER (WHERE isnan(sd)) AS nan, count(*) FILTER (WHERE sd = 0) AS zero, \
             count(sd) AS n FROM ({})",
            reg.to_sql("f.yaml").lines().filter(|l| !l.starts_with("--")).collect::<Vec<_>>().join("\n")
        ),
    )
    .await;
    // 60 rows: the first has no window, the second one value (NULL), so
    // 58 deviations; the 43 whose window holds only zeros are exactly 0
    // (DataFusion's sliding stddev_samp gives NaN for all 43).
    assert!(out.contains("| 0   | 43   | 58 |"), "{out}");
}
