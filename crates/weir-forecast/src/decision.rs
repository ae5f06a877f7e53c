//! Inventory decisions from forecast distributions: the newsvendor quantity
//! at the critical fractile, its expected cost, and the expected value of
//! perfect information (formulas as in Snyder & Shen, checked against
//! stockpyl).

use crate::error::{ForecastError, Result};
use crate::math::{norm_cdf, norm_pdf, norm_ppf};

/// The result of a newsvendor decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Newsvendor {
    /// Order quantity.
    pub quantity: f64,
    /// Critical fractile cu / (cu + co): the target service level.
    pub service_level: f64,
    /// Expected underage plus overage cost at `quantity`.
    pub expected_cost: f64,
    /// Expected value of perfect information: what knowing demand in advance would save.
    pub evpi: f64,
}

fn check_costs(underage: f64, overage: f64) -> Result<f64> {
    if !(underage > 0.0 && underage.is_finite() && overage > 0.0 && overage.is_finite()) {
        return Err(ForecastError::arg(
            "cost",
            format!("underage ({underage}) and overage ({overage}) costs must be positive"),
        ));
    }
    Ok(underage / (underage + overage))
}

/// Expected cost of ordering `q` against Normal(mu, sigma) demand.
pub fn expected_cost_normal(q: f64, mu: f64, sigma: f64, underage: f64, overage: f64) -> f64 {
    if sigma <= 0.0 {
        return if q >= mu {
            overage * (q - mu)
        } else {
            underage * (mu - q)
        };
    }
    let z = (q - mu) / sigma;
    let loss = norm_pdf(z) - z * (1.0 - norm_cdf(z)); // E[(Z - z)+]
    let short = sigma * loss;
    let over = short + (q - mu);
    overage * over + underage * short
}

/// Newsvendor under Normal(mu, sigma) demand: Q* = mu + z_alpha sigma and,
/// at the optimum, expected cost = EVPI = (cu + co) phi(z_alpha) sigma.
pub fn newsvendor_normal(mu: f64, sigma: f64, underage: f64, overage: f64) -> Result<Newsvendor> {
    let alpha = check_costs(underage, overage)?;
    if !(sigma >= 0.0 && sigma.is_finite() && mu.is_finite()) {
        return Err(ForecastError::arg(
            "sigma",
            format!("demand mean {mu} and sd {sigma} must be finite, sd >= 0"),
        ));
    }
    let z = norm_ppf(alpha);
    let cost = (underage + overage) * norm_pdf(z) * sigma;
    Ok(Newsvendor {
        quantity: mu + z * sigma,
        service_level: alpha,
        expected_cost: cost,
        evpi: cost,
    })
}

/// Newsvendor from quantile forecasts (`levels` in (0, 1), ascending, with
/// their `values`): the order is the critical-fractile quantile,
/// interpolated linearly between the neighbouring levels (and clamped to the
/// outermost ones).
pub fn newsvendor_quantiles(
    levels: &[f64],
    values: &[f64],
    underage: f64,
    overage: f64,
) -> Result<f64> {
    let alpha = check_costs(underage, overage)?;
    if levels.is_empty() || levels.len() != values.len() {
        return Err(ForecastError::arg(
            "quantiles",
            "need as many values as levels, at least one",
        ));
    }
    if levels.windows(2).any(|w| w[1] <= w[0]) || values.windows(2).any(|w| w[1] < w[0]) {
        return Err(ForecastError::arg(
            "quantiles",
            "levels must increase and values must not decrease",
        ));
    }
    if alpha <= levels[0] {
        return Ok(values[0]);
    }
    for i in 1..levels.len() {
        if alpha <= levels[i] {
            let t = (alpha - levels[i - 1]) / (levels[i] - levels[i - 1]);
            return Ok(values[i - 1] + t * (values[i] - values[i - 1]));
        }
    }
    Ok(values[values.len() - 1])
}

