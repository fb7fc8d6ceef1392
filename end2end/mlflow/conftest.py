"""Fixtures of the MLflow client compatibility suite; support.py says what the runner sets."""

# support first: it sets the client's environment before mlflow is imported.
from support import TRACKING_URI, unique  # isort: skip

import re

import mlflow
import pytest
from mlflow import MlflowClient


@pytest.fixture(scope="session", autouse=True)
def _tracking_uri():
    mlflow.set_tracking_uri(TRACKING_URI)
    yield


@pytest.fixture(scope="session")
def client():
    return MlflowClient(tracking_uri=TRACKING_URI)


@pytest.fixture
def exp(request):
    """A fresh experiment of the test's own, made the way users make one (set_experiment), and
    the active one for fluent calls. Left on the server: names are unique, so reruns on the same
    server do not collide."""
    # Parametrized ids hold quotes and operators; the name keeps only the plain part.
    name = unique("suite-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:60])
    experiment = mlflow.set_experiment(name)
    yield experiment
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def run_id(exp, client):
    """A RUNNING run in the test's experiment, made through the client (not the fluent active
    run, so nothing ends it behind the test's back)."""
    return client.create_run(exp.experiment_id).info.run_id
