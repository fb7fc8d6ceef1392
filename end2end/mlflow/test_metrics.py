"""Metrics: steps and timestamps, NaN/±Inf, the latest value per key, and long histories."""

import math
import sys
import time

import mlflow
import pytest
from mlflow.entities import Metric

from support import assert_mlflow_error, mlflow_quirk, raises_code, raw


def history(client, run_id, key):
    return [(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key)]


def test_steps_and_timestamps(exp, client):
    with mlflow.start_run() as run:
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
        mlflow.log_metrics({"acc": 0.5, "f1": 0.25}, step=3)
        mlflow.log_metric("plain", 2.5)  # no step: step 0, timestamp now
    run_id = run.info.run_id
    assert history(client, run_id, "loss") == [
        (s, 1_700_000_000_000 + s, 1.0 / (s + 1)) for s in range(5)
    ]
    [acc] = client.get_metric_history(run_id, "acc")
    assert (acc.key, acc.value, acc.step) == ("acc", 0.5, 3)
    [plain] = client.get_metric_history(run_id, "plain")
    assert plain.step == 0 and abs(plain.timestamp - time.time() * 1000) < 600_000
    metrics = client.get_run(run_id).data.metrics
    assert metrics == {"loss": 0.2, "acc": 0.5, "f1": 0.25, "plain": 2.5}
    # Integers are doubles on the wire and back.
    client.log_metric(run_id, "int", 3, step=1, timestamp=5)
    assert client.get_run(run_id).data.metrics["int"] == 3.0
    assert client.get_metric_history(run_id, "never-logged") == []


def test_same_step_logged_twice_keeps_both(exp, client, run_id):
    client.log_metric(run_id, "m", 1.0, step=1, timestamp=10)
    client.log_metric(run_id, "m", 2.0, step=1, timestamp=11)
    assert history(client, run_id, "m") == [(1, 10, 1.0), (1, 11, 2.0)]


def test_nan_and_infinities_round_trip(exp, client, run_id):
    client.log_metric(run_id, "nan", float("nan"), step=0, timestamp=1)
    client.log_metric(run_id, "pinf", float("inf"), step=0, timestamp=1)
    client.log_metric(run_id, "ninf", float("-inf"), step=0, timestamp=1)
    # And through log-batch.
    client.log_batch(run_id, metrics=[
        Metric("b_nan", float("nan"), 1, 0),
        Metric("b_pinf", float("inf"), 1, 0),
        Metric("b_ninf", float("-inf"), 1, 0),
    ])
    # MLflow's SQL store clamps ±Infinity to ±DBL_MAX (sqlalchemy_store: "value =
    # 1.7976931348623157e308 if metric_value > 0 else -1.7976931348623157e308"), so with MLflow
    # the client reads back ±1.7976931348623157e+308, a plain JSON number. NaN survives. okrflow
    # keeps the infinities exactly and sends them as protobuf's JSON strings.
    if mlflow_quirk():
        pinf_back, ninf_back = sys.float_info.max, -sys.float_info.max
        pinf_wire, ninf_wire = sys.float_info.max, -sys.float_info.max
    else:
        pinf_back, ninf_back = float("inf"), float("-inf")
        pinf_wire, ninf_wire = "Infinity", "-Infinity"
    metrics = client.get_run(run_id).data.metrics
    for prefix in ("", "b_"):
        assert math.isnan(metrics[prefix + "nan"])
        assert metrics[prefix + "pinf"] == pinf_back
        assert metrics[prefix + "ninf"] == ninf_back
        [nan] = client.get_metric_history(run_id, prefix + "nan")
        [pinf] = client.get_metric_history(run_id, prefix + "pinf")
        [ninf] = client.get_metric_history(run_id, prefix + "ninf")
        assert math.isnan(nan.value)
        assert pinf.value == pinf_back and ninf.value == ninf_back
    if not mlflow_quirk():
        assert math.isinf(metrics["pinf"]) and metrics["pinf"] > 0
        assert math.isinf(metrics["ninf"]) and metrics["ninf"] < 0
    # On the wire NaN is the string "NaN" (protobuf's JSON), never null or a bare NaN token.
    for key, wire in [("nan", "NaN"), ("pinf", pinf_wire), ("ninf", ninf_wire)]:
        resp = raw("GET", "/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": key})
        assert resp.status_code == 200
        [point] = resp.json()["metrics"]
        assert point["value"] == wire, resp.text
    resp = raw("GET", "/api/2.0/mlflow/runs/get", params={"run_id": run_id})
    values = {m["key"]: m["value"] for m in resp.json()["run"]["data"]["metrics"]}
    assert (values["nan"], values["pinf"], values["ninf"]) == ("NaN", pinf_wire, ninf_wire)
    # A NaN after a finite value at a higher step becomes the latest value.
    client.log_metric(run_id, "later_nan", 1.0, step=0, timestamp=1)
    client.log_metric(run_id, "later_nan", float("nan"), step=1, timestamp=1)
    assert math.isnan(client.get_run(run_id).data.metrics["later_nan"])


