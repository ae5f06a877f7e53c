"""Golden values from the Python tools weir's kernels are measured against.

Runs in the pinned virtualenv (bench/parity.sh creates it) and writes
crates/weir-forecast/tests/goldens/python.tsv, one `key<TAB>value` per line.
crates/weir-forecast/tests/it/kernels.rs recomputes each value in Rust on the
same shipped data and compares. Everything here is deterministic.
"""
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/weir-forecast/tests/goldens/python.tsv"
rows = []


def put(key, value):
    rows.append(f"{key}\t{float(value)!r}")


# --- drift: Evidently's stattests on Seattle weather -------------------------
from evidently.legacy.calculations.stattests import get_stattest  # noqa: E402
from evidently.legacy.core import ColumnType  # noqa: E402

w = pd.read_csv(ROOT / "data/seattle-weather.csv")
w["rain"] = np.where(w["precipitation"] > 0, "rain", "dry")
year = w["date"].str[:4]
small_ref, cur = w[year == "2014"], w[year == "2015"]
large_ref = w[year != "2015"]
for tag, ref in [("small", small_ref), ("large", large_ref)]:
    for col, kind in [("temp_max", "num"), ("wind", "num"), ("precipitation", "num"),
                      ("weather", "cat"), ("rain", "cat")]:
        ftype = ColumnType.Numerical if kind == "num" else ColumnType.Categorical
        test = get_stattest(ref[col], cur[col], ftype, None)
        res = test(ref[col], cur[col], ftype, None)
        put(f"drift.{tag}.{col}.{test.name}", res.drift_score)
        put(f"drift.{tag}.{col}.detected", res.drifted)
    for col, ftype in [("temp_max", ColumnType.Numerical), ("weather", ColumnType.Categorical)]:
        for name in ["psi", "jensenshannon"]:
            test = get_stattest(ref[col], cur[col], ftype, name)
            put(f"drift.{tag}.{col}.{name}", test(ref[col], cur[col], ftype, None).drift_score)

# scipy directly: equal and unequal sizes (exact), and a large asymptotic case
t14, t15 = small_ref["temp_max"].to_numpy(), cur["temp_max"].to_numpy()
for key, a, b in [("equal", t14, t15), ("unequal", t14, t15[:200])]:
    r = stats.ks_2samp(a, b)
    put(f"ks.{key}.d", r.statistic)
    put(f"ks.{key}.p", r.pvalue)
big_a = np.sin(np.arange(12000) * 0.7) * 3 + np.arange(12000) % 7
big_b = np.sin(np.arange(11000) * 0.9) * 3 + np.arange(11000) % 7 + 0.05
r = stats.ks_2samp(big_a, big_b)
put("ks.asymp.d", r.statistic)
put("ks.asymp.p", r.pvalue)
put("wasserstein.temp", stats.wasserstein_distance(t14, t15))

# --- residual diagnostics on AirPassengers seasonal-naive residuals ----------
from statsmodels.stats.diagnostic import acorr_ljungbox  # noqa: E402

air = pd.read_csv(ROOT / "data/Airline.csv").iloc[:, -1].to_numpy(dtype=float)
resid = air[12:] - air[:-12]
lb = acorr_ljungbox(resid, lags=[10], model_df=0)
put("ljung_box.q", lb["lb_stat"].iloc[0])
put("ljung_box.p", lb["lb_pvalue"].iloc[0])
tt = stats.ttest_1samp(resid - resid.mean() + 0.5, 0.0)
put("ttest.t", tt.statistic)
put("ttest.p", tt.pvalue)

# --- anomalies: PyOD on the weather's numerical columns ----------------------
from pyod.models.ecod import ECOD  # noqa: E402
from pyod.models.iforest import IForest  # noqa: E402

X = w[["precipitation", "temp_max", "temp_min", "wind"]].to_numpy(dtype=float)
ecod = ECOD().fit(X)
for i in [0, 1, 2, 100, 1000]:
    put(f"ecod.score.{i}", ecod.decision_scores_[i])
put("ecod.threshold", ecod.threshold_)
put("ecod.flagged", ecod.labels_.sum())
iforest = IForest(n_estimators=500, random_state=0).fit(X)
top = np.argsort(-iforest.decision_scores_)[:30]
for rank, i in enumerate(top):
    put(f"iforest.top.{rank}", i)

