"""Credentials: the client's own (MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME/PASSWORD)
are enough for tracking and artifacts, and a server that requires them refuses a request without.
The runner runs the `basic` test again with a password; it makes few calls, since password checks
are slow by design. Wrong credentials are not tried: repeated wrong passwords lock the account."""

import mlflow
import pytest

from support import AUTH, auth_headers, raw, unique, url


@pytest.mark.basic
def test_calls_with_the_configured_credentials(client, tmp_path):
    sent = auth_headers().get("Authorization", "")
    mode = {"Basic": "basic", "Bearer": "token"}.get(sent.split(" ")[0], "none")
    assert mode == AUTH or AUTH == "none", f"the runner said {AUTH}, the environment has {mode}"
    exp = mlflow.set_experiment(unique("auth"))
    (tmp_path / "note.txt").write_text("with credentials")
    with mlflow.start_run() as run:
        mlflow.log_param("auth", mode)
        mlflow.log_artifact(str(tmp_path / "note.txt"))
    got = client.get_run(run.info.run_id)
    assert got.data.params == {"auth": mode} and got.info.status == "FINISHED"
    assert got.info.experiment_id == exp.experiment_id
    back = client.download_artifacts(run.info.run_id, "note.txt", str(tmp_path / "dl"))
    assert open(back).read() == "with credentials"


@pytest.mark.skipif(AUTH == "none", reason="the server under test requires no credentials")
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"),
        ("POST", "/api/2.0/mlflow/runs/search"),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=0"),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/unauthenticated.txt"),
        ("GET", "/api/2.0/mlflow/registered-models/search"),
    ],
)
def test_without_credentials_refused(method, path):
    import requests

    resp = requests.request(method, url(path), json={} if method == "POST" else None,
                            data=b"x" if method == "PUT" else None, timeout=30)
    assert resp.status_code == 401, (resp.status_code, resp.text[:200])
    # Checked with credentials: the refused upload left nothing.
    if method == "PUT":
        listing = raw("GET", "/api/2.0/mlflow-artifacts/artifacts", params={"path": "0"})
        assert "unauthenticated.txt" not in {f["path"] for f in listing.json().get("files", [])}
