"""log-batch: MLflow's limits (1000 metrics, 100 params, 100 tags, 1000 entities per request) are
accepted in one request, a request over them is refused whole, and the client's own chunking of
bigger batches lands every entity."""

import pytest
from mlflow.entities import Metric, Param, RunTag

from support import assert_mlflow_error, raw

LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"


def metrics(n, prefix="m"):
    return [Metric(f"{prefix}{i}", float(i), 1_700_000_000_000, i % 7) for i in range(n)]


def params(n, prefix="p"):
    return [Param(f"{prefix}{i}", f"v{i}") for i in range(n)]


def tags(n, prefix="t"):
    return [RunTag(f"{prefix}{i}", f"w{i}") for i in range(n)]


def wire(entities):
    out = []
    for e in entities:
        if isinstance(e, Metric):
            out.append({"key": e.key, "value": e.value, "timestamp": e.timestamp, "step": e.step})
        else:
            out.append({"key": e.key, "value": e.value})
    return out


def assert_readable(client, run_id, ms=(), ps=(), ts=()):
    data = client.get_run(run_id).data
    assert data.metrics == {m.key: m.value for m in ms}
    assert data.params == {p.key: p.value for p in ps}
    user_tags = {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")}
    assert user_tags == {t.key: t.value for t in ts}


@pytest.mark.parametrize(
    "n_metrics,n_params,n_tags",
    [(1000, 0, 0), (0, 100, 0), (0, 0, 100), (800, 100, 100), (900, 100, 0), (1000, 0, 0)],
    ids=["1000-metrics", "100-params", "100-tags", "800+100+100", "900+100", "1000-again"],
)
def test_at_the_limits_one_request(exp, client, run_id, n_metrics, n_params, n_tags):
    ms, ps, ts = metrics(n_metrics), params(n_params), tags(n_tags)
    # Raw, so it is certainly one request at the limit (the client would split a bigger one).
    resp = raw("POST", LOG_BATCH, json={"run_id": run_id, "metrics": wire(ms), "params": wire(ps), "tags": wire(ts)})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}
    assert_readable(client, run_id, ms, ps, ts)
    # Every metric point is in its history, not only the latest value.
    if ms:
        [point] = client.get_metric_history(run_id, ms[-1].key)
        assert (point.value, point.step, point.timestamp) == (ms[-1].value, ms[-1].step, ms[-1].timestamp)


def test_at_the_limits_through_the_client(exp, client, run_id):
    ms, ps, ts = metrics(800), params(100), tags(100)
    client.log_batch(run_id, metrics=ms, params=ps, tags=ts)
    assert_readable(client, run_id, ms, ps, ts)


def test_client_chunks_bigger_batches(exp, client, run_id):
    # 2500 metrics, 250 params, 250 tags: the client splits them into several requests.
    ms, ps, ts = metrics(2500), params(250), tags(250)
    client.log_batch(run_id, metrics=ms, params=ps, tags=ts)
    assert_readable(client, run_id, ms, ps, ts)


@pytest.mark.parametrize(
    "n_metrics,n_params,n_tags,message",
    [
        (1001, 0, 0, "at most 1000 metrics"),
        (0, 101, 0, "at most 100 params"),
        (0, 0, 101, "at most 100 tags"),
        (901, 100, 0, "at most 1000 metrics, params, and tags"),
        (801, 100, 100, "at most 1000 metrics, params, and tags"),
    ],
    ids=["1001-metrics", "101-params", "101-tags", "901+100", "801+100+100"],
)
def test_over_the_limits_refused_whole(exp, client, run_id, n_metrics, n_params, n_tags, message):
    body = {"run_id": run_id, "metrics": wire(metrics(n_metrics)), "params": wire(params(n_params)),
            "tags": wire(tags(n_tags))}
    resp = raw("POST", LOG_BATCH, json=body)
    err = assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
    # MLflow's message, e.g. "A batch logging request can contain at most 1000 metrics. Got 1001
    # metrics. Please split up metrics across multiple requests and try again."
    assert message in err["message"], err
    # Nothing of it was written.
    assert_readable(client, run_id)
    assert client.get_metric_history(run_id, "m0") == []


def test_duplicate_param_key_refused_whole(exp, client, run_id):
    body = {
        "run_id": run_id,
        "metrics": wire(metrics(3)),
        "params": [{"key": "a", "value": "1"}, {"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}],
        "tags": wire(tags(2)),
    }
    resp = raw("POST", LOG_BATCH, json=body)
    err = assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert "Duplicate parameter keys" in err["message"], err
    # Even with the same value twice (MLflow refuses any repeated key in one batch).
    body["params"] = [{"key": "dup", "value": "1"}, {"key": "dup", "value": "1"}]
    err = assert_mlflow_error(raw("POST", LOG_BATCH, json=body), 400, "INVALID_PARAMETER_VALUE")
    assert "Duplicate parameter keys" in err["message"], err
    assert_readable(client, run_id)


def test_changed_param_in_batch_refused_whole(exp, client, run_id):
    client.log_param(run_id, "fixed", "1")
    body = {
        "run_id": run_id,
        "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}],
        "params": [{"key": "new", "value": "x"}, {"key": "fixed", "value": "2"}],
        "tags": [{"key": "t", "value": "v"}],
    }
    err = assert_mlflow_error(raw("POST", LOG_BATCH, json=body), 400, "INVALID_PARAMETER_VALUE")
    assert "Changing param values is not allowed" in err["message"], err
    # One transaction: the new param, the metric and the tag of that batch are not written either.
    assert_readable(client, run_id, ps=[Param("fixed", "1")])


def test_empty_batch_is_fine(exp, client, run_id):
    resp = raw("POST", LOG_BATCH, json={"run_id": run_id})
    assert resp.status_code == 200 and resp.json() == {}
    assert_readable(client, run_id)


def test_batch_to_unknown_run(client):
    resp = raw("POST", LOG_BATCH, json={"run_id": "0" * 32, "metrics": wire(metrics(1))})
    assert_mlflow_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")


def test_batch_needs_json_content_type(exp, client, run_id):
    # MLflow checks log-batch's Content-Type: 400 "Bad Request. Content-Type must be one of
    # ['application/json']."
    resp = raw("POST", LOG_BATCH, data=f'{{"run_id": "{run_id}"}}', headers={"Content-Type": "text/plain"})
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
