"""The flagship pipeline's stages (sql/forecasting) done the usual Python
way — pandas, statsforecast, hierarchicalforecast, statsmodels, scipy — on
the Parquet file `weir generate demand` wrote, with the pipeline's default
parameters. Prints one markdown row per stage (wall and CPU seconds), the
peak memory, and writes the chosen configuration per series to argv[2] so
bench/flagship.sh can compare choices with weir's.

Where the stacks differ, this side does less work, not more: the drift test
is scipy's K-S test (what Evidently runs for a numeric column of this size)
without Evidently's report machinery, and the reconciliation is of the
means only (hierarchicalforecast needs base intervals the point models here
do not give)."""
import resource
import sys
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd
from hierarchicalforecast.core import HierarchicalReconciliation
from hierarchicalforecast.methods import MinTrace
from scipy import stats
from statsforecast import StatsForecast
from statsforecast.models import (
    TSB,
    AutoETS,
    AutoTheta,
    CrostonOptimized,
    CrostonSBA,
    SeasonalNaive,
    SimpleExponentialSmoothing,
    WindowAverage,
)
from statsmodels.stats.diagnostic import acorr_ljungbox

H, SEASON, WINDOWS, CU, CO, DRIFT = 14, 7, 3, 4.0, 1.0, 56
ROWS = []


def cpu():
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                resource.getrusage(resource.RUSAGE_CHILDREN)))


@contextmanager
def stage(name):
    t, c = time.perf_counter(), cpu()
    yield
    ROWS.append((name, time.perf_counter() - t, cpu() - c))


def interval_models():
    return [AutoETS(season_length=SEASON, alias="auto_ets"),
            AutoTheta(season_length=SEASON, alias="auto_theta"),
            SeasonalNaive(season_length=SEASON, alias="seasonal_naive")]


def point_models():
    return [WindowAverage(window_size=SEASON, alias=f"window_average(window_size={SEASON})"),
            WindowAverage(window_size=4 * SEASON, alias=f"window_average(window_size={4 * SEASON})"),
            SimpleExponentialSmoothing(alpha=0.1, alias="ses(alpha=0.1)"),
            SimpleExponentialSmoothing(alpha=0.3, alias="ses(alpha=0.3)")]


def intermittent_models():
    return [CrostonSBA(alias="croston_sba"), CrostonOptimized(alias="croston_optimized"),
            TSB(alpha_d=0.2, alpha_p=0.2, alias="tsb(alpha_d=0.2,alpha_p=0.2)")]


def sf(models):
    return StatsForecast(models=models, freq="D", n_jobs=-1)


def long(frame, models, keys):
    """One row per series, date (and cutoff) and configuration."""
    out = []
    for m in models:
        a = m.alias
        cols = {a: "mean", f"{a}-lo-95": "lo", f"{a}-hi-95": "hi"}
        sub = frame[keys + [c for c in cols if c in frame.columns]].rename(columns=cols)
        out.append(sub.assign(config=a))
    return pd.concat(out, ignore_index=True)


demand = pd.read_parquet(sys.argv[1])
demand["ds"] = pd.to_datetime(demand["ds"])
start_all, cpu_all = time.perf_counter(), cpu()

with stage("panel"):
    items = demand[["unique_id", "ds", "y"]].assign(level="item")
    cats = (demand.groupby(["category", "ds"], as_index=False)["y"].sum()
            .rename(columns={"category": "unique_id"}).assign(level="category"))
    tot = demand.groupby("ds", as_index=False)["y"].sum().assign(unique_id="total", level="total")
    panel = pd.concat([items, cats, tot], ignore_index=True).sort_values(["unique_id", "ds"],
                                                                         ignore_index=True)
    df = panel[["unique_id", "ds", "y"]]

with stage("hierarchy"):
    edges = demand[["unique_id", "category"]].drop_duplicates().rename(columns={"category": "parent"})
    hier = pd.concat([edges, pd.DataFrame({"unique_id": sorted(demand["category"].unique()),
                                           "parent": "total"})], ignore_index=True)

