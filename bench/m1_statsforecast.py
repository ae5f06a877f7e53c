"""statsforecast on M1 yearly (data/m1_yearly_dataset.tsf): the same split
(last 6 years held back), models and metrics as `weir-bench forecast m1`.
Prints a markdown table."""
import sys
import time

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import (AutoETS, AutoTheta, HistoricAverage, Holt, Naive,
                                  RandomWalkWithDrift, SimpleExponentialSmoothingOptimized,
                                  Theta)

H = 6
rows = []
data = False
for line in open(sys.argv[1], encoding="latin-1"):
    line = line.strip()
    if line.lower() == "@data":
        data = True
        continue
    if data and line:
        name, _, values = line.split(":", 2)
        ys = [float(v) for v in values.split(",")]
        rows += [(name, i, y) for i, y in enumerate(ys)]
df = pd.DataFrame(rows, columns=["unique_id", "ds", "y"])
df["ds"] = pd.Timestamp("1900-01-01") + pd.to_timedelta(df["ds"], unit="D")
last = df.groupby("unique_id")["ds"].transform("max")
train = df[df["ds"] <= last - pd.Timedelta(days=H)]
test = df[df["ds"] > last - pd.Timedelta(days=H)]

print("| model | series | statsforecast seconds | statsforecast MASE | statsforecast sMAPE |")
print("|---|---|---|---|---|")
models = [("naive", Naive()), ("random_walk_with_drift", RandomWalkWithDrift()),
          ("historic_average", HistoricAverage()), ("ses", SimpleExponentialSmoothingOptimized()),
          ("holt", Holt()), ("auto_ets", AutoETS(season_length=1)), ("theta", Theta(season_length=1)),
          ("auto_theta", AutoTheta(season_length=1))]
for name, model in models:
    sf = StatsForecast(models=[model], freq="D", n_jobs=1)
    start = time.perf_counter()
    fc = sf.forecast(df=train, h=H).reset_index()
    secs = time.perf_counter() - start
    col = [c for c in fc.columns if c not in ("unique_id", "ds", "index")][0]
    mases, smapes = [], []
    for uid, g in test.groupby("unique_id"):
        tr = train[train["unique_id"] == uid]["y"].to_numpy()
        f = fc[fc["unique_id"] == uid][col].to_numpy()
        y = g["y"].to_numpy()
        scale = np.mean(np.abs(np.diff(tr)))
        mases.append(np.mean(np.abs(y - f)) / scale)
        den = np.abs(y) + np.abs(f)
        smapes.append(200 * np.mean(np.where(den == 0, 0.0, np.abs(y - f) / np.where(den == 0, 1, den))))
    ok = np.isfinite(mases) & np.isfinite(smapes)
    print(f"| {name} | {ok.sum()} | {secs:.3f} | {np.mean(np.array(mases)[ok]):.4f} | {np.mean(np.array(smapes)[ok]):.3f} |", flush=True)