/// Newsvendor for a discrete demand distribution (`support` ascending with
/// probabilities `pmf`): the smallest Q with F(Q) >= alpha, its expected
/// cost, and EVPI (the optimal expected cost, since perfect information
/// costs nothing in mismatch).
pub fn newsvendor_discrete(
    support: &[f64],
    pmf: &[f64],
    underage: f64,
    overage: f64,
) -> Result<Newsvendor> {
    let alpha = check_costs(underage, overage)?;
    if support.is_empty() || support.len() != pmf.len() || pmf.iter().any(|p| *p < 0.0) {
        return Err(ForecastError::arg(
            "distribution",
            "need one non-negative probability per support point",
        ));
    }
    let total: f64 = pmf.iter().sum();
    let cost_at = |q: f64| -> f64 {
        support
            .iter()
            .zip(pmf)
            .map(|(d, p)| {
                p / total
                    * if q >= *d {
                        overage * (q - d)
                    } else {
                        underage * (d - q)
                    }
            })
            .sum()
    };
    let mut cdf = 0.0;
    let mut q = support[support.len() - 1];
    for (d, p) in support.iter().zip(pmf) {
        cdf += p / total;
        if cdf >= alpha - 1e-12 {
            q = *d;
            break;
        }
    }
    let cost = cost_at(q);
    Ok(Newsvendor {
        quantity: q,
        service_level: alpha,
        expected_cost: cost,
        evpi: cost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snyder_shen_example_4_3() {
        // holding 0.18, stockout 0.70, demand N(50, 8)
        let r = newsvendor_normal(50.0, 8.0, 0.70, 0.18).unwrap();
        assert!((r.service_level - 0.795_455).abs() < 1e-6);
        assert!((r.quantity - 56.603_96).abs() < 1e-4, "{}", r.quantity);
        assert!(
            (r.expected_cost - 1.997_605).abs() < 1e-5,
            "{}",
            r.expected_cost
        );
        let direct = expected_cost_normal(r.quantity, 50.0, 8.0, 0.70, 0.18);
        assert!((direct - r.expected_cost).abs() < 1e-9);
        assert!(expected_cost_normal(r.quantity + 1.0, 50.0, 8.0, 0.70, 0.18) > direct);
    }

    #[test]
    fn poisson_six_with_holding_one_stockout_four() {
        let mut pmf = Vec::new();
        let mut p = (-6f64).exp();
        for k in 0..60 {
            pmf.push(p);
            p *= 6.0 / (k + 1) as f64;
        }
        let support: Vec<f64> = (0..60).map(|k| k as f64).collect();
        let r = newsvendor_discrete(&support, &pmf, 4.0, 1.0).unwrap();
        assert_eq!(r.quantity, 8.0);
        assert!(
            (r.expected_cost - 3.570_106_9).abs() < 1e-6,
            "{}",
            r.expected_cost
        );
    }

    #[test]
    fn product_x_evpi() {
        // margin 3, salvage loss 2: EMV(7) = 19.00, profit under certainty 21.45, EVPI 2.45
        let support = [5.0, 6.0, 7.0, 8.0, 9.0];
        let pmf = [0.10, 0.20, 0.30, 0.25, 0.15];
        let r = newsvendor_discrete(&support, &pmf, 3.0, 2.0).unwrap();
        assert_eq!(r.quantity, 7.0);
        assert!((r.evpi - 2.45).abs() < 1e-12);
    }

    #[test]
    fn quantile_interpolation() {
        let q = newsvendor_quantiles(&[0.5, 0.8, 0.9], &[10.0, 13.0, 15.0], 3.0, 1.0).unwrap();
        assert!((q - 12.5).abs() < 1e-12); // alpha 0.75: 10 + (0.25 / 0.3) * 3
        assert!(newsvendor_quantiles(&[0.5], &[1.0], -1.0, 1.0).is_err());
    }
}
