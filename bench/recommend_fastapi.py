"""The seed stack's /recommend_qty: FastAPI + uvicorn (uvloop, httptools),
the forecast loaded into memory at start, the newsvendor quantity from
Python's NormalDist, HTTP basic auth against one key. bench/serve.sh runs it
beside `weir serve` under the same wrk load.

    python bench/recommend_fastapi.py FORECAST.csv KEY SECRET PORT WORKERS
"""
import base64
import csv
import math
import sys
from collections import defaultdict
from statistics import NormalDist

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

Z95 = 1.959963984540054
FORECAST = defaultdict(list)


def load(path):
    with open(path) as f:
        for row in csv.DictReader(f):
            sd = max((float(row["hi"]) - float(row["lo"])) / (2 * Z95), 0.0)
            FORECAST[row["unique_id"]].append((row["ds"], float(row["mean"]), sd))
    for v in FORECAST.values():
        v.sort()


class Ask(BaseModel):
    repo: str | None = None
    ref: str | None = None
    series: str
    ds: str | None = None
    periods: int = 1
    under_cost: float
    over_cost: float


app = FastAPI()
STD = NormalDist()
EXPECTED = ""


@app.post("/recommend_qty")
async def recommend_qty(a: Ask, authorization: str = Header(default="")):
    if authorization != EXPECTED:
        raise HTTPException(status_code=401, detail="wrong key")
    periods = FORECAST.get(a.series)
    if not periods:
        raise HTTPException(status_code=404, detail=f"no series {a.series}")
    start = 0
    if a.ds is not None:
        start = next((i for i, p in enumerate(periods) if p[0].startswith(a.ds)), None)
        if start is None:
            raise HTTPException(status_code=404, detail=f"no forecast for {a.ds}")
    span = periods[start:start + a.periods]
    if a.periods < 1 or len(span) < a.periods:
        raise HTTPException(status_code=400, detail="periods past the forecast")
    if a.under_cost <= 0 or a.over_cost <= 0:
        raise HTTPException(status_code=400, detail="costs must be positive")
    mean = sum(p[1] for p in span)
    sd = math.sqrt(sum(p[2] ** 2 for p in span))
    alpha = a.under_cost / (a.under_cost + a.over_cost)
    z = STD.inv_cdf(alpha)
    return {"quantity": max(mean + z * sd, 0.0),
            "expected_cost": (a.under_cost + a.over_cost) * STD.pdf(z) * sd,
            "service_level": alpha, "mean": mean, "sd": sd,
            "forecast": {"series": a.series, "ds": span[0][0], "periods": a.periods}}


load(sys.argv[1])
EXPECTED = "Basic " + base64.b64encode(f"{sys.argv[2]}:{sys.argv[3]}".encode()).decode()

if __name__ == "__main__":
    import uvicorn
    uvicorn.run("recommend_fastapi:app", host="127.0.0.1", port=int(sys.argv[4]),
                workers=int(sys.argv[5]), loop="uvloop", http="httptools", log_level="warning")
