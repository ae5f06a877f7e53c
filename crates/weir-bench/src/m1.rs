//! M1 yearly (181 series, horizon 6, `data/m1_yearly_dataset.tsf`): accuracy
//! of each model on the held-back last 6 years, as bench/m1.sh prints beside
//! statsforecast. MASE with the one-step naive scale (M4's yearly rule),
//! sMAPE in percent (M4's definition).

use std::time::Instant;

pub const H: usize = 6;
pub const MODELS: [&str; 8] = [
    "naive",
    "random_walk_with_drift",
    "historic_average",
    "ses",
    "holt",
    "auto_ets",
    "theta",
    "auto_theta",
];

/// The values of each series of a Monash `.tsf` file.
pub fn load(path: &str) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut data = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim().eq_ignore_ascii_case("@data") {
            data = true;
            continue;
        }
        if !data || line.trim().is_empty() {
            continue;
        }
        let values = line.rsplit(':').next().unwrap_or("");
        out.push(
            values
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{path}: bad value {v}"))
                })
                .collect(),
        );
    }
    out
}

pub fn run(path: &str) {
    let all = load(path);
    println!("| model | series | weir seconds | weir MASE | weir sMAPE |");
    println!("|---|---|---|---|---|");
    for model in MODELS {
        let spec = weir_forecast::ModelSpec::parse(model).expect("model");
        let start = Instant::now();
        let (mut mase, mut smape, mut ok) = (0.0, 0.0, 0usize);
        for y in &all {
            let (train, test) = y.split_at(y.len() - H);
            let Ok(f) = spec.forecast(train, H, 1, &[]) else {
                continue;
            };
            let m = weir_forecast::metrics::mase(test, &f.mean, train, 1);
            let s = 200.0 * weir_forecast::metrics::smape(test, &f.mean);
            if m.is_finite() && s.is_finite() {
                mase += m;
                smape += s;
                ok += 1;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let n = ok.max(1) as f64;
        println!(
            "| {model} | {ok} | {secs:.3} | {:.4} | {:.3} |",
            mase / n,
            smape / n
        );
    }
}
