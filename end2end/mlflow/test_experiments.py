"""Experiments: set_experiment, lookup by name, duplicates, rename, delete/restore, tags, search."""

import mlflow
import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from support import assert_mlflow_error, raises_code, raw, unique


def test_set_experiment_creates_then_finds(client):
    name = unique("set-exp")
    assert client.get_experiment_by_name(name) is None
    # First call: get-by-name answers 404 RESOURCE_DOES_NOT_EXIST, then create, then get.
    created = mlflow.set_experiment(name)
    assert created.name == name
    assert created.lifecycle_stage == "active"
    assert created.experiment_id.isdigit()
    # Served artifacts: the experiment's root is the proxy URI, so clients never write to their
    # own disk. MLflow gives "mlflow-artifacts:/<experiment_id>".
    assert created.artifact_location.startswith("mlflow-artifacts:/")
    assert created.creation_time > 0 and created.last_update_time >= created.creation_time
    # Second call: found by name, the same experiment.
    again = mlflow.set_experiment(name)
    assert again.experiment_id == created.experiment_id
    assert client.get_experiment(created.experiment_id).name == name
    assert client.get_experiment_by_name(name).experiment_id == created.experiment_id
    # set_experiment by id works too.
    assert mlflow.set_experiment(experiment_id=created.experiment_id).name == name


def test_get_experiment_by_name_missing_is_none(client):
    assert client.get_experiment_by_name(unique("never-made")) is None
    # What the client relies on for that None: a 404 whose error_code is RESOURCE_DOES_NOT_EXIST.
    resp = raw("GET", "/api/2.0/mlflow/experiments/get-by-name",
               params={"experiment_name": unique("never-made")})
    assert_mlflow_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")


def test_default_experiment_exists(client):
    default = client.get_experiment("0")
    assert default.name == "Default"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_create_duplicate_raises_already_exists(client):
    name = unique("dup")
    client.create_experiment(name)
    with raises_code("RESOURCE_ALREADY_EXISTS"):
        client.create_experiment(name)
    # On the wire: 400 (MLflow maps RESOURCE_ALREADY_EXISTS to 400, not 409).
    resp = raw("POST", "/api/2.0/mlflow/experiments/create", json={"name": name})
    assert_mlflow_error(resp, 400, "RESOURCE_ALREADY_EXISTS")


def test_create_experiment_with_tags(client):
    name = unique("tagged")
    exp_id = client.create_experiment(name, tags={"team": "ml", "stage": "dev"})
    assert isinstance(exp_id, str)
    tags = client.get_experiment(exp_id).tags
    assert tags["team"] == "ml" and tags["stage"] == "dev"


def test_rename(client):
    old, new = unique("rename-old"), unique("rename-new")
    exp_id = client.create_experiment(old)
    client.rename_experiment(exp_id, new)
    assert client.get_experiment(exp_id).name == new
    assert client.get_experiment_by_name(new).experiment_id == exp_id
    assert client.get_experiment_by_name(old) is None
    # Renaming onto a name in use is refused with a 400. MLflow's own answer is BAD_REQUEST (its
    # SQL store lets the database's unique constraint fail, message "(sqlite3.IntegrityError)
    # UNIQUE constraint failed ..."), not RESOURCE_ALREADY_EXISTS as create gives; the client
    # does not look at this code, so either is accepted.
    other = unique("rename-taken")
    client.create_experiment(other)
    with pytest.raises(MlflowException) as err:
        client.rename_experiment(exp_id, other)
    assert err.value.error_code in ("BAD_REQUEST", "RESOURCE_ALREADY_EXISTS"), err.value
    resp = raw("POST", "/api/2.0/mlflow/experiments/update", json={"experiment_id": exp_id, "new_name": other})
    assert resp.status_code == 400, (resp.status_code, resp.text)
    assert resp.json()["error_code"] in ("BAD_REQUEST", "RESOURCE_ALREADY_EXISTS")
    assert client.get_experiment(exp_id).name == new
    assert client.get_experiment_by_name(other).experiment_id != exp_id


