"""The mlflow client, unchanged, against weir serve: tracking, artifacts,
search, the model registry with aliases and a pyfunc model loaded back by
alias, and MLflow's own errors. Prints the id of the first run."""

import os
import sys
import tempfile

os.environ["MLFLOW_TRACKING_USERNAME"] = os.environ["WEIR_KEY"]
os.environ["MLFLOW_TRACKING_PASSWORD"] = os.environ["WEIR_SECRET"]
# No retries: an error is the answer to check, not something to wait out.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"

import mlflow  # noqa: E402
import mlflow.pyfunc  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

mlflow.set_tracking_uri(os.environ["WEIR_URL"])
client = MlflowClient()

exp = mlflow.set_experiment("demand-forecast")
assert exp.name == "demand-forecast" and exp.lifecycle_stage == "active", exp
# Setting it again finds it rather than creating another.
assert mlflow.set_experiment("demand-forecast").experiment_id == exp.experiment_id

work = tempfile.mkdtemp()
report = os.path.join(work, "report.txt")
with open(report, "w") as f:
    f.write("MAE fell every week\n")

with mlflow.start_run(run_name="ets-weekly") as run:
    rid = run.info.run_id
    assert len(rid) == 32 and run.info.artifact_uri == f"mlflow-artifacts:/{exp.experiment_id}/{rid}/artifacts"
    mlflow.log_param("model", "ets")
    mlflow.log_params({"season": 7, "horizon": 14})
    for step in range(5):
        mlflow.log_metric("mae", 10.0 - step, step=step)
    mlflow.log_metrics({"rmse": 1.5, "mape": 0.12})
    mlflow.log_metric("bias", float("nan"))
    mlflow.set_tag("team", "forecasting")
    mlflow.log_dict({"alpha": 0.3}, "cfg/config.json")
    mlflow.log_artifact(report, "reports")

with mlflow.start_run(run_name="naive"):
    mlflow.log_param("model", "naive")
    mlflow.log_metric("rmse", 3.0)

r = client.get_run(rid)
assert r.info.status == "FINISHED" and r.info.end_time, r.info
assert r.info.run_name == "ets-weekly"
assert r.data.params == {"model": "ets", "season": "7", "horizon": "14"}, r.data.params
assert r.data.metrics["mae"] == 6.0 and r.data.metrics["rmse"] == 1.5, r.data.metrics
assert r.data.metrics["bias"] != r.data.metrics["bias"], "NaN round-trips"
assert r.data.tags["team"] == "forecasting" and r.data.tags["mlflow.runName"] == "ets-weekly"

history = client.get_metric_history(rid, "mae")
assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
    (s, 10.0 - s) for s in range(5)
], history

found = mlflow.search_runs(
    experiment_names=["demand-forecast"], filter_string="metrics.rmse < 2", output_format="list"
)
assert [x.info.run_id for x in found] == [rid], found
found = client.search_runs(
    [exp.experiment_id], filter_string="params.model = 'naive'", order_by=["metrics.rmse DESC"]
)
assert [x.info.run_name for x in found] == ["naive"], found
ordered = client.search_runs([exp.experiment_id], order_by=["metrics.rmse DESC"])
assert [x.info.run_name for x in ordered] == ["naive", "ets-weekly"], ordered
page = client.search_runs([exp.experiment_id], max_results=1)
assert len(page) == 1 and page.token, page
rest = client.search_runs([exp.experiment_id], max_results=1, page_token=page.token)
assert len(rest) == 1 and rest[0].info.run_id != page[0].info.run_id

files = client.list_artifacts(rid, "reports")
assert [(f.path, f.is_dir, f.file_size) for f in files] == [("reports/report.txt", False, 20)], files
top = sorted((f.path, f.is_dir) for f in client.list_artifacts(rid))
assert top == [("cfg", True), ("reports", True)], top
local = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="reports/report.txt", dst_path=work + "/dl")
assert open(local).read() == "MAE fell every week\n"
assert mlflow.artifacts.load_dict(f"runs:/{rid}/cfg/config.json") == {"alpha": 0.3}


def error_code(call):
    try:
        call()
    except MlflowException as e:
        return e.error_code
    raise AssertionError("no error")


# Params are immutable; an unknown run is RESOURCE_DOES_NOT_EXIST; a bad
# filter is refused; a name that exists is RESOURCE_ALREADY_EXISTS.
assert error_code(lambda: client.log_param(rid, "model", "arima")) == "INVALID_PARAMETER_VALUE"
assert error_code(lambda: client.get_run("0" * 32)) == "RESOURCE_DOES_NOT_EXIST"
assert error_code(lambda: client.search_runs([exp.experiment_id], "metrics.rmse <")) == "INVALID_PARAMETER_VALUE"
assert error_code(lambda: client.create_experiment("demand-forecast")) == "RESOURCE_ALREADY_EXISTS"
assert client.get_run(rid).data.params["model"] == "ets"

# The registry: a version of a run's artifact, an alias.
client.create_registered_model("demand-model", description="weekly demand")
v1 = client.create_model_version("demand-model", f"runs:/{rid}/reports", run_id=rid)
assert v1.version == "1" and v1.status == "READY", v1
client.set_registered_model_alias("demand-model", "champion", "1")
assert client.get_model_version_by_alias("demand-model", "champion").run_id == rid
client.transition_model_version_stage("demand-model", "1", "Staging")
assert client.get_model_version("demand-model", "1").current_stage == "Staging"
assert [m.version for m in client.search_model_versions("name='demand-model'")] == ["1"]
assert [m.name for m in client.search_registered_models("name LIKE 'demand%'")] == ["demand-model"]


class AddOne(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [x + 1 for x in model_input]


# MLflow 3's logged model, registered, then loaded back by its alias.
with mlflow.start_run(run_name="adder"):
    info = mlflow.pyfunc.log_model(name="adder", python_model=AddOne(), pip_requirements=[])
v2 = mlflow.register_model(info.model_uri, "demand-model")
assert v2.version == "2", v2
client.set_registered_model_alias("demand-model", "champion", v2.version)
model = mlflow.pyfunc.load_model("models:/demand-model@champion")
assert list(model.predict([1, 2])) == [2, 3]
assert client.get_registered_model("demand-model").aliases == {"champion": "2"}

print(rid)
sys.stdout.flush()
