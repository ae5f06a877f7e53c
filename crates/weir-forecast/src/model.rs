//! Model names as SQL users write them (`'auto_ets'`, `'tsb(alpha_d=0.2)'`),
//! parsed once and dispatched to the kernels.

use crate::error::{ForecastError, Result};
use crate::ets::auto_ets;
use crate::theta::{ThetaKind, theta};
use crate::{Forecast, baseline as b, intermittent as i};

/// Every accepted model name, in the order the reference documents them.
pub const MODEL_NAMES: &[&str] = &[
    "naive",
    "seasonal_naive",
    "historic_average",
    "window_average",
    "random_walk_with_drift",
    "ses",
    "holt",
    "holt_winters",
    "auto_ets",
    "theta",
    "optimized_theta",
    "dynamic_theta",
    "dynamic_optimized_theta",
    "auto_theta",
    "mstl",
    "croston_classic",
    "croston_optimized",
    "croston_sba",
    "tsb",
    "adida",
    "imapa",
];

/// A parsed model: its name and `key=value` parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub params: Vec<(String, String)>,
}

impl ModelSpec {
    /// Parses `name` or `name(key=value, ...)`; checks the name and the
    /// parameter names so that a typo fails when the query is planned.
    pub fn parse(text: &str) -> Result<ModelSpec> {
        let text = text.trim();
        let (name, rest) = match text.find('(') {
            Some(p) => {
                let inner = text[p + 1..]
                    .strip_suffix(')')
                    .ok_or_else(|| ForecastError::arg("model", format!("'{text}': missing ')'")))?;
                (&text[..p], Some(inner))
            }
            None => (text, None),
        };
        let name = name.trim().to_ascii_lowercase();
        if !MODEL_NAMES.contains(&name.as_str()) {
            return Err(ForecastError::UnknownModel(name));
        }
        let mut params = Vec::new();
        for part in rest
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                ForecastError::arg("model", format!("'{part}' in '{text}' must be key=value"))
            })?;
            let k = k.trim().to_ascii_lowercase();
            let allowed = allowed_params(&name);
            if !allowed.contains(&k.as_str()) {
                let list = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                };
                return Err(ForecastError::arg(
                    "model",
                    format!("{name} has no parameter '{k}' (accepted: {list})"),
                ));
            }
            params.push((k, v.trim().trim_matches('\'').to_string()));
        }
        let spec = ModelSpec { name, params };
        // Values that can be checked without data fail at planning time too.
        spec.seasons()?;
        Ok(spec)
    }

    /// MSTL's `seasons=7|365`.
    fn seasons(&self) -> Result<Option<Vec<usize>>> {
        let Some(list) = self.get("seasons") else {
            return Ok(None);
        };
        list.split(['|', ' ', ';'])
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<usize>().ok().filter(|v| *v >= 1).ok_or_else(|| {
                    ForecastError::arg(
                        "seasons",
                        format!("'{p}' is not a season length; write e.g. 'mstl(seasons=7|365)'"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn num(&self, key: &'static str) -> Result<Option<f64>> {
        self.parsed(key, "a number")
    }

    fn count(&self, key: &'static str) -> Result<Option<usize>> {
        self.parsed(key, "a whole number")
    }

    fn parsed<T: std::str::FromStr>(&self, key: &'static str, kind: &str) -> Result<Option<T>> {
        self.get(key)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| ForecastError::arg(key, format!("'{v}' is not {kind}")))
            })
            .transpose()
    }

    /// Forecasts `h` steps after `y` with intervals at `levels` percent.
    pub fn forecast(
        &self,
        y: &[f64],
        h: usize,
        season_length: usize,
        levels: &[f64],
    ) -> Result<Forecast> {
        if h == 0 {
            return Err(ForecastError::arg("h", "the horizon must be at least 1"));
        }
        for &lv in levels {
            if !(lv > 0.0 && lv < 100.0) {
                return Err(ForecastError::arg(
                    "level",
                    format!("{lv} must be between 0 and 100 (a percentage)"),
                ));
            }
        }
        let m = season_length.max(1);
        let ets = |model: &str, damped: Option<bool>| -> Result<Forecast> {
            let fit = auto_ets(y, m, model, damped)?;
            let mean = fit.forecast_mean(h);
            let sd: Vec<f64> = match fit.forecast_variance(&mean) {
                Some(v) => v.iter().map(|x| x.max(0.0).sqrt()).collect(),
                None => vec![f64::NAN; h],
            };
            Ok(Forecast::normal(mean, &sd, levels, &fit.method()))
        };
        let error_type = || -> Result<char> {
            match self.get("error_type").map(|s| s.to_ascii_uppercase()) {
                None => Ok('A'),
                Some(s) if s == "A" || s == "M" => Ok(s.chars().next().unwrap_or('A')),
                Some(s) => Err(ForecastError::arg(
                    "error_type",
                    format!("'{s}' must be A or M"),
                )),
            }
        };
        match self.name.as_str() {
            "naive" => b::naive(y, h, levels),
            "seasonal_naive" => b::seasonal_naive(y, h, m, levels),
            "historic_average" => b::historic_average(y, h, levels),
            "window_average" => {
                let w = match self.count("window_size")? {
                    Some(w) => w,
                    None if m > 1 => m,
                    None => {
                        return Err(ForecastError::arg(
                            "window_size",
                            "window_average needs a window, e.g. 'window_average(window_size=7)', or a season_length > 1",
                        ));
                    }
                };
                b::window_average(y, h, w, levels)
            }
            "random_walk_with_drift" => b::random_walk_with_drift(y, h, levels),
            "ses" => b::ses(y, h, self.num("alpha")?, levels),
            "holt" => ets(&format!("{}AN", error_type()?), None),
            "holt_winters" => {
                let e = error_type()?;
                ets(&format!("{e}A{e}"), None)
            }
            "auto_ets" => {
                let model = self.get("model").unwrap_or("ZZZ").to_string();
                let damped = match self.get("damped").map(|s| s.to_ascii_lowercase()) {
                    None => None,
                    Some(s) if s == "true" => Some(true),
                    Some(s) if s == "false" => Some(false),
                    Some(s) => {
                        return Err(ForecastError::arg(
                            "damped",
                            format!("'{s}' must be true or false"),
                        ));
                    }
                };
                ets(&model, damped)
            }
            "theta" => theta(y, h, m, Some(ThetaKind::Stm), levels),
            "optimized_theta" => theta(y, h, m, Some(ThetaKind::Otm), levels),
            "dynamic_theta" => theta(y, h, m, Some(ThetaKind::Dstm), levels),
            "dynamic_optimized_theta" => theta(y, h, m, Some(ThetaKind::Dotm), levels),
            "auto_theta" => theta(y, h, m, None, levels),
            "mstl" => {
                let periods = self.seasons()?.unwrap_or_else(|| vec![m]);
                crate::mstl::mstl(y, &periods, h, levels)
            }
            "croston_classic" => i::croston_classic(y, h, levels),
            "croston_optimized" => i::croston_optimized(y, h, levels),
            "croston_sba" => i::croston_sba(y, h, levels),
            "tsb" => i::tsb(
                y,
                h,
                self.num("alpha_d")?.unwrap_or(0.1),
                self.num("alpha_p")?.unwrap_or(0.1),
                levels,
            ),
            "adida" => i::adida(y, h, levels),
            "imapa" => i::imapa(y, h, levels),
            other => Err(ForecastError::UnknownModel(other.to_string())),
        }
    }
}

fn allowed_params(name: &str) -> &'static [&'static str] {
    match name {
        "window_average" => &["window_size"],
        "ses" => &["alpha"],
        "holt" | "holt_winters" => &["error_type"],
        "auto_ets" => &["model", "damped"],
        "tsb" => &["alpha_d", "alpha_p"],
        "mstl" => &["seasons"],
        _ => &[],
    }
}

