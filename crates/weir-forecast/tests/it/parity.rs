use crate::{close, series};
use weir_forecast::cv::cross_validation;
use weir_forecast::{ModelSpec, forecast};

#[test]
fn auto_ets_seasonal_air_passengers() {
    let y = series("Airline.csv");
    let f = forecast(&y, "auto_ets", 12, 12, &[95.0]).unwrap();
    assert_eq!(f.method, "ETS(M,N,M)");
    let want = [
        442.36, 428.27, 492.97, 477.37, 477.60, 535.86, 600.83, 594.77, 513.70, 448.22, 390.32,
        435.74,
    ];
    close("AutoETS(12) mean", &f.mean, &want, 0.006);
    let iv = f.interval(95.0).unwrap();
    close("AutoETS(12) lo95[0]", &iv.lo[..1], &[399.10], 0.006);
    close("AutoETS(12) hi95[0]", &iv.hi[..1], &[485.61], 0.006);
}

#[test]
fn auto_ets_nonseasonal_air_passengers() {
    let y = series("Airline.csv");
    let f = forecast(&y, "auto_ets(model=ZZN)", 12, 12, &[95.0]).unwrap();
    assert_eq!(f.method, "ETS(M,A,N)");
    let want: Vec<f64> = (0..12).map(|k| 436.16 + 4.16 * k as f64).collect();
    close("AutoETS ZZN mean", &f.mean, &want, 0.006 * 12.0);
    let iv = f.interval(95.0).unwrap();
    close("ZZN lo95[0]", &iv.lo[..1], &[345.14], 0.006);
    close("ZZN hi95[0]", &iv.hi[..1], &[527.17], 0.006);
}

#[test]
fn auto_theta_air_passengers() {
    let y = series("Airline.csv");
    let f = forecast(&y, "auto_theta", 12, 12, &[80.0]).unwrap();
    let want = [
        442.94, 432.23, 495.31, 482.31, 487.49, 555.58, 615.49, 615.24, 537.52, 469.54, 410.14,
        462.40,
    ];
    close("AutoTheta(12) mean", &f.mean, &want, 0.006);
}

#[test]
fn seasonal_naive_air_passengers() {
    let y = series("Airline.csv");
    let f = forecast(&y, "seasonal_naive", 12, 12, &[]).unwrap();
    close(
        "SeasonalNaive",
        &f.mean,
        &[
            417.0, 391.0, 419.0, 461.0, 472.0, 535.0, 622.0, 606.0, 508.0, 461.0, 390.0, 432.0,
        ],
        0.0,
    );
}

#[test]
fn cross_validation_errors_air_passengers() {
    let y = series("Airline.csv");
    for (model, want) in [
        ("auto_ets", [18.44, 44.41, 35.61]),
        ("seasonal_naive", [12.58, 47.33, 47.83]),
    ] {
        let spec = ModelSpec::parse(model).unwrap();
        let windows = cross_validation(&y, &spec, 12, 3, 12, 12, &[]).unwrap();
        let cutoffs: Vec<usize> = windows.iter().map(|w| w.cutoff).collect();
        assert_eq!(cutoffs, vec![108, 120, 132]);
        let maes: Vec<f64> = windows
            .iter()
            .map(|w| weir_forecast::metrics::mae(&w.actual, &w.forecast.mean))
            .collect();
        close(&format!("{model} cv mae"), &maes, &want, 0.006);
    }
}

#[test]
fn intermittent_pbs() {
    let y = series("PBS_dataset.csv");
    let train = &y[..192];
    for (model, want) in [
        ("croston_optimized", 0.8243),
        ("adida", 0.0157),
        ("imapa", 0.0157),
    ] {
        let f = forecast(train, model, 12, 12, &[]).unwrap();
        close(model, &f.mean[..1], &[want], 0.00006);
    }
}

/// statsmodels 0.15 `STL(y, period=12, seasonal=11, seasonal_deg=0).fit()`
/// and statsforecast 2.1.1 `MSTL(season_length=...)` on the same series.
#[test]
fn mstl_matches_statsmodels_and_statsforecast() {
    use weir_forecast::mstl::Stl;
    let y = series("Airline.csv");
    let (season, trend) = Stl::new(12, 11).fit(&y);
    let seasonal_want = [
        (0, -16.520518686318407),
        (1, -16.804820737438973),
        (2, 7.793800269214763),
        (70, -53.97751820542954),
        (142, -76.05669414906407),
        (143, -44.7880862559062),
    ];
    for (i, want) in seasonal_want {
        assert!(
            (season[i] - want).abs() < 1e-9,
            "seasonal[{i}] {} vs {want}",
            season[i]
        );
    }
    for (i, want) in [
        (0, 122.887635150073),
        (1, 123.4264877993744),
        (70, 254.86185062432395),
        (143, 497.06356462622324),
    ] {
        assert!(
            (trend[i] - want).abs() < 1e-9,
            "trend[{i}] {} vs {want}",
            trend[i]
        );
    }
    let f = forecast(&y, "mstl", 12, 12, &[95.0]).unwrap();
    assert_eq!(f.method, "MSTL");
    let want = [
        446.5392358061747,
        430.1229465089011,
        473.1909192628194,
        472.8695752389244,
        482.0941685709594,
        536.3259499057239,
        590.9744485351139,
        588.9865801531705,
        517.4460519208213,
        470.6585339103801,
        425.269241298275,
        458.8157166008517,
    ];
    close("MSTL(12) mean", &f.mean, &want, 1e-4);
    let iv = f.interval(95.0).unwrap();
    close(
        "MSTL(12) lo/hi95[0]",
        &[iv.lo[0], iv.hi[0]],
        &[407.99992132976934, 485.07855028258],
        1e-3,
    );
    // Two seasonalities.
    let x: Vec<f64> = (0..400)
        .map(|t| (t as f64 * 0.9).sin() + (t % 30) as f64 * 0.1 + t as f64 * 0.01)
        .collect();
    let f = forecast(&x, "mstl(seasons=7|30)", 5, 1, &[]).unwrap();
    let want = [
        6.099876666999437,
        5.681143105625771,
        4.666073355638366,
        4.23676263652328,
        4.5451074853210995,
    ];
    close("MSTL(7, 30) mean", &f.mean, &want, 1e-4);
}