def test_delete_and_restore(client):
    name = unique("del")
    exp_id = client.create_experiment(name)
    client.delete_experiment(exp_id)
    got = client.get_experiment(exp_id)
    assert got.lifecycle_stage == "deleted"
    # A deleted experiment is still found by name (MLflow soft-deletes), marked deleted ...
    by_name = client.get_experiment_by_name(name)
    assert by_name is not None and by_name.lifecycle_stage == "deleted"
    # ... so set_experiment refuses it (the client's own check of lifecycle_stage) rather than
    # making a second one of the same name.
    with pytest.raises(MlflowException, match="Cannot set a deleted experiment"):
        mlflow.set_experiment(name)
    # No new runs in a deleted experiment (400 INVALID_PARAMETER_VALUE).
    with raises_code("INVALID_PARAMETER_VALUE"):
        client.create_run(exp_id)
    # The name stays taken while deleted.
    with raises_code("RESOURCE_ALREADY_EXISTS"):
        client.create_experiment(name)
    active = [e.experiment_id for e in client.search_experiments(filter_string=f"name = '{name}'")]
    assert active == []
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in deleted] == [exp_id]
    every = client.search_experiments(view_type=ViewType.ALL, filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in every] == [exp_id]

    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert mlflow.set_experiment(name).experiment_id == exp_id
    assert [e.experiment_id for e in client.search_experiments(filter_string=f"name = '{name}'")] == [exp_id]


def test_get_unknown_experiment_raises(client):
    with raises_code("RESOURCE_DOES_NOT_EXIST"):
        client.get_experiment("987654321")
    resp = raw("GET", "/api/2.0/mlflow/experiments/get", params={"experiment_id": "987654321"})
    assert_mlflow_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")


def test_experiment_tags(client):
    exp_id = client.create_experiment(unique("exp-tags"))
    client.set_experiment_tag(exp_id, "owner", "alice")
    client.set_experiment_tag(exp_id, "note", "first")
    client.set_experiment_tag(exp_id, "note", "second")  # tags are mutable: last write wins
    tags = client.get_experiment(exp_id).tags
    assert tags["owner"] == "alice" and tags["note"] == "second"
    client.delete_experiment_tag(exp_id, "owner")
    tags = client.get_experiment(exp_id).tags
    assert "owner" not in tags and tags["note"] == "second"
    # The fluent form sets a tag on the active experiment.
    mlflow.set_experiment(experiment_id=exp_id)
    mlflow.set_experiment_tag("fluent", "yes")
    assert client.get_experiment(exp_id).tags["fluent"] == "yes"


def test_search_experiments_filter_and_order(client):
    prefix = unique("search-exp")
    ids = {}
    for suffix, team in [("a", "red"), ("b", "blue"), ("c", "red")]:
        ids[suffix] = client.create_experiment(f"{prefix}-{suffix}", tags={"team": team})

    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"])
    assert [e.name for e in found] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]

    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"])
    assert [e.name for e in found] == [f"{prefix}-c", f"{prefix}-b", f"{prefix}-a"]

    red = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%' AND tags.team = 'red'", order_by=["name ASC"]
    )
    assert [e.experiment_id for e in red] == [ids["a"], ids["c"]]

    exact = client.search_experiments(filter_string=f"name = '{prefix}-b'")
    assert [e.experiment_id for e in exact] == [ids["b"]]
    assert exact[0].tags["team"] == "blue"

    # Paging: one per page, three pages, then no token.
    page = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"], max_results=2
    )
    assert [e.name for e in page] == [f"{prefix}-a", f"{prefix}-b"] and page.token
    rest = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"], max_results=2, page_token=page.token
    )
    assert [e.name for e in rest] == [f"{prefix}-c"] and not rest.token

    with raises_code("INVALID_PARAMETER_VALUE"):
        client.search_experiments(filter_string="name ~~ 'x'")
