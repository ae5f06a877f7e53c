//! Drift, diagnostics, anomaly and reconciliation kernels against the values
//! Evidently 0.7.23, scipy 1.17.1, statsmodels 0.15.0, PyOD 3.6.7 and
//! hierarchicalforecast 1.5.3 compute on the same shipped data
//! (`bench/parity.sh` regenerates `tests/goldens/python.tsv`).

use std::collections::{BTreeMap, HashMap};

use crate::{data, series};
use weir_forecast::anomaly::{self, EifParams};
use weir_forecast::diagnostics::{bias_t_test, ljung_box};
use weir_forecast::drift::{self, StatTest};
use weir_forecast::hierarchy::{Hierarchy, METHOD_NAMES, Method, reconcile};
use weir_forecast::math::norm_ppf;

fn goldens() -> HashMap<String, f64> {
    let path = crate::manifest_dir().join("tests/goldens/python.tsv");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[track_caller]
fn near(g: &HashMap<String, f64>, key: &str, got: f64, rel: f64) {
    let want = g[key];
    let tol = rel * want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= tol,
        "{key}: weir {got}, python {want}"
    );
}

struct Weather {
    year: Vec<String>,
    num: HashMap<&'static str, Vec<f64>>,
    weather: Vec<String>,
}

fn weather() -> Weather {
    let text = data("seattle-weather.csv");
    let mut w = Weather {
        year: Vec::new(),
        num: HashMap::new(),
        weather: Vec::new(),
    };
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        w.year.push(f[0][..4].to_string());
        for (i, col) in ["precipitation", "temp_max", "temp_min", "wind"]
            .into_iter()
            .enumerate()
        {
            w.num
                .entry(col)
                .or_default()
                .push(f[i + 1].parse().unwrap());
        }
        w.weather.push(f[5].to_string());
    }
    w
}

impl Weather {
    fn pick<T: Clone>(&self, col: &[T], keep: impl Fn(&str) -> bool) -> Vec<T> {
        col.iter()
            .zip(&self.year)
            .filter(|(_, y)| keep(y))
            .map(|(v, _)| v.clone())
            .collect()
    }
}

#[test]
fn drift_matches_evidently() {
    let g = goldens();
    let w = weather();
    let rain: Vec<&str> = w.num["precipitation"]
        .iter()
        .map(|p| if *p > 0.0 { "rain" } else { "dry" })
        .collect();
    let current = |y: &str| y == "2015";
    for (tag, reference) in [
        ("small", (|y: &str| y == "2014") as fn(&str) -> bool),
        ("large", |y: &str| y != "2015"),
    ] {
        for col in ["temp_max", "wind", "precipitation"] {
            let (r, c) = (w.pick(&w.num[col], reference), w.pick(&w.num[col], current));
            let res = drift::drift_numerical(&r, &c, None, None).unwrap();
            let key = format!("drift.{tag}.{col}.{}", res.stattest.name());
            near(&g, &key, res.drift_score, 1e-9);
            assert_eq!(
                res.drift_detected,
                g[&format!("drift.{tag}.{col}.detected")] == 1.0,
                "{key}"
            );
            for m in [StatTest::Psi, StatTest::JensenShannon] {
                if col == "temp_max" {
                    let v = drift::drift_numerical(&r, &c, Some(m), None)
                        .unwrap()
                        .drift_score;
                    near(&g, &format!("drift.{tag}.{col}.{}", m.name()), v, 1e-9);
                }
            }
        }
        let cats: [(&str, Vec<&str>); 2] = [
            ("weather", w.weather.iter().map(|s| s.as_str()).collect()),
            ("rain", rain.clone()),
        ];
        for (col, values) in cats {
            let (r, c) = (w.pick(&values, reference), w.pick(&values, current));
            let res = drift::drift_categorical(&r, &c, None, None).unwrap();
            let key = format!("drift.{tag}.{col}.{}", res.stattest.name());
            near(&g, &key, res.drift_score, 1e-9);
            assert_eq!(
                res.drift_detected,
                g[&format!("drift.{tag}.{col}.detected")] == 1.0,
                "{key}"
            );
            if col == "weather" {
                for m in [StatTest::Psi, StatTest::JensenShannon] {
                    let v = drift::drift_categorical(&r, &c, Some(m), None)
                        .unwrap()
                        .drift_score;
                    near(&g, &format!("drift.{tag}.{col}.{}", m.name()), v, 1e-9);
                }
            }
        }
    }
    assert!(drift::drift_categorical(&["a"], &["b"], Some(StatTest::Ks), None).is_err());
}

#[test]
fn ks_and_wasserstein_match_scipy() {
    let g = goldens();
    let w = weather();
    let t14 = w.pick(&w.num["temp_max"], |y| y == "2014");
    let t15 = w.pick(&w.num["temp_max"], |y| y == "2015");
    for (key, a, b) in [
        ("equal", &t14[..], &t15[..]),
        ("unequal", &t14[..], &t15[..200]),
    ] {
        let (d, p) = drift::ks_2samp(a, b);
        near(&g, &format!("ks.{key}.d"), d, 1e-12);
        near(&g, &format!("ks.{key}.p"), p, 1e-9);
    }
    let big_a: Vec<f64> = (0..12000)
        .map(|i| (i as f64 * 0.7).sin() * 3.0 + (i % 7) as f64)
        .collect();
    let big_b: Vec<f64> = (0..11000)
        .map(|i| (i as f64 * 0.9).sin() * 3.0 + (i % 7) as f64 + 0.05)
        .collect();
    let (d, p) = drift::ks_2samp(&big_a, &big_b);
    near(&g, "ks.asymp.d", d, 1e-12);
    // asymptotic branch: Kolmogorov with Stephens' correction, not scipy's kstwo
    near(&g, "ks.asymp.p", p, 0.02);
    near(
        &g,
        "wasserstein.temp",
        drift::wasserstein(&t14, &t15),
        1e-12,
    );
}