/// Parses `model` and forecasts: the one-call entry point.
pub fn forecast(
    y: &[f64],
    model: &str,
    h: usize,
    season_length: usize,
    levels: &[f64],
) -> Result<Forecast> {
    ModelSpec::parse(model)?.forecast(y, h, season_length, levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_models_and_parameters_name_what_is_accepted() {
        let e = ModelSpec::parse("arima").unwrap_err().to_string();
        assert!(
            e.contains("unknown model 'arima'") && e.contains("auto_ets"),
            "{e}"
        );
        let e = ModelSpec::parse("tsb(alpha=0.1)").unwrap_err().to_string();
        assert!(e.contains("alpha_d, alpha_p"), "{e}");
        let e = ModelSpec::parse("tsb(alpha_d=0.1").unwrap_err().to_string();
        assert!(e.contains("missing ')'"), "{e}");
    }

    #[test]
    fn ets_refuses_what_it_cannot_give_intervals_for() {
        let y: Vec<f64> = (0..200).map(|t| 50.0 + (t % 60) as f64).collect();
        let e = forecast(&y, "auto_ets(model=AMN)", 3, 1, &[95.0]).unwrap_err();
        assert!(e.to_string().contains("multiplicative trend"), "{e}");
        let e = forecast(&y, "holt_winters", 3, 60, &[95.0]).unwrap_err();
        assert!(e.to_string().contains("up to 52"), "{e}");
        // The automatic search drops seasonality instead, as R's ets does.
        let f = forecast(&y, "auto_ets", 3, 60, &[95.0]).unwrap();
        assert!(f.method.ends_with(",N)"), "{}", f.method);
        assert!(f.intervals[0].lo.iter().all(|v| v.is_finite()));
        let e = forecast(&y, "window_average(window_size=x)", 3, 1, &[]).unwrap_err();
        assert!(e.to_string().contains("'x' is not a whole number"), "{e}");
    }

    #[test]
    fn parameters_are_parsed() {
        let s = ModelSpec::parse(" TSB( alpha_d = 0.2 , alpha_p=0.05 )").unwrap();
        assert_eq!(s.name, "tsb");
        assert_eq!(s.num("alpha_p").unwrap(), Some(0.05));
    }
}
