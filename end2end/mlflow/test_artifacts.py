"""Artifacts through the server's proxy (mlflow-artifacts:/ URIs): upload, list, download, and the
proxy's refusal of paths that leave the artifact root."""

import os
import pathlib
import random
import uuid

import mlflow
import pytest

from support import assert_mlflow_error, raw, raw_literal

PROXY = "/api/2.0/mlflow-artifacts/artifacts"

# Every byte value, and bytes that are not UTF-8, so nothing may be decoded or re-encoded.
BINARY = bytes(range(256)) + random.Random(7).randbytes(70_000) + b"\x00\xff\xfe\r\n\x1a"


def tree(root):
    root = pathlib.Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def files(tmp_path):
    single = tmp_path / "hello.txt"
    single.write_text("hello, artifacts\n")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a" * 10)
    (folder / "b.csv").write_text("x,y\n1,2\n")
    (folder / "sub" / "blob.bin").write_bytes(BINARY)
    (folder / "sub" / "empty.txt").write_bytes(b"")
    return single, folder


def test_upload_list_download(exp, client, files, tmp_path):
    single, folder = files
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(single))
        mlflow.log_artifacts(str(folder), artifact_path="data")
        mlflow.log_artifact(str(single), artifact_path="deep/er")
        mlflow.log_text("text body", "notes/readme.md")
        mlflow.log_dict({"k": [1, 2]}, "conf/params.json")
    run_id = run.info.run_id

    # The root: files and folders with paths relative to the run's artifact root, directories
    # without a size.
    root = {f.path: f for f in client.list_artifacts(run_id)}
    assert sorted(root) == ["conf", "data", "deep", "hello.txt", "notes"]
    assert not root["hello.txt"].is_dir and root["hello.txt"].file_size == single.stat().st_size
    assert root["data"].is_dir and root["data"].file_size is None

    data = {f.path: f for f in client.list_artifacts(run_id, "data")}
    assert sorted(data) == ["data/a.txt", "data/b.csv", "data/sub"]
    assert data["data/a.txt"].file_size == 10 and not data["data/a.txt"].is_dir
    assert data["data/sub"].is_dir
    sub = {f.path: f for f in client.list_artifacts(run_id, "data/sub")}
    assert sorted(sub) == ["data/sub/blob.bin", "data/sub/empty.txt"]
    assert sub["data/sub/blob.bin"].file_size == len(BINARY)
    # An empty file has no size at all: MLflow's FileInfo.to_proto sets file_size only if it is
    # truthy, so 0 is left out of the JSON and the client reads None.
    assert sub["data/sub/empty.txt"].file_size is None and not sub["data/sub/empty.txt"].is_dir
    assert [f.path for f in client.list_artifacts(run_id, "deep")] == ["deep/er"]
    # A missing folder lists as empty, not an error.
    assert client.list_artifacts(run_id, "no/such/dir") == []

    # Downloads are byte-equal: a file, a folder (recursively), a binary file, the whole run.
    got = client.download_artifacts(run_id, "hello.txt", str(tmp_path / "dl1"))
    assert pathlib.Path(got).read_bytes() == single.read_bytes()
    got = client.download_artifacts(run_id, "data", str(tmp_path / "dl2"))
    assert tree(got) == tree(folder)
    got = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data/sub/blob.bin",
                                              dst_path=str(tmp_path / "dl3"))
    assert pathlib.Path(got).read_bytes() == BINARY
    got = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "dl4"))
    whole = tree(got)
    assert whole["deep/er/hello.txt"] == single.read_bytes()
    assert whole["notes/readme.md"] == b"text body"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/conf/params.json") == {"k": [1, 2]}
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.md") == "text body"


