"""One MLflow tracking server under the real mlflow client: the time of
log_batch with 1,000 metrics, and of search_runs over RUNS runs (a filter
that picks about a tenth of them, and the first 1,000 by a metric). Prints
one JSON line of medians, in milliseconds.

Usage: mlflow_tracking.py URL RUNS REPEATS  (credentials, if any, in
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)."""

import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

url, runs, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mlflow.set_tracking_uri(url)
client = MlflowClient()
exp = client.create_experiment(f"bench-{time.time_ns()}")


def timed(f):
    t = time.perf_counter()
    f()
    return (time.perf_counter() - t) * 1000


# log_batch: 1,000 metrics (MLflow's most for one request) to one run.
run = client.create_run(exp).info.run_id
now = int(time.time() * 1000)
batches = [
    [Metric(f"m{i % 10}", float(i), now + i, r * 1000 + i) for i in range(1000)]
    for r in range(repeats + 1)
]
client.log_batch(run, metrics=batches[0])  # warm-up
log_batch = [timed(lambda b=b: client.log_batch(run, metrics=b)) for b in batches[1:]]


# RUNS runs, each with a param, a tag and two metrics, made by 8 clients.
def seed(i):
    r = client.create_run(exp, tags={"team": "fc" if i % 2 else "ops"}).info.run_id
    client.log_batch(
        r,
        metrics=[Metric("rmse", (i * 7919 % 1000) / 1000, now, 0), Metric("mae", i / runs, now, 0)],
        params=[Param("model", ["ets", "arima", "theta", "naive", "ses"][i % 5])],
        tags=[RunTag("fold", str(i % 3))],
    )


t = time.perf_counter()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(seed, range(runs)))
seeding = time.perf_counter() - t


def search_filtered():
    got = client.search_runs(
        [exp], filter_string="metrics.rmse < 0.5 AND params.model = 'ets' AND tags.team = 'ops'",
        max_results=1000,
    )
    assert 0 < len(got) < runs // 5, len(got)


def search_ordered():
    got = client.search_runs([exp], order_by=["metrics.rmse DESC"], max_results=1000)
    assert len(got) == 1000 and got[0].data.metrics["rmse"] >= got[-1].data.metrics["rmse"]


search_filtered()
filtered = [timed(search_filtered) for _ in range(repeats)]
ordered = [timed(search_ordered) for _ in range(repeats)]
print(
    json.dumps(
        {
            "log_batch_1000_ms": statistics.median(log_batch),
            "search_filtered_ms": statistics.median(filtered),
            "search_top1000_ms": statistics.median(ordered),
            "seed_runs_per_s": runs / seeding,
        }
    )
)
