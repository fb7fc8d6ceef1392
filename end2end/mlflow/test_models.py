"""Models: log an sklearn model, register it, load it back by version, alias and run; the
registry's search, latest versions, tags, aliases and renames."""

import pathlib

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pytest
from mlflow.entities import LoggedModelStatus
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from support import assert_mlflow_error, raises_code, raw, unique

# Given, so log_model does not start a subprocess to infer them (slow, and not the server's part).
REQUIREMENTS = ["scikit-learn", "numpy"]


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    return model, x


@pytest.fixture(scope="module")
def registered(iris, client):
    """One model logged in a run and registered as version 1 of a uniquely named model (the
    module's tests share it; each leaves it as it found it or uses names of its own)."""
    model, x = iris
    mlflow.set_experiment(unique("models"))
    name = unique("iris")
    with mlflow.start_run() as run:
        mlflow.log_param("max_iter", 500)
        mlflow.log_metric("train_acc", float(model.score(x, load_iris(return_X_y=True)[1])))
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                        pip_requirements=REQUIREMENTS, input_example=x[:2])
    return name, run.info.run_id, info


def test_log_register_and_load(iris, client, registered, tmp_path):
    model, x = iris
    name, run_id, info = registered
    expected = model.predict(x)

    # MLflow 3: the model is a logged model "m-<hex>" in the experiment, tied to the run.
    assert info.model_id and info.model_id.startswith("m-")
    assert str(info.registered_model_version) == "1"
    version = client.get_model_version(name, "1")
    assert version.status == "READY"
    assert version.run_id == run_id
    assert version.version == "1"
    assert version.current_stage == "None"
    assert version.source == f"models:/{info.model_id}"

    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_registered_model(name).aliases == {"champion": "1"}
    assert client.get_model_version(name, "1").aliases == ["champion"]

    for uri in (f"models:/{name}/1", f"models:/{name}@champion", f"runs:/{run_id}/model",
                f"models:/{info.model_id}", f"models:/{name}/latest"):
        loaded = mlflow.pyfunc.load_model(uri)
        np.testing.assert_array_equal(np.asarray(loaded.predict(x)), expected, err_msg=uri)
    # The sklearn flavour gives back the estimator itself.
    native = mlflow.sklearn.load_model(f"models:/{name}/1")
    np.testing.assert_array_equal(native.predict_proba(x), model.predict_proba(x))

    # The logged model's files came through the artifact proxy.
    files = {f.path for f in client.list_logged_model_artifacts(info.model_id)}
    assert {"MLmodel", "requirements.txt", "python_env.yaml", "conda.yaml", "input_example.json"} <= files, files
    # MLflow 3.17's sklearn flavour saves with skops by default ("model.skops"); older: model.pkl.
    assert files & {"model.skops", "model.pkl"}, files
    local = pathlib.Path(mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(tmp_path)))
    mlmodel = (local / "MLmodel").read_text()
    assert "sklearn" in mlmodel and info.model_id in mlmodel
    assert client.get_model_version_download_uri(name, "1").startswith("mlflow-artifacts:/")


def test_logged_model_records(client, registered):
    name, run_id, info = registered
    logged = client.get_logged_model(info.model_id)
    assert logged.status == LoggedModelStatus.READY  # finalized after the upload
    assert logged.source_run_id == run_id
    assert logged.name == "model"
    assert logged.params == {"max_iter": "500"}
    assert logged.artifact_location.endswith(f"/models/{info.model_id}/artifacts")
    run = client.get_run(run_id)
    assert [o.model_id for o in run.outputs.model_outputs] == [info.model_id]
    found = client.search_logged_models([run.info.experiment_id], filter_string="name = 'model'")
    assert [m.model_id for m in found] == [info.model_id]


def test_registered_model_search_and_latest(client, registered):
    name, run_id, _ = registered
    found = client.search_registered_models(filter_string=f"name = '{name}'")
    assert [m.name for m in found] == [name]
    assert [m.name for m in client.search_registered_models(filter_string=f"name LIKE '{name[:-4]}%'")] == [name]
    latest = client.get_latest_versions(name)
    assert [(v.name, v.version, v.run_id) for v in latest] == [(name, "1", run_id)]
    versions = client.search_model_versions(f"name = '{name}'")
    assert [v.version for v in versions] == ["1"]
    assert [v.version for v in client.search_model_versions(f"run_id = '{run_id}'")] == ["1"]


