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
    out = []
    for uid, g in test.groupby("unique_id"):
        tr = train[train["unique_id"] == uid]["y"].to_numpy()
        scale = np.mean(np.abs(tr[SEASON:] - tr[:-SEASON]))
        f = fc[fc["unique_id"] == uid][col].to_numpy()
        out.append(np.mean(np.abs(g["y"].to_numpy() - f)) / scale)
    return float(np.nanmean(out))


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
for name, model in [
    ("auto_ets", AutoETS(season_length=SEASON)),
    ("auto_theta", AutoTheta(season_length=SEASON)),
    ("mstl", MSTL(season_length=SEASON)),
    ("seasonal_naive", SeasonalNaive(season_length=SEASON)),
    ("croston_optimized", CrostonOptimized()),
]:
    if WANT and name not in WANT:
        continue
    sf = StatsForecast(models=[model], freq="D", n_jobs=-1)
    start, cpu = time.perf_counter(), cpu_seconds()
    levels = None if name == "croston_optimized" else [80, 95]  # no native intervals
    fc = sf.forecast(df=train, h=H, level=levels).reset_index()
    secs, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    col = [c for c in fc.columns if c not in ("unique_id", "ds", "index") and "-lo-" not in c and "-hi-" not in c][0]
    print(f"| {name} | {train['unique_id'].nunique()} | {secs:.3f} | {mase(fc, col):.4f} |", flush=True)
