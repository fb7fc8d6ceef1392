"""What the tracking journeys (tracking.spec.ts) ask the real MLflow client to do against the
okrflow they test. Run with the venv .ci/mlflow-client makes; MLFLOW_TRACKING_URI and the
credentials come from the environment. Each command prints one JSON line.

  log-run EXPERIMENT NAME STEPS SCALE   a finished run: params, a metric over STEPS steps,
                                        a tag, a CSV and a JSON artifact
  start-run EXPERIMENT NAME             a run left RUNNING, with one point of `loss`
  log-points RUN_ID FROM TO             more `loss` points on a running run
  register MODEL VALUE                  a model predicting VALUE, registered as a new version
  predict URI                           what the model at URI predicts for one row
"""

import json
import os
import sys
import tempfile

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402


def log_run(experiment, name, steps, scale):
    mlflow.set_experiment(experiment)
    steps, scale = int(steps), float(scale)
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params({"model": "forest", "depth": str(int(scale * 4)), "seed": "7"})
        client = MlflowClient()
        metrics = [mlflow.entities.Metric("loss", scale / (i + 1), 0, i) for i in range(steps)]
        for start in range(0, len(metrics), 1000):
            client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
        mlflow.log_metric("auc", 0.5 + scale / 10)
        mlflow.set_tag("team", "growth")
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "predictions.csv"), "w") as f:
                f.write("key_result,probability\nKR-1,0.8\nKR-2,0.35\n")
            with open(os.path.join(d, "summary.json"), "w") as f:
                json.dump({"auc": 0.5 + scale / 10, "rows": 2}, f)
            mlflow.log_artifacts(d, artifact_path="report")
    return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id}


def start_run(experiment, name):
    exp = mlflow.set_experiment(experiment)
    client = MlflowClient()
    run = client.create_run(exp.experiment_id, run_name=name)
    client.log_metric(run.info.run_id, "loss", 1.0, step=0)
    return {"run_id": run.info.run_id, "experiment_id": exp.experiment_id}


def log_points(run_id, start, end):
    client = MlflowClient()
    metrics = [mlflow.entities.Metric("loss", 1.0 / (i + 1), 0, i) for i in range(int(start), int(end))]
    client.log_batch(run_id, metrics=metrics)
    return {"logged": len(metrics)}


def register(model_name, value):
    from sklearn.dummy import DummyRegressor

    mlflow.set_experiment("e2e-registry")
    model = DummyRegressor(strategy="constant", constant=float(value)).fit([[0.0], [1.0]], [0.0, 1.0])
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=model_name)
    return {"version": str(info.registered_model_version)}


def predict(uri):
    import pandas as pd

    model = mlflow.pyfunc.load_model(uri)
    return {"prediction": float(model.predict(pd.DataFrame({"x": [0.5]}))[0])}


COMMANDS = {"log-run": log_run, "start-run": start_run, "log-points": log_points, "register": register, "predict": predict}

if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    print(json.dumps(COMMANDS[command](*args)))