def test_second_version_and_latest(iris, client):
    model, x = iris
    mlflow.set_experiment(unique("models-v2"))
    name = unique("iris-v2")
    for _ in range(2):
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                     pip_requirements=REQUIREMENTS)
    assert sorted(v.version for v in client.search_model_versions(f"name = '{name}'")) == ["1", "2"]
    assert [v.version for v in client.get_latest_versions(name)] == ["2"]
    # Registering a run's model again by URI makes version 3.
    run_id = client.get_model_version(name, "1").run_id
    mv = mlflow.register_model(f"runs:/{run_id}/model", name)
    assert mv.version == "3" and mv.run_id == run_id
    client.delete_model_version(name, "3")
    with raises_code("RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version(name, "3")


def test_registered_model_tags_and_description(client):
    name = unique("rm-tags")
    client.create_registered_model(name, tags={"team": "ml"}, description="first")
    client.set_registered_model_tag(name, "stage", "dev")
    rm = client.get_registered_model(name)
    assert rm.tags == {"team": "ml", "stage": "dev"} and rm.description == "first"
    client.delete_registered_model_tag(name, "team")
    client.update_registered_model(name, description="second")
    rm = client.get_registered_model(name)
    assert rm.tags == {"stage": "dev"} and rm.description == "second"
    with raises_code("RESOURCE_ALREADY_EXISTS"):
        client.create_registered_model(name)
    resp = raw("POST", "/api/2.0/mlflow/registered-models/create", json={"name": name})
    assert_mlflow_error(resp, 400, "RESOURCE_ALREADY_EXISTS")


def test_model_version_tags(client, registered):
    name, _, _ = registered
    client.set_model_version_tag(name, "1", "validated", "yes")
    client.set_model_version_tag(name, "1", "note", "x")
    assert client.get_model_version(name, "1").tags == {"validated": "yes", "note": "x"}
    client.delete_model_version_tag(name, "1", "note")
    assert client.get_model_version(name, "1").tags == {"validated": "yes"}
    found = client.search_model_versions(f"name = '{name}' AND tags.validated = 'yes'")
    assert [v.version for v in found] == ["1"]


def test_aliases(client, registered):
    name, _, _ = registered
    client.set_registered_model_alias(name, "temp", "1")
    assert client.get_model_version_by_alias(name, "temp").version == "1"
    client.delete_registered_model_alias(name, "temp")
    with raises_code("INVALID_PARAMETER_VALUE"):
        # MLflow answers a missing alias with INVALID_PARAMETER_VALUE ("Registered model alias
        # temp not found."), not RESOURCE_DOES_NOT_EXIST.
        client.get_model_version_by_alias(name, "temp")
    assert "temp" not in client.get_registered_model(name).aliases
    with raises_code("INVALID_PARAMETER_VALUE"):
        mlflow.pyfunc.load_model(f"models:/{name}@temp")
    # Deleting an alias that is not there is not an error (200 {}).
    client.delete_registered_model_alias(name, "temp")
    # An alias on a version that does not exist is refused.
    with raises_code("RESOURCE_DOES_NOT_EXIST"):
        client.set_registered_model_alias(name, "ghost", "99")
    assert client.get_registered_model(name).aliases.get("ghost") is None


def test_rename_registered_model(iris, client):
    name, new = unique("rm-old"), unique("rm-new")
    client.create_registered_model(name)
    client.rename_registered_model(name, new)
    assert client.get_registered_model(new).name == new
    with raises_code("RESOURCE_DOES_NOT_EXIST"):
        client.get_registered_model(name)
    assert client.search_registered_models(filter_string=f"name = '{name}'") == []
    client.delete_registered_model(new)
    with raises_code("RESOURCE_DOES_NOT_EXIST"):
        client.get_registered_model(new)


def test_rename_moves_versions(iris, client, registered):
    model, x = iris
    mlflow.set_experiment(unique("models-rename"))
    name, new = unique("rm-ver"), unique("rm-ver-new")
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name=name, pip_requirements=REQUIREMENTS)
    client.set_registered_model_alias(name, "prod", "1")
    client.rename_registered_model(name, new)
    assert client.get_model_version(new, "1").name == new
    assert client.get_model_version_by_alias(new, "prod").version == "1"
    loaded = mlflow.pyfunc.load_model(f"models:/{new}@prod")
    np.testing.assert_array_equal(np.asarray(loaded.predict(x)), model.predict(x))


def test_unknown_registered_model(client):
    with raises_code("RESOURCE_DOES_NOT_EXIST"):
        client.get_registered_model(unique("no-model"))
    resp = raw("GET", "/api/2.0/mlflow/registered-models/get", params={"name": unique("no-model")})
    assert_mlflow_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")
    with raises_code("RESOURCE_DOES_NOT_EXIST"):
        mlflow.pyfunc.load_model(f"models:/{unique('no-model')}/1")
    with raises_code("RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version(unique("no-model"), "1")
