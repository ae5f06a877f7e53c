"""statsforecast on the file `weir-bench forecast gen` wrote: the same split
(last 28 days held back), models, season (7), levels (80, 95) and MASE as
`weir-bench forecast run`, with n_jobs=-1 (all cores). Prints a markdown table."""
import resource
import sys
import time

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import MSTL, AutoETS, AutoTheta, CrostonOptimized, SeasonalNaive

H, SEASON = 28, 7
df = pd.read_csv(sys.argv[1])
df["ds"] = pd.Timestamp("2022-01-01") + pd.to_timedelta(df["ds"], unit="D")
df = df.sort_values(["unique_id", "ds"])
last = df.groupby("unique_id")["ds"].transform("max")
train = df[df["ds"] <= last - pd.Timedelta(days=H)]
test = df[df["ds"] > last - pd.Timedelta(days=H)]


def mase(fc, col):
    # Grouped once: filtering the panel per series is quadratic at 10k series.
    scale = train.groupby("unique_id")["y"].apply(
        lambda y: np.mean(np.abs(y.to_numpy()[SEASON:] - y.to_numpy()[:-SEASON]))
    )
    merged = test.merge(fc[["unique_id", "ds", col]], on=["unique_id", "ds"])
    mae = (merged["y"] - merged[col]).abs().groupby(merged["unique_id"]).mean()
    return float(np.nanmean((mae / scale.reindex(mae.index)).to_numpy()))


def cpu_seconds():
    # This process and its reaped children: the worker pool is joined at the
    # end of every forecast call, so its CPU time is counted here.
    return sum(
        r.ru_utime + r.ru_stime
        for r in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


WANT = sys.argv[2].split(",") if len(sys.argv) > 2 else None
print("| model | series | statsforecast seconds | statsforecast CPU seconds | statsforecast MASE |")
print("|---|---|---|---|---|")
MODELS = {
    "auto_ets": AutoETS(season_length=SEASON),
    "auto_theta": AutoTheta(season_length=SEASON),
    "mstl": MSTL(season_length=SEASON),
    "seasonal_naive": SeasonalNaive(season_length=SEASON),
    "croston_optimized": CrostonOptimized(),
}
# In the order asked for, so a long run can put its quick models first.
for name in WANT or list(MODELS):
    model = MODELS[name]
    sf = StatsForecast(models=[model], freq="D", n_jobs=-1)
    start, cpu = time.perf_counter(), cpu_seconds()
    levels = None if name == "croston_optimized" else [80, 95]  # no native intervals
    fc = sf.forecast(df=train, h=H, level=levels).reset_index()
    secs, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    col = [c for c in fc.columns if c not in ("unique_id", "ds", "index") and "-lo-" not in c and "-hi-" not in c][0]
    print(f"| {name} | {train['unique_id'].nunique()} | {secs:.3f} | {cpu:.2f} | {mase(fc, col):.4f} |", flush=True)
