"""Helpers of the MLflow client compatibility suite (conftest.py holds its fixtures).

Everything goes through the real MLflow client (`mlflow`, `mlflow.MlflowClient`) against the
server at MLFLOW_TRACKING_URI; .ci/mlflow-client runs the suite against a real `mlflow server`
(the reference, `--peer`) and against okrflow. A few tests send raw HTTP where the client would
hide the server's answer (it chunks batches, normalises paths) — with the same credentials.

Environment the runner sets:
  MLFLOW_TRACKING_URI             the server (required)
  MLFLOW_TRACKING_TOKEN           Bearer token, or
  MLFLOW_TRACKING_USERNAME/PASSWORD  Basic credentials (the client reads these itself)
  MLFLOW_SUITE_TARGET             "mlflow" (the reference) or "okrflow": only where MLflow
                                  answers 5xx for a client's mistake does the suite hold okrflow
                                  to the stricter 4xx rule (see `mlflow_quirk`)
  MLFLOW_SUITE_AUTH               "none", "token" or "basic": what the server requires
  MLFLOW_SUITE_SCRATCH_DIR        optional: a directory the server writes under, searched for
                                  files a path-traversal attempt must not have created
"""

import base64
import http.client
import os
import re
import urllib.parse
import uuid

import pytest

# Before mlflow reads them. No retries: MLflow's default retries 5xx for about 4 minutes and then
# hides the server's message, which would turn a finding into a timeout.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

from mlflow.exceptions import MlflowException  # noqa: E402

TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "")
if not TRACKING_URI.startswith(("http://", "https://")):
    raise pytest.UsageError("MLFLOW_TRACKING_URI must name the server (http://host:port[/prefix])")
BASE = TRACKING_URI.rstrip("/")
TARGET = os.environ.get("MLFLOW_SUITE_TARGET", "okrflow")
AUTH = os.environ.get("MLFLOW_SUITE_AUTH", "none")

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def auth_headers():
    """The Authorization header the client would send, from the same environment variables
    (mlflow.utils.rest_utils.http_request: Basic when a username and a password are set, else the
    token)."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {}


def url(path):
    """The absolute URL of a server path such as /api/2.0/mlflow/runs/get (the tracking URI may
    carry a prefix, which the client keeps too)."""
    return BASE + path


def raw(method, path, **kwargs):
    """A plain `requests` call with the suite's credentials (the server's own answer, not the
    client's interpretation of it)."""
    import requests

    headers = {**auth_headers(), **kwargs.pop("headers", {})}
    return requests.request(method, url(path), headers=headers, timeout=30, **kwargs)


class RawResponse:
    def __init__(self, status, headers, body):
        self.status_code = status
        self.headers = headers
        self.content = body

    def json(self):
        import json

        return json.loads(self.content)


def raw_literal(method, path, body=None, headers=None):
    """Sends `path` byte for byte. `requests`/urllib3 remove dot segments from URLs, so a
    traversal attempt (`../`) would never reach the server through them."""
    parts = urllib.parse.urlsplit(BASE)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, parts.path.rstrip("/") + path, body=body,
                     headers={**auth_headers(), **(headers or {})})
        resp = conn.getresponse()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def assert_mlflow_error(resp, status, error_code):
    """A server error in MLflow's shape: the status, a JSON object body with `error_code` and a
    `message` (MLflow 3 may add `sqlstate`/`error_class`; the client ignores them)."""
    assert resp.status_code == status, (resp.status_code, resp.content[:500])
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict), body
    assert body.get("error_code") == error_code, body
    assert isinstance(body.get("message"), str) and body["message"], body
    return body


def mlflow_quirk():
    """True against the reference MLflow server, for the few checks where MLflow's own behaviour
    is a defect okrflow deliberately does not copy: a 5xx for a client's mistake, and ±Infinity
    clamped to ±DBL_MAX by its SQL store. The suite then asserts MLflow's exact behaviour (so a
    change in MLflow shows) and holds okrflow to the better one. Each use says which."""
    return TARGET == "mlflow"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def raises_code(error_code):
    """pytest.raises for an MlflowException whose error_code is `error_code`."""

    class _Ctx:
        def __enter__(self):
            self._ctx = pytest.raises(MlflowException)
            self.excinfo = self._ctx.__enter__()
            return self.excinfo

        def __exit__(self, *exc):
            handled = self._ctx.__exit__(*exc)
            if handled:
                got = self.excinfo.value.error_code
                assert got == error_code, f"error_code {got}, expected {error_code}: {self.excinfo.value}"
            return handled

    return _Ctx()
