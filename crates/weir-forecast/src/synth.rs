//! A seeded synthetic demand panel with known truth, for tests and demos:
//! stores × items (items grouped in categories), trend, weekly and yearly
//! seasonality, promotions, intermittent items, injected anomalies, and a
//! level shift (drift) on a known date for a known set of series. The same
//! seed gives the same data on every machine.

/// One day of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub series: usize,
    /// Days since the start date.
    pub day: usize,
    pub y: f64,
    pub promo: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub id: String,
    pub store: String,
    pub item: String,
    pub category: String,
    pub intermittent: bool,
}

/// What was injected, to check a pipeline against.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// (series, day) of every injected spike.
    pub anomalies: Vec<(usize, usize)>,
    /// The first day of the level shift.
    pub drift_day: usize,
    /// The series whose level shifts, and by how much (a multiplier).
    pub drift_series: Vec<usize>,
    pub drift_factor: f64,
}

#[derive(Debug, Clone)]
pub struct Panel {
    pub series: Vec<Series>,
    pub rows: Vec<Row>,
    pub truth: Truth,
}

/// SplitMix64: tiny, seeded, the same everywhere.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

const CATEGORIES: [&str; 4] = ["beverages", "dairy", "household", "snacks"];
/// Weekly shape, Monday first: weekends sell more.
const WEEK: [f64; 7] = [0.9, 0.85, 0.9, 0.95, 1.1, 1.25, 1.05];

/// `n` series of `days` days. Every fifth series is intermittent; each
/// regular series gets one or two spikes away from promotions; from 80% of
/// the way in, the series of one store in two step up by 40%.
pub fn demand(n: usize, days: usize, seed: u64) -> Panel {
    let mut r = Rng(seed ^ 0x5745_4952);
    let stores = ((n as f64).sqrt() / 2.0).round().clamp(1.0, 50.0) as usize;
    let series: Vec<Series> = (0..n)
        .map(|k| {
            let (store, item) = (k % stores, k / stores);
            Series {
                id: format!("store{store}_item{item}"),
                store: format!("store{store}"),
                item: format!("item{item}"),
                category: CATEGORIES[item % CATEGORIES.len()].to_string(),
                intermittent: k % 5 == 4,
            }
        })
        .collect();
    let drift_day = days * 4 / 5;
    let drift_factor = 1.4;
    let drift_series: Vec<usize> = (0..n)
        .filter(|k| (k % stores).is_multiple_of(2) && k % 5 != 4)
        .collect();
    let mut rows = Vec::with_capacity(n * days);
    let mut anomalies = Vec::new();
    for (k, s) in series.iter().enumerate() {
        let level = (5f64.ln() + r.unit() * (100f64.ln() - 5f64.ln())).exp();
        let trend = (r.unit() - 0.4) * 0.4 / 365.0;
        let phase = r.unit() * 2.0 * std::f64::consts::PI;
        let mut promo = vec![false; days];
        let mut d = r.below(30);
        while d < days {
            let len = 3 + r.below(5);
            promo[d..(d + len).min(days)].fill(true);
            d += len + 20 + r.below(40);
        }
        let spikes: Vec<usize> = if s.intermittent || days < 60 {
            Vec::new()
        } else {
            let mut v: Vec<usize> = (0..1 + r.below(2))
                .map(|_| 30 + r.below(days - 45))
                .filter(|&d| !promo[d] && d + 1 != drift_day && d != drift_day)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let drifts = drift_series.binary_search(&k).is_ok();
        for (day, &on_promo) in promo.iter().enumerate() {
            let y = if s.intermittent {
                if r.unit() < 0.15 {
                    (1 + r.below(5)) as f64
                } else {
                    0.0
                }
            } else {
                let season = WEEK[day % 7]
                    * (1.0
                        + 0.2 * (2.0 * std::f64::consts::PI * day as f64 / 365.25 + phase).sin());
                let mut mean = level * (1.0 + trend * day as f64) * season;
                if on_promo {
                    mean *= 1.5;
                }
                if drifts && day >= drift_day {
                    mean *= drift_factor;
                }
                let mut v = (mean + r.normal() * mean.sqrt()).max(0.0).round();
                if spikes.contains(&day) {
                    // From the expected level, so noise cannot hide it.
                    v = (mean * 3.0 + 10.0).round();
                    anomalies.push((k, day));
                }
                v
            };
            rows.push(Row {
                series: k,
                day,
                y,
                promo: on_promo,
            });
        }
    }
    Panel {
        series,
        rows,
        truth: Truth {
            anomalies,
            drift_day,
            drift_series,
            drift_factor,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_panel_and_the_truth_is_in_the_data() {
        let a = demand(40, 400, 7);
        assert_eq!(a.rows, demand(40, 400, 7).rows);
        assert_ne!(a.rows, demand(40, 400, 8).rows);
        assert_eq!(a.rows.len(), 40 * 400);
        assert!(!a.truth.anomalies.is_empty());
        // A spike is far above its neighbours.
        for &(s, d) in &a.truth.anomalies {
            let y = |d: usize| a.rows[s * 400 + d].y;
            let around = (y(d - 7) + y(d + 7)) / 2.0;
            assert!(
                y(d) > 1.5 * around + 5.0,
                "series {s} day {d}: {} vs {around}",
                y(d)
            );
        }
        // The drifted series step up after the drift day; the others do not.
        let mean = |s: usize, from: usize, to: usize| {
            (from..to).map(|d| a.rows[s * 400 + d].y).sum::<f64>() / (to - from) as f64
        };
        let d = a.truth.drift_day;
        let s = a.truth.drift_series[0];
        assert!(mean(s, d, 400) > 1.2 * mean(s, d - 60, d));
        let intermittent = a.series.iter().position(|s| s.intermittent).unwrap();
        let zeros = (0..400)
            .filter(|&d| a.rows[intermittent * 400 + d].y == 0.0)
            .count();
        assert!(zeros > 250);
    }
}