# --- reconciliation: US unemployment, 14 industries summing to a total -------
from hierarchicalforecast.core import HierarchicalReconciliation  # noqa: E402
from hierarchicalforecast.methods import BottomUp, MinTrace, TopDown  # noqa: E402

u = pd.DataFrame(json.loads((ROOT / "data/unemployment-across-industries.json").read_text()))
u["ds"] = pd.to_datetime(u["year"].astype(str) + "-" + u["month"].astype(str) + "-01")
bottom = u.rename(columns={"series": "unique_id", "count": "y"})[["unique_id", "ds", "y"]]
total = bottom.groupby("ds", as_index=False)["y"].sum().assign(unique_id="total")
panel = pd.concat([total, bottom]).sort_values(["unique_id", "ds"]).reset_index(drop=True)
panel["y"] = panel["y"].astype(float)
names = sorted(bottom["unique_id"].unique())
order = ["total"] + names
S = pd.DataFrame(np.vstack([np.ones(len(names)), np.eye(len(names))]), columns=names)
S.insert(0, "unique_id", order)
tags = {"total": np.array(["total"]), "total/industry": np.array(names)}

H, M = 12, 12
fitted, fc = [], []
for uid, g in panel.groupby("unique_id"):
    y = g["y"].to_numpy()
    ds = g["ds"].to_numpy()
    # in-sample fitted y[t-12] (seasonal naive residuals feed W)
    fitted.append(pd.DataFrame({"unique_id": uid, "ds": ds[M:], "y": y[M:], "SN": y[:-M]}))
    resid = y[M:] - y[:-M]
    sd = np.sqrt(np.mean(resid ** 2))
    k = np.floor(np.arange(H) / M) + 1
    # scaled by the last year's growth: non-linear, so base forecasts are
    # not coherent and each reconciler has something to do
    mean = y[-M:] * (y[-M:].sum() / y[-2 * M:-M].sum())
    future = pd.date_range(pd.Timestamp(ds[-1]) + pd.offsets.MonthBegin(1), periods=H, freq="MS")
    z = stats.norm.ppf(0.975)
    fc.append(pd.DataFrame({"unique_id": uid, "ds": future, "SN": mean,
                            "SN-lo-95": mean - z * sd * np.sqrt(k),
                            "SN-hi-95": mean + z * sd * np.sqrt(k)}))
Y_hat = pd.concat(fc).set_index("unique_id").loc[order].reset_index()
Y_fit = pd.concat(fitted).set_index("unique_id").loc[order].reset_index()
# mint_cov is left out: the total's residuals are the sum of the industries',
# so the residual covariance is singular and hierarchicalforecast returns
# round-off; weir refuses instead (kernels.rs checks that).
methods = {"bottom_up": BottomUp(), "top_down": TopDown(method="forecast_proportions"),
           "ols": MinTrace(method="ols"), "wls_struct": MinTrace(method="wls_struct"),
           "wls_var": MinTrace(method="wls_var"),
           "mint_shrink": MinTrace(method="mint_shrink")}
for name, method in methods.items():
    # hierarchicalforecast has normality intervals for all but TopDown
    level = None if name == "top_down" else [95]
    hrec = HierarchicalReconciliation(reconcilers=[method])
    rec = hrec.reconcile(Y_hat_df=Y_hat, Y_df=Y_fit, S_df=S, tags=tags, level=level)
    col = [c for c in rec.columns if c.startswith("SN/") and "-lo-" not in c and "-hi-" not in c][0]
    for uid in ["total", "Construction"]:
        g = rec[rec["unique_id"] == uid]
        for step in [0, 11]:
            put(f"reconcile.{name}.{uid}.{step}", g[col].iloc[step])
            hi = f"{col}-hi-95"
            if hi in rec.columns:
                put(f"reconcile.{name}.{uid}.{step}.hi95", g[hi].iloc[step])

OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text("# written by bench/parity_goldens.py; do not edit\n" + "\n".join(rows) + "\n")
print(f"{len(rows)} golden values -> {OUT.relative_to(ROOT)}", file=sys.stderr)
