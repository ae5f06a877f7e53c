//! Forecasting speed and accuracy beside statsforecast on the same data.
//!
//! `weir-bench forecast gen N FILE` writes N seeded synthetic daily series
//! of 3 years (weekly seasonality, trend, noise; every fifth series
//! intermittent) as `unique_id,ds,y` CSV. `weir-bench forecast run FILE`
//! holds back the last 28 days of each series, fits AutoETS, AutoTheta,
//! SeasonalNaive and CrostonOptimized (season 7, 80/95% intervals) on the
//! rest using every core, and prints per model the wall time and the mean
//! MASE on the held-back window (all five models, or the comma-separated
//! list given after FILE). `bench/forecast.sh` runs statsforecast
//! on the same file and prints both side by side.

use std::io::Write;
use std::time::Instant;

const H: usize = 28;
const SEASON: usize = 7;
const DAYS: usize = 3 * 365;
pub const MODELS: [&str; 5] = [
    "auto_ets",
    "auto_theta",
    "mstl",
    "seasonal_naive",
    "croston_optimized",
];

/// SplitMix64: a tiny seeded generator, so the data are the same everywhere.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn next(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-300), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn series(i: usize) -> Vec<f64> {
    let mut r = Rng(42 + i as u64 * 7919);
    let level = 20.0 + 200.0 * r.next();
    let trend = (r.next() - 0.3) * 0.05;
    let amp: Vec<f64> = (0..SEASON).map(|_| 0.3 * (r.next() - 0.5)).collect();
    let intermittent = i % 5 == 4;
    (0..DAYS)
        .map(|t| {
            if intermittent {
                return if r.next() < 0.25 {
                    (1.0 + 4.0 * r.next()).round()
                } else {
                    0.0
                };
            }
            let v =
                (level + trend * t as f64) * (1.0 + amp[t % SEASON]) + r.normal() * level * 0.08;
            v.max(0.1).round()
        })
        .collect()
}

fn generate(n: usize, path: &str) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "unique_id,ds,y")?;
    for i in 0..n {
        for (t, v) in series(i).iter().enumerate() {
            // day t after 2022-01-01
            writeln!(f, "s{i},{t},{v}")?;
        }
    }
    Ok(())
}

fn load(path: &str) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out: Vec<Vec<f64>> = Vec::new();
    let mut last = String::new();
    for line in text.lines().skip(1) {
        let mut parts = line.split(',');
        let id = parts.next().unwrap_or_default();
        let y: f64 = parts
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        if id != last {
            out.push(Vec::new());
            last = id.to_string();
        }
        if let Some(s) = out.last_mut() {
            s.push(y);
        }
    }
    out
}

/// CPU seconds (user + system) this process has used, all threads: a
/// measure of work that other load on a noisy machine does not inflate.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" that closes the command name; utime and stime are
    // the 12th and 13th of them, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

fn run(path: &str, models: &[&str]) {
    let all = load(path);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("| model | series | weir seconds | weir CPU seconds | weir MASE |");
    println!("|---|---|---|---|---|");
    for &model in models {
        let spec = weir_forecast::ModelSpec::parse(model).expect("model");
        let start = Instant::now();
        let cpu = cpu_seconds();
        let chunk = all.len().div_ceil(threads);
        let mases: Vec<f64> = std::thread::scope(|s| {
            let handles: Vec<_> = all
                .chunks(chunk.max(1))
                .map(|part| {
                    let spec = &spec;
                    s.spawn(move || {
                        part.iter()
                            .map(|y| {
                                let (train, test) = y.split_at(y.len() - H);
                                match spec.forecast(train, H, SEASON, &[80.0, 95.0]) {
                                    Ok(f) => {
                                        weir_forecast::metrics::mase(test, &f.mean, train, SEASON)
                                    }
                                    Err(_) => f64::NAN,
                                }
                            })
                            .collect::<Vec<f64>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("worker"))
                .collect()
        });
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        let ok: Vec<f64> = mases.iter().copied().filter(|v| v.is_finite()).collect();
        let mase = ok.iter().sum::<f64>() / ok.len().max(1) as f64;
        println!(
            "| {model} | {} | {secs:.3} | {cpu:.2} | {mase:.4} |",
            all.len()
        );
    }
}

pub fn main(args: &[String]) {
    match args {
        [cmd, n, path] if cmd == "gen" => {
            let n: usize = n
                .parse()
                .unwrap_or_else(|_| panic!("N must be a number: {n}"));
            generate(n, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
        [cmd, path] if cmd == "run" => run(path, &MODELS),
        [cmd, path, models] if cmd == "run" => {
            let models: Vec<&str> = models.split(',').collect();
            run(path, &models)
        }
        [cmd, path] if cmd == "m1" => crate::m1::run(path),
        _ => {
            eprintln!(
                "usage: weir-bench forecast gen N FILE | forecast run FILE [MODEL,...] | forecast m1 TSF"
            );
            std::process::exit(2);
        }
    }
}