with stage("preflight"):
    by = panel["unique_id"]
    step = panel.groupby("unique_id")["ds"].diff().dt.days
    usual = step[step > 0].groupby(by).median()
    u = by.map(usual)
    s = pd.DataFrame({
        "n": panel.groupby("unique_id").size(),
        "periods": panel.groupby("unique_id")["ds"].nunique(),
        "negative": (panel["y"] < 0).groupby(by).sum(),
        "missing": panel["y"].isna().groupby(by).sum(),
        "gaps": pd.Series(np.where(step > 1.5 * u, np.round(step / u) - 1, 0), index=panel.index).groupby(by).sum(),
    })
    checks = [("duplicate_periods", "error", s["n"] > s["periods"]),
              ("negative_demand", "error", s["negative"] > 0),
              ("missing_demand", "warning", s["missing"] > 0),
              ("too_short", "error", s["periods"] < 2 * SEASON + H * (WINDOWS + 1)),
              ("calendar_gaps", "warning", s["gaps"] > 0)]
    report = pd.concat([pd.DataFrame({"check_name": c, "unique_id": s.index[m], "severity": sev})
                        for c, sev, m in checks], ignore_index=True)
    assert not (report["severity"] == "error").any(), report

with stage("features"):
    it = panel[panel["level"] == "item"]
    gy = it.groupby("unique_id")["y"]
    f = it[["unique_id", "ds", "y"]].copy()
    for k in (1, 7, 28):
        f[f"lag_{k}"] = gy.shift(k)
    prev = gy.shift(1).groupby(it["unique_id"])
    f["mean_7"] = prev.rolling(7, min_periods=1).mean().reset_index(level=0, drop=True)
    f["mean_28"] = prev.rolling(28, min_periods=1).mean().reset_index(level=0, drop=True)
    f["sd_28"] = prev.rolling(28, min_periods=2).std().reset_index(level=0, drop=True)
    f["max_28"] = prev.rolling(28, min_periods=1).max().reset_index(level=0, drop=True)
    f["day_of_week"] = (f["ds"].dt.dayofweek + 1) % 7
    f["month"] = f["ds"].dt.month
    f["weekend"] = f["day_of_week"].isin([0, 6]).astype(int)
    f = f.merge(demand[["unique_id", "ds", "promo"]], on=["unique_id", "ds"], how="left")

with stage("backtest_points"):
    zeros = panel["y"].eq(0).groupby(panel["unique_id"]).mean()
    intermittent = zeros[zeros >= 0.3].index
    keys = ["unique_id", "ds", "cutoff", "y"]
    parts = []
    for models, data, level in [(interval_models(), df, [95]), (point_models(), df, None),
                                (intermittent_models(), df[df["unique_id"].isin(intermittent)], None)]:
        if len(data):
            cv = sf(models).cross_validation(df=data, h=H, step_size=H, n_windows=WINDOWS, level=level)
            parts.append(long(cv.reset_index() if "unique_id" not in cv.columns else cv, models, keys))
    points = pd.concat(parts, ignore_index=True)

with stage("backtest"):
    e = points.assign(ae=(points["y"] - points["mean"]).abs(), se=(points["y"] - points["mean"]) ** 2,
                      err=points["mean"] - points["y"],
                      cov=(points["y"] >= points["lo"]) & (points["y"] <= points["hi"]))
    bt = e.groupby(["unique_id", "config", "cutoff"]).agg(
        mae=("ae", "mean"), mse=("se", "mean"), bias=("err", "mean"), coverage95=("cov", "mean"),
        points=("ae", "size")).reset_index()
    bt["rmse"] = np.sqrt(bt["mse"])

with stage("model_choice"):
    scored = bt.groupby(["unique_id", "config"], as_index=False)["mae"].mean()
    choice = scored.sort_values(["unique_id", "mae", "config"]).groupby("unique_id").head(1)

with stage("base_forecast"):
    by_name = {m.alias: m for m in interval_models() + point_models() + intermittent_models()}
    interval = {m.alias for m in interval_models()}
    parts = []
    for config, ids in choice.groupby("config")["unique_id"]:
        m = by_name[config]
        fc = sf([m]).forecast(df=df[df["unique_id"].isin(ids)], h=H,
                              level=[95] if config in interval else None)
        fc = fc.reset_index() if "unique_id" not in fc.columns else fc
        parts.append(long(fc, [m], ["unique_id", "ds"]))
    base = pd.concat(parts, ignore_index=True)

with stage("residuals"):
    res = points.merge(choice[["unique_id", "config"]], on=["unique_id", "config"])
    res["residual"] = res["y"] - res["mean"]