def test_proxy_wire_shapes(exp, client, run_id):
    info = client.get_run(run_id).info
    # mlflow-artifacts:/<exp>/<run>/artifacts -> /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts
    assert info.artifact_uri.startswith("mlflow-artifacts:/")
    rel = info.artifact_uri[len("mlflow-artifacts:/"):].lstrip("/")
    put = raw("PUT", f"{PROXY}/{rel}/dir/f.bin", data=BINARY, headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 200, put.text
    get = raw("GET", f"{PROXY}/{rel}/dir/f.bin")
    assert get.status_code == 200 and get.content == BINARY
    # The proxy's listing gives basenames only (the client joins them to the path asked for).
    listing = raw("GET", PROXY, params={"path": rel}).json()
    assert listing == {"files": [{"path": "dir", "is_dir": True}]}, listing
    assert raw("PUT", f"{PROXY}/{rel}/dir/empty", data=b"").status_code == 200
    listing = raw("GET", PROXY, params={"path": f"{rel}/dir"}).json()
    # Sorted by name; an empty file's size of 0 is left out (as every unset field is).
    assert listing == {"files": [
        {"path": "empty", "is_dir": False},
        {"path": "f.bin", "is_dir": False, "file_size": len(BINARY)},
    ]}, listing
    assert raw("GET", f"{PROXY}/{rel}/dir/empty").content == b""
    # A missing directory lists as {} (no "files" at all).
    assert raw("GET", PROXY, params={"path": f"{rel}/nothing"}).json() == {}
    # A missing file: 404 RESOURCE_DOES_NOT_EXIST.
    assert_mlflow_error(raw("GET", f"{PROXY}/{rel}/dir/missing.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
    # Overwriting a file replaces it.
    assert raw("PUT", f"{PROXY}/{rel}/dir/f.bin", data=b"new").status_code == 200
    assert raw("GET", f"{PROXY}/{rel}/dir/f.bin").content == b"new"
    # The tracking service's own listing (the MLflow UI's): paths relative to the run's root.
    listed = raw("GET", "/api/2.0/mlflow/artifacts/list", params={"run_id": run_id}).json()
    assert listed["root_uri"] == info.artifact_uri
    assert listed["files"] == [{"path": "dir", "is_dir": True}], listed
    listed = raw("GET", "/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "dir"}).json()
    assert listed["files"] == [
        {"path": "dir/empty", "is_dir": False},
        {"path": "dir/f.bin", "is_dir": False, "file_size": 3},
    ], listed


# Path traversal. MLflow's validate_path_is_safe decodes the path (repeatedly, so %252e too) and
# refuses any ".." segment, absolute paths and "#" with 400 INVALID_PARAMETER_VALUE "Invalid path".
TRAVERSALS = {
    "dotdot": "../../{name}",
    "encoded": "%2e%2e/%2e%2e/{name}",
    "encoded-upper": "%2E%2E/%2E%2E/{name}",
    "double-encoded": "%252e%252e/%252e%252e/{name}",
    "encoded-slash": "..%2f..%2f{name}",
    "deep": "../../../../../../../../tmp/{name}",
}


@pytest.mark.parametrize("form", sorted(TRAVERSALS))
@pytest.mark.parametrize("method", ["PUT", "GET"])
def test_traversal_refused(exp, client, run_id, method, form):
    rel = client.get_run(run_id).info.artifact_uri[len("mlflow-artifacts:/"):].lstrip("/")
    name = f"escape-{uuid.uuid4().hex}"
    path = f"{PROXY}/{rel}/" + TRAVERSALS[form].format(name=name)
    resp = raw_literal(method, path, body=b"must not land" if method == "PUT" else None)
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert_not_written(rel, name)


@pytest.mark.parametrize("path", ["%2ftmp%2f{name}", "/tmp/{name}", "{rel}/a%23{name}"],
                         ids=["encoded-absolute", "absolute", "hash"])
def test_absolute_and_fragment_refused(exp, client, run_id, path):
    rel = client.get_run(run_id).info.artifact_uri[len("mlflow-artifacts:/"):].lstrip("/")
    name = f"escape-{uuid.uuid4().hex}"
    resp = raw_literal("PUT", f"{PROXY}/" + path.format(name=name, rel=rel), body=b"x")
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert_not_written(rel, name)


def test_traversal_in_listing_refused(exp, client, run_id):
    for path in ["..", "../..", "%2e%2e", "/etc"]:
        assert_mlflow_error(raw("GET", PROXY, params={"path": path}), 400, "INVALID_PARAMETER_VALUE")
    resp = raw("GET", "/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "../.."})
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("form", ["..\\..\\{name}", "..%5c..%5c{name}"], ids=["backslash", "encoded-backslash"])
def test_backslash_is_not_a_separator(exp, client, run_id, form):
    # MLflow on Linux does not treat "\" as a separator (validate_path_is_safe checks os.sep and
    # os.altsep only): "..\..\x" is accepted with 200 and stored as ONE file of that literal name
    # inside the run's folder, which is not an escape. A server may instead refuse it with a 4xx.
    rel = client.get_run(run_id).info.artifact_uri[len("mlflow-artifacts:/"):].lstrip("/")
    name = f"escape-{uuid.uuid4().hex}"
    resp = raw_literal("PUT", f"{PROXY}/{rel}/" + form.format(name=name), body=b"literal")
    assert resp.status_code == 200 or 400 <= resp.status_code < 500, resp.status_code
    if resp.status_code == 200:
        listing = {f.path for f in client.list_artifacts(run_id)}
        assert listing == {f"..\\..\\{name}"}, listing
        back = raw_literal("GET", f"{PROXY}/{rel}/..%5C..%5C{name}")
        assert back.status_code == 200 and back.content == b"literal"
    assert_not_written(rel, name, literal_ok=True)


def assert_not_written(rel, name, literal_ok=False):
    """Nothing named `name` where a traversal would have put it: not at the experiment's level
    nor the proxy root's (asked through the proxy), not in /tmp, and, when the runner names the
    server's scratch directory, nowhere under it. With `literal_ok`, a file whose name is the
    literal backslash form may exist (a name with a backslash in it is no escape)."""
    for params in ({"path": rel.split("/")[0]}, {}):
        listing = raw("GET", PROXY, params=params)
        assert listing.status_code == 200, listing.text
        names = [f["path"] for f in listing.json().get("files", [])]
        assert not [n for n in names if name in n], names
    assert not os.path.exists(os.path.join("/tmp", name))
    scratch = os.environ.get("MLFLOW_SUITE_SCRATCH_DIR")
    if scratch:
        hits = [p for p in pathlib.Path(scratch).rglob(f"*{name}*") if not (literal_ok and "\\" in p.name)]
        assert hits == [], hits
