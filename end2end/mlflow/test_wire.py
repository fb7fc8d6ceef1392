"""The JSON on the wire, raw: what MLflow's server accepts (proto3-JSON forms the client and other
clients send) and the shapes it answers with. The client parses leniently, so these pin down
what a compatible server must read and write."""

import pytest

from support import HEX32, assert_mlflow_error, raw, unique

API = "/api/2.0/mlflow"


@pytest.fixture
def exp_id():
    resp = raw("POST", f"{API}/experiments/create", json={"name": unique("wire")})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    # Only the id, as a string of digits.
    assert list(body) == ["experiment_id"] and body["experiment_id"].isdigit(), body
    return body["experiment_id"]


def test_experiment_shape(exp_id):
    exp = raw("GET", f"{API}/experiments/get", params={"experiment_id": exp_id}).json()["experiment"]
    assert exp["experiment_id"] == exp_id
    assert exp["lifecycle_stage"] == "active"
    assert isinstance(exp["creation_time"], int) and isinstance(exp["last_update_time"], int)
    assert exp["artifact_location"].startswith("mlflow-artifacts:/")
    # No tags: no "tags" key at all (unset fields are left out).
    assert "tags" not in exp
    # Search answers to GET with query parameters as well as POST.
    name = exp["name"]
    found = raw("GET", f"{API}/experiments/search", params={"filter": f"name = '{name}'", "max_results": 5}).json()
    assert [e["experiment_id"] for e in found["experiments"]] == [exp_id]
    assert "next_page_token" not in found


def test_run_shape_and_int64_strings(exp_id):
    # int64 fields may come as JSON strings (proto3 JSON); they go out as numbers.
    resp = raw("POST", f"{API}/runs/create",
               json={"experiment_id": exp_id, "start_time": "123", "run_name": "wire",
                     "tags": [{"key": "a", "value": "b"}]})
    assert resp.status_code == 200, resp.text
    run = resp.json()["run"]
    info = run["info"]
    assert HEX32.match(info["run_id"]) and info["run_uuid"] == info["run_id"]
    assert info["start_time"] == 123
    assert info["status"] == "RUNNING"  # enums by name
    assert info["lifecycle_stage"] == "active" and info["experiment_id"] == exp_id
    assert info["run_name"] == "wire"
    assert "end_time" not in info  # unset, so absent (not null)
    assert {"key": "a", "value": "b"} in run["data"]["tags"]
    assert {"key": "mlflow.runName", "value": "wire"} in run["data"]["tags"]
    assert "metrics" not in run["data"] and "params" not in run["data"]
    run_id = info["run_id"]

    # run_uuid alone (older clients) is accepted wherever run_id is.
    assert raw("GET", f"{API}/runs/get", params={"run_uuid": run_id}).json()["run"]["info"]["run_id"] == run_id
    resp = raw("POST", f"{API}/runs/log-metric",
               json={"run_uuid": run_id, "key": "m", "value": "0.5", "timestamp": "10", "step": "2"})
    assert resp.status_code == 200 and resp.json() == {}, resp.text
    points = raw("GET", f"{API}/metrics/get-history", params={"run_uuid": run_id, "metric_key": "m"}).json()
    assert points == {"metrics": [{"key": "m", "value": 0.5, "timestamp": 10, "step": 2}]}

    # Enums as numbers too: RunStatus FINISHED = 3; the answer names it.
    resp = raw("POST", f"{API}/runs/update", json={"run_id": run_id, "status": 3, "end_time": 500})
    assert resp.status_code == 200, resp.text
    updated = resp.json()["run_info"]
    assert updated["status"] == "FINISHED" and updated["end_time"] == 500
    # ViewType ALL = 3.
    found = raw("POST", f"{API}/runs/search", json={"experiment_ids": [exp_id], "run_view_type": 3}).json()
    assert [r["info"]["run_id"] for r in found["runs"]] == [run_id]
    found = raw("POST", f"{API}/runs/search", json={"experiment_ids": [exp_id], "run_view_type": "ALL"}).json()
    assert [r["info"]["run_id"] for r in found["runs"]] == [run_id]


def test_empty_answers_and_unknown_fields(exp_id):
    run_id = raw("POST", f"{API}/runs/create", json={"experiment_id": exp_id}).json()["run"]["info"]["run_id"]
    for path, body in [
        ("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}),
        ("runs/set-tag", {"run_id": run_id, "key": "t", "value": "1"}),
        ("runs/delete-tag", {"run_id": run_id, "key": "t"}),
        # Fields a server does not know are ignored (newer clients send more).
        ("runs/set-tag", {"run_id": run_id, "key": "t", "value": "2", "not_a_field": 1}),
        ("runs/log-batch", {"run_id": run_id, "metrics": [{"key": "k", "value": "NaN", "timestamp": 1, "step": 0}]}),
    ]:
        resp = raw("POST", f"{API}/{path}", json=body)
        assert resp.status_code == 200 and resp.json() == {}, (path, resp.text)
    # A search with nothing to find is {} (no "runs": []).
    other = raw("POST", f"{API}/experiments/create", json={"name": unique("wire-empty")}).json()["experiment_id"]
    assert raw("POST", f"{API}/runs/search", json={"experiment_ids": [other]}).json() == {}
    # So is the history of a key never logged.
    assert raw("GET", f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "none"}).json() == {}


def test_wrong_json_types_refused(exp_id):
    run_id = raw("POST", f"{API}/runs/create", json={"experiment_id": exp_id}).json()["run"]["info"]["run_id"]
    # A param value must be a JSON string: 400 "Invalid value 5 for parameter 'value' supplied".
    resp = raw("POST", f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": 5})
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
    # A null metric value is a missing one.
    resp = raw("POST", f"{API}/runs/log-metric", json={"run_id": run_id, "key": "m", "value": None, "timestamp": 1})
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
    data = raw("GET", f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]
    assert "params" not in data and "metrics" not in data


def test_search_runs_page_token_on_the_wire(exp_id):
    for _ in range(3):
        raw("POST", f"{API}/runs/create", json={"experiment_id": exp_id})
    first = raw("POST", f"{API}/runs/search", json={"experiment_ids": [exp_id], "max_results": 2}).json()
    assert len(first["runs"]) == 2 and isinstance(first["next_page_token"], str) and first["next_page_token"]
    rest = raw("POST", f"{API}/runs/search",
               json={"experiment_ids": [exp_id], "max_results": 2, "page_token": first["next_page_token"]}).json()
    assert len(rest["runs"]) == 1 and "next_page_token" not in rest
    ids = [r["info"]["run_id"] for r in first["runs"] + rest["runs"]]
    assert len(set(ids)) == 3