with stage("diagnostics"):
    rows = []
    for uid, g in res.groupby("unique_id"):
        r = g.sort_values("ds")["residual"].to_numpy()
        lags = max(1, min(10, len(r) // 5))
        lb = acorr_ljungbox(r, lags=[lags])["lb_pvalue"].iloc[0]
        t = stats.ttest_1samp(r, 0.0).pvalue
        mse, b = np.mean(r ** 2), np.mean(r)
        rows.append((uid, lb, lb < 0.05, t, t < 0.05, mse, b * b, mse - b * b, len(r)))
    diag = pd.DataFrame(rows, columns=["unique_id", "ljung_box_p", "autocorrelated", "bias_p", "biased",
                                       "mse", "bias_squared", "variance", "errors"])

with stage("reconciled"):
    bottom = sorted(demand["unique_id"].unique())
    cat_of = dict(zip(edges["unique_id"], edges["parent"]))
    cats_sorted = sorted(set(cat_of.values()))
    order = ["total"] + cats_sorted + bottom
    S = np.zeros((len(order), len(bottom)))
    S[0, :] = 1
    for j, b in enumerate(bottom):
        S[1 + cats_sorted.index(cat_of[b]), j] = 1
    S[1 + len(cats_sorted):, :] = np.eye(len(bottom))
    S_df = pd.DataFrame(S, columns=bottom)
    S_df.insert(0, "unique_id", order)
    tags = {"total": np.array(["total"]), "total/category": np.array(cats_sorted),
            "total/category/item": np.array(bottom)}
    y_hat = base[["unique_id", "ds", "mean"]].rename(columns={"mean": "model"})
    y_hat = y_hat.set_index("unique_id").loc[order].reset_index()
    y_fit = res[["unique_id", "ds", "y", "mean"]].rename(columns={"mean": "model"})
    y_fit = y_fit.set_index("unique_id").loc[order].reset_index()
    rec = HierarchicalReconciliation(reconcilers=[MinTrace(method="mint_shrink")]).reconcile(
        Y_hat_df=y_hat, Y_df=y_fit, S_df=S_df, tags=tags)

with stage("drift"):
    it = panel[panel["level"] == "item"].sort_values(["unique_id", "ds"])
    rows = []
    for uid, g in it.groupby("unique_id"):
        y = g["y"].to_numpy()[-2 * DRIFT:]
        p = stats.ks_2samp(y[:-DRIFT], y[-DRIFT:]).pvalue
        rows.append((uid, "K-S p_value", p, p < 0.05))
    drift = pd.DataFrame(rows, columns=["unique_id", "test", "score", "drifted"])

with stage("anomalies"):
    it = panel[panel["level"] == "item"]
    med = it.groupby("unique_id")["y"].transform("median")
    mad = (it["y"] - med).abs().groupby(it["unique_id"]).transform("median")
    score = (it["y"] - med).abs() / mad.replace(0, np.nan)
    cut = score.groupby(it["unique_id"]).transform(lambda s: s.quantile(1 - 0.005))
    anomalies = it[score > cut]

with stage("orders"):
    col = [c for c in rec.columns if c.startswith("model/")][0]
    r = rec[rec["unique_id"].isin(bottom)][["unique_id", "ds", col]].rename(columns={col: "mean"})
    sd = res.groupby("unique_id")["residual"].std()
    r["sd"] = r["unique_id"].map(sd)
    z = stats.norm.ppf(CU / (CU + CO))
    r["order_qty"] = np.maximum(r["mean"] + z * r["sd"], 0)
    r["expected_cost"] = (CU + CO) * r["sd"] * stats.norm.pdf(z)

total, total_cpu = time.perf_counter() - start_all, cpu() - cpu_all
choice[["unique_id", "config"]].to_csv(sys.argv[2], index=False)
print("| stage | python s | python CPU s |")
print("|---|---|---|")
for name, secs, c in ROWS:
    print(f"| {name} | {secs:.2f} | {c:.2f} |")
print(f"| **all** | {total:.2f} | {total_cpu:.2f} |")
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(f"\npeak memory (largest process): {peak / 1024:.0f} MB; "
      f"{len(bottom)} items, {len(order)} series, {len(intermittent)} intermittent")
