"""Runs: creation, names, nesting, end status, delete/restore, params and tags."""

import time

import mlflow
import pytest
from mlflow.entities import ViewType

from support import HEX32, assert_mlflow_error, raises_code, raw


def test_run_defaults(exp, client):
    before = int(time.time() * 1000)
    with mlflow.start_run() as run:
        info = client.get_run(run.info.run_id).info
        assert info.status == "RUNNING"
        assert info.end_time is None
    run_id = run.info.run_id
    assert HEX32.match(run_id), run_id
    assert info.run_id == run_id
    assert info.experiment_id == exp.experiment_id
    assert info.lifecycle_stage == "active"
    # The run's artifacts live under the experiment's root: <artifact_location>/<run_id>/artifacts.
    assert info.artifact_uri == f"{exp.artifact_location}/{run_id}/artifacts"
    assert info.start_time >= before - 60_000
    # No name given: the server makes one up ("adjective-animal-NNN") and mirrors it in the
    # mlflow.runName tag.
    done = client.get_run(run_id)
    assert done.info.run_name
    assert done.data.tags["mlflow.runName"] == done.info.run_name
    assert done.info.status == "FINISHED"
    assert done.info.end_time >= done.info.start_time


def test_run_name_and_rename(exp, client):
    with mlflow.start_run(run_name="my run") as run:
        pass
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "my run"
    assert got.data.tags["mlflow.runName"] == "my run"
    # Renaming through update_run moves the tag along ...
    client.update_run(run.info.run_id, name="renamed")
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "renamed" and got.data.tags["mlflow.runName"] == "renamed"
    # ... and setting the tag renames the run.
    client.set_tag(run.info.run_id, "mlflow.runName", "by tag")
    assert client.get_run(run.info.run_id).info.run_name == "by tag"


def test_nested_runs(exp, client):
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child", nested=True) as child:
            assert mlflow.active_run().info.run_id == child.info.run_id
        assert mlflow.active_run().info.run_id == parent.info.run_id
    pid, cid = parent.info.run_id, child.info.run_id
    child_run = client.get_run(cid)
    assert child_run.data.tags["mlflow.parentRunId"] == pid
    assert "mlflow.parentRunId" not in client.get_run(pid).data.tags
    assert child_run.info.run_name == "child"
    assert client.get_run(pid).info.status == "FINISHED"
    assert child_run.info.status == "FINISHED"
    found = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{pid}'")
    assert [r.info.run_id for r in found] == [cid]
    # The client's own helper for the same question.
    assert client.get_parent_run(cid).info.run_id == pid


def test_run_that_raises_ends_failed(exp, client):
    with pytest.raises(ValueError, match="boom"):
        with mlflow.start_run() as run:
            raise ValueError("boom")
    info = client.get_run(run.info.run_id).info
    assert info.status == "FAILED"
    assert info.end_time is not None and info.end_time >= info.start_time
    assert mlflow.active_run() is None


def test_set_terminated_statuses(exp, client):
    for status in ("KILLED", "FAILED", "FINISHED"):
        run_id = client.create_run(exp.experiment_id).info.run_id
        client.set_terminated(run_id, status)
        info = client.get_run(run_id).info
        assert info.status == status and info.end_time is not None
    # A run is resumable: back to RUNNING.
    run_id = client.create_run(exp.experiment_id).info.run_id
    client.set_terminated(run_id, "FINISHED")
    with mlflow.start_run(run_id=run_id):
        assert client.get_run(run_id).info.status == "RUNNING"
    assert client.get_run(run_id).info.status == "FINISHED"


def test_delete_and_restore_run(exp, client, run_id):
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([exp.experiment_id])] == []
    deleted = client.search_runs([exp.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [run_id]
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    assert [r.info.run_id for r in client.search_runs([exp.experiment_id])] == [run_id]


def test_params(exp, client):
    with mlflow.start_run() as run:
        assert mlflow.log_param("lr", 0.01) == 0.01
        mlflow.log_params({"depth": 3, "name": "tree", "flag": True, "none": None})
        # Re-logging the same value is fine (fluent and client, single and batch).
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"depth": 3})
        client.log_param(run.info.run_id, "lr", "0.01")
    params = client.get_run(run.info.run_id).data.params
    # Params are strings, str() of what was logged.
    assert params == {"lr": "0.01", "depth": "3", "name": "tree", "flag": "True", "none": "None"}


def test_changed_param_value_refused(exp, client, run_id):
    client.log_param(run_id, "p", "1")
    with raises_code("INVALID_PARAMETER_VALUE") as err:
        client.log_param(run_id, "p", "2")
    # The server's message; the client appends its own hint after it.
    assert "Changing param values is not allowed" in err.value.message
    # Through log-batch (log_params) too.
    with raises_code("INVALID_PARAMETER_VALUE"):
        client.log_batch(run_id, params=[mlflow.entities.Param("p", "3")])
    assert client.get_run(run_id).data.params == {"p": "1"}
    resp = raw("POST", "/api/2.0/mlflow/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "4"})
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_long_values_truncated_not_refused(exp, client, run_id):
    # Surprise: MLflow 3 does not refuse a param value over 6000 characters or a run-tag value
    # over 8000; the server truncates them (MLFLOW_TRUNCATE_LONG_VALUES, on by default) and answers
    # 200. Keys over 250 characters are refused (test_errors).
    client.log_param(run_id, "long", "v" * 6001)
    client.set_tag(run_id, "long", "t" * 8001)
    data = client.get_run(run_id).data
    assert data.params["long"] == "v" * 6000
    assert data.tags["long"] == "t" * 8000
    # At the limit, exactly kept.
    client.log_param(run_id, "edge", "e" * 6000)
    assert client.get_run(run_id).data.params["edge"] == "e" * 6000


def test_run_tags(exp, client, run_id):
    client.set_tag(run_id, "t", "1")
    client.set_tag(run_id, "t", "2")  # run tags are mutable
    with mlflow.start_run(run_id=run_id):
        mlflow.set_tags({"a": "x", "b": 7})
        mlflow.set_tag("c", "y")
    tags = client.get_run(run_id).data.tags
    assert tags["t"] == "2" and tags["a"] == "x" and tags["b"] == "7" and tags["c"] == "y"
    client.delete_tag(run_id, "a")
    tags = client.get_run(run_id).data.tags
    assert "a" not in tags and tags["b"] == "7"
    # Deleting a tag the run does not have: 404 RESOURCE_DOES_NOT_EXIST.
    with raises_code("RESOURCE_DOES_NOT_EXIST"):
        client.delete_tag(run_id, "never-set")
    resp = raw("POST", "/api/2.0/mlflow/runs/delete-tag", json={"run_id": run_id, "key": "a"})
    assert_mlflow_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")


def test_system_tags_from_client(exp, client):
    # The fluent start_run sends the source tags; the server keeps them as given.
    with mlflow.start_run() as run:
        pass
    tags = client.get_run(run.info.run_id).data.tags
    assert tags.get("mlflow.source.type") == "LOCAL"
    assert "mlflow.user" in tags and "mlflow.source.name" in tags
    assert client.get_run(run.info.run_id).info.user_id == tags["mlflow.user"]


def test_run_in_unknown_experiment_refused(client):
    with raises_code("RESOURCE_DOES_NOT_EXIST"):
        client.create_run("987654321")
    resp = raw("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "987654321"})
    assert_mlflow_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")


def test_run_name_unique_per_call(exp, client):
    names = {client.create_run(exp.experiment_id).info.run_name for _ in range(3)}
    assert len(names) == 3 and all(names)