#[test]
fn residual_tests_match_statsmodels_and_scipy() {
    let g = goldens();
    let air = series("Airline.csv");
    let resid: Vec<f64> = (12..air.len()).map(|t| air[t] - air[t - 12]).collect();
    let lb = ljung_box(&resid, 10, 0).unwrap();
    near(&g, "ljung_box.q", lb.statistic, 1e-10);
    near(&g, "ljung_box.p", lb.p_value, 1e-6);
    let m = resid.iter().sum::<f64>() / resid.len() as f64;
    let shifted: Vec<f64> = resid.iter().map(|e| e - m + 0.5).collect();
    let t = bias_t_test(&shifted).unwrap();
    near(&g, "ttest.t", t.statistic, 1e-9);
    near(&g, "ttest.p", t.p_value, 1e-9);
}

#[test]
fn anomalies_match_pyod() {
    let g = goldens();
    let w = weather();
    let cols: Vec<&[f64]> = ["precipitation", "temp_max", "temp_min", "wind"]
        .iter()
        .map(|c| w.num[c].as_slice())
        .collect();
    let s = anomaly::ecod(&cols);
    for i in [0, 1, 2, 100, 1000] {
        near(&g, &format!("ecod.score.{i}"), s[i], 1e-9);
    }
    near(
        &g,
        "ecod.threshold",
        anomaly::threshold(&s, 0.1).unwrap(),
        1e-9,
    );
    let flagged = anomaly::labels(&s, 0.1)
        .unwrap()
        .iter()
        .filter(|l| **l)
        .count();
    assert_eq!(flagged as f64, g["ecod.flagged"]);
    // Isolation forests are random: weir's classic forest (extension 0) and
    // PyOD's IForest should agree on most of the 30 most isolated days.
    let p = EifParams {
        trees: 500,
        extension: Some(0),
        ..EifParams::default()
    };
    let scores = anomaly::eif(&cols, &p);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let pyod: Vec<usize> = (0..30)
        .map(|r| g[&format!("iforest.top.{r}")] as usize)
        .collect();
    let shared = order[..30].iter().filter(|i| pyod.contains(i)).count();
    assert!(
        shared >= 20,
        "only {shared} of PyOD's top 30 in weir's top 30"
    );
}

#[test]
fn reconciliation_matches_hierarchicalforecast() {
    let g = goldens();
    // Unemployment by industry (bottom) and their total, monthly.
    let text = data("unemployment-across-industries.json");
    let mut by_series: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for obj in text.split('}') {
        let field = |name: &str| -> Option<String> {
            let at = obj.find(&format!("\"{name}\":"))? + name.len() + 3;
            let rest = &obj[at..];
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            Some(rest[..end].trim_matches('"').to_string())
        };
        if let (Some(s), Some(y), Some(m), Some(c)) = (
            field("series"),
            field("year"),
            field("month"),
            field("count"),
        ) {
            let ds = format!("{y}-{m:0>2}");
            by_series
                .entry(s)
                .or_default()
                .insert(ds, c.parse().unwrap());
        }
    }
    let edges: Vec<(String, String)> = by_series
        .keys()
        .map(|s| (s.clone(), "total".to_string()))
        .collect();
    let h = Hierarchy::from_edges(&edges).unwrap();
    let mut ys: Vec<Vec<f64>> = vec![Vec::new(); h.len()];
    for (name, obs) in &by_series {
        ys[h.index(name).unwrap()] = obs.values().copied().collect();
    }
    let len = ys[1].len();
    ys[0] = (0..len)
        .map(|t| ys[1..].iter().map(|y| y[t]).sum())
        .collect();
    let (m, steps) = (12, 12);
    let z = norm_ppf(0.975);
    let mut base = Vec::new();
    let mut resid = Vec::new();
    let mut sd = Vec::new();
    for y in &ys {
        let n = y.len();
        let growth = y[n - m..].iter().sum::<f64>() / y[n - 2 * m..n - m].iter().sum::<f64>();
        base.push(y[n - m..].iter().map(|v| v * growth).collect::<Vec<_>>());
        let r: Vec<f64> = (m..n).map(|t| y[t] - y[t - m]).collect();
        let s = (r.iter().map(|e| e * e).sum::<f64>() / r.len() as f64).sqrt();
        sd.push(vec![s; steps]);
        resid.push(r);
    }
    let construction = h.index("Construction").unwrap();
    let err = reconcile(&h, &base, Method::MintCov, Some(&resid), None).unwrap_err();
    assert!(err.to_string().contains("singular"), "{err}");
    for name in METHOD_NAMES.into_iter().filter(|m| *m != "mint_cov") {
        let method = Method::parse(name).unwrap();
        let rec = reconcile(&h, &base, method, Some(&resid), Some(&sd)).unwrap();
        for (node, idx) in [("total", 0), ("Construction", construction)] {
            for step in [0, 11] {
                let key = format!("reconcile.{name}.{node}.{step}");
                near(&g, &key, rec.mean[idx][step], 1e-9);
                let hi = format!("{key}.hi95");
                if g.contains_key(&hi) {
                    let sd = rec.sd.as_ref().unwrap()[idx][step];
                    near(&g, &hi, rec.mean[idx][step] + z * sd, 1e-7);
                }
            }
        }
    }
}