def test_latest_value_is_max_of_step_timestamp_value(exp, client, run_id):
    # MLflow keeps, per key, the metric that is largest by (step, timestamp, value).
    # Higher step wins over a later timestamp:
    client.log_metric(run_id, "by_step", 1.0, step=5, timestamp=100)
    client.log_metric(run_id, "by_step", 9.0, step=2, timestamp=200)
    # Same step: the later timestamp wins, even if logged first and smaller:
    client.log_metric(run_id, "by_ts", 3.0, step=7, timestamp=100)
    client.log_metric(run_id, "by_ts", 10.0, step=7, timestamp=50)
    # Same step and timestamp: the larger value wins, whatever the order:
    client.log_metric(run_id, "by_value", 4.0, step=1, timestamp=10)
    client.log_metric(run_id, "by_value", 2.0, step=1, timestamp=10)
    # Steps may be negative and logged out of order.
    client.log_metric(run_id, "neg", 7.0, step=-3, timestamp=1)
    client.log_metric(run_id, "neg", 8.0, step=-5, timestamp=2)
    # The same rules through log-batch, in one request.
    client.log_batch(run_id, metrics=[
        Metric("batch", 1.0, 100, 3), Metric("batch", 2.0, 300, 1), Metric("batch", 5.0, 200, 3),
    ])
    metrics = client.get_run(run_id).data.metrics
    assert metrics["by_step"] == 1.0
    assert metrics["by_ts"] == 3.0
    assert metrics["by_value"] == 4.0
    assert metrics["neg"] == 7.0
    assert metrics["batch"] == 5.0
    # History keeps every point, ordered by (timestamp, step, value).
    assert history(client, run_id, "by_step") == [(5, 100, 1.0), (2, 200, 9.0)]
    assert history(client, run_id, "by_ts") == [(7, 50, 10.0), (7, 100, 3.0)]


def test_invalid_metric_refused(exp, client, run_id):
    # Timestamps must be non-negative.
    resp = raw("POST", "/api/2.0/mlflow/runs/log-metric",
               json={"run_id": run_id, "key": "m", "value": 1.0, "timestamp": -1, "step": 0})
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
    # A value that is not a number.
    resp = raw("POST", "/api/2.0/mlflow/runs/log-metric",
               json={"run_id": run_id, "key": "m", "value": "abc", "timestamp": 1, "step": 0})
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
    # timestamp is required.
    resp = raw("POST", "/api/2.0/mlflow/runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1.0})
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
    with raises_code("INVALID_PARAMETER_VALUE"):
        client.log_metric(run_id, "m", 1.0, timestamp=-5)
    assert client.get_run(run_id).data.metrics == {}


def test_metric_history_beyond_a_page(exp, client, run_id):
    # The client asks for pages of 25,000 points; 30,000 need a second page. log_batch chunks the
    # points into requests of 1000 (MLflow's limit).
    n = 30_000
    base = 1_700_000_000_000
    client.log_batch(run_id, metrics=[Metric("long", float(i) / 2, base + i, i) for i in range(n)])
    points = client.get_metric_history(run_id, "long")
    assert len(points) == n
    assert [m.step for m in points] == list(range(n))
    assert all(m.value == m.step / 2 and m.timestamp == base + m.step for m in points)
    assert client.get_run(run_id).data.metrics["long"] == (n - 1) / 2
    # The server pages: the client's first request gets exactly 25,000 and a token; the token's
    # page has the remaining 5,000 and no token.
    first = raw("GET", "/api/2.0/mlflow/metrics/get-history",
                params={"run_id": run_id, "metric_key": "long", "max_results": 25_000}).json()
    assert len(first["metrics"]) == 25_000 and first.get("next_page_token")
    second = raw("GET", "/api/2.0/mlflow/metrics/get-history",
                 params={"run_id": run_id, "metric_key": "long", "max_results": 25_000,
                         "page_token": first["next_page_token"]}).json()
    assert len(second["metrics"]) == 5_000 and not second.get("next_page_token")
    assert [m["step"] for m in first["metrics"] + second["metrics"]] == list(range(n))


@pytest.mark.parametrize("bad", [0, -1])
def test_metric_history_bad_page_size(exp, client, run_id, bad):
    resp = raw("GET", "/api/2.0/mlflow/metrics/get-history",
               params={"run_id": run_id, "metric_key": "x", "max_results": bad})
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
