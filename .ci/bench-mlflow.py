"""The driver of .ci/bench-mlflow: the same MLflow client calls against one server, timed.

  bench-mlflow.py rss --pid PID --out IDLE.json
      the VmRSS of PID and all its descendants, summed (mlflow server is a launcher with a
      uvicorn supervisor and workers below it): the idle figure, taken before any client call.
  bench-mlflow.py run --target okrflow|mlflow --pid PID --idle IDLE.json --out FILE.json [--quick]
      measures the server at MLFLOW_TRACKING_URI (credentials, if any, from the environment as
      the client reads them) and writes the figures, with the idle RSS, as JSON.
  bench-mlflow.py report FILE.json... [--markdown FILE]
      prints the table of one or both sides (ratios only with both) and writes it as markdown.

Figures, never verdicts: timings depend on the machine, so nothing here fails on them. Each
operation is timed twice. As a client call, as a user makes it (`MlflowClient`): that includes
the client's own work (entities, protobufs, JSON, requests) on both sides alike, a floor (timed
against a stub) that can hide most of a fast server's speed. And on the wire: the very HTTP
requests that call sends, captured from the client at requests.Session.send (Capture) and
replayed byte for byte over one keep-alive connection (Wire), timed from sending to the last
byte of the answer, with nothing decoded: the server's time and the loopback, little else.
"""

import argparse
import collections
import concurrent.futures
import http.client
import json
import math
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse

# Before mlflow reads them. No retries: a failure must show, not turn into minutes of backoff
# inside a timing. No telemetry: it would add requests to someone else's server.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "600")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

# The counts of a full run, and of --quick (a smoke run: every call once or a few times).
FULL = dict(batch_reps=30, create_reps=100, search_runs=10_000, search_reps=10,
            history_points=25_000, history_reps=10, artifact_mb=100, artifact_reps=3)
QUICK = dict(batch_reps=5, create_reps=20, search_runs=1_000, search_reps=3,
             history_points=5_000, history_reps=3, artifact_mb=10, artifact_reps=2)
# Calls made before each timed series and not counted: the first requests a Python server
# worker sees import and compile code paths (and mlflow's two workers each need their own).
WARMUP = 3
# Threads that populate the search experiment (not timed): mlflow server has two workers.
POPULATE_THREADS = 4
SEARCH_FILTER = "metrics.m > 0.5 and params.p = 'x'"
SEARCH_ORDER = ["metrics.m DESC"]


def log(msg):
    print(f"    {msg}", file=sys.stderr, flush=True)


# --- memory -------------------------------------------------------------------------------


def _children():
    """parent pid -> its children's pids, from /proc."""
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the ppid follows the state.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree_rss(pid):
    """(VmRSS of pid and all its descendants in bytes, [(pid, command line, VmRSS)])."""
    kids = _children()
    todo, total, procs = [pid], 0, []
    while todo:
        p = todo.pop()
        todo.extend(kids.get(p, []))
        try:
            with open(f"/proc/{p}/status") as f:
                rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = " ".join(f.read().replace(b"\0", b" ").decode(errors="replace").split())
        except (OSError, StopIteration):
            continue
        total += rss
        procs.append((p, cmd, rss))
    return total, procs


def tree_pss(pid):
    """Pss of the same tree in bytes: shared pages split between their sharers (logged only, as
    a check on the RSS sum, which counts a library the workers share once per worker)."""
    total = 0
    for p, _, _ in tree_rss(pid)[1]:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total


def log_rss(when, pid):
    rss, procs = tree_rss(pid)
    log(f"{when}: RSS {rss / 1e6:.1f} MB (PSS {tree_pss(pid) / 1e6:.1f} MB) over {len(procs)} process(es)")
    for p, cmd, r in sorted(procs):
        log(f"  {p:>7} {r / 1e6:7.1f} MB  {cmd[:110]}")
    return rss, len(procs)


# --- timing -------------------------------------------------------------------------------


def p95(samples):
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def timed(reps, call, prepare=lambda i: None):
    """Seconds of `call(prepare(i))` for i in range(reps), after WARMUP uncounted calls; only
    the call is timed (building its arguments is the caller's own work, not the client's)."""
    for i in range(WARMUP):
        call(prepare(-1 - i))
    out = []
    for i in range(reps):
        arg = prepare(i)
        start = time.perf_counter()
        call(arg)
        out.append(time.perf_counter() - start)
    return out


def series(samples, unit_scale=1000.0):
    return {"median": statistics.median(samples) * unit_scale, "p95": p95(samples) * unit_scale,
            "n": len(samples)}


def retrying(call, tries=6):
    """For the untimed population only: mlflow server's two workers share one SQLite file and
    a writer can time out waiting for the other's lock."""
    for attempt in range(tries):
        try:
            return call()
        except Exception:  # noqa: BLE001 - any failure, the last one is raised
            if attempt == tries - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


class Stub:
    """A server that answers every call at once with bytes set beforehand (by the path after
    /mlflow/, e.g. "runs/search"; else `{}`): timing the same client calls against it gives the
    client's own share of a call (protobufs, JSON, the loopback round trip), the floor below
    which no server's figure can go. Each side's stub answers with that side's own answers."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        answers = self.answers = {}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body in one write, and no Nagle: else a delayed ACK adds 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *_):
                pass

            def _answer(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = answers.get(self.path.split("?")[0].split("/mlflow/", 1)[-1], b"{}")
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.uri = f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# One request as the client put it on the wire: headers as (name, value) pairs in their order,
# the body's bytes, or None with `streamed` when the body was a file (an artifact's PUT).
Request = collections.namedtuple("Request", "method url headers body streamed")


class Capture:
    """While active, records every request the MLflow client sends, as requests.Session.send
    gets it: below all of MLflow's and requests' own work, the method, URL, headers (with the
    Authorization the client adds) and body bytes that go on the wire; urllib3 adds only Host,
    which Wire.send adds alike. With `answer`, the requests of `unsent` (method, path suffix),
    or all, are not sent: each gets a 200 with those bytes, so a call is captured without being
    made (a log_batch whose steps the wire must be the first to log, an artifact's PUT or GET
    while the client's other requests, such as its get_run, are answered by the server)."""

    def __init__(self, answer=None, unsent=None):
        self.answer, self.unsent = answer, unsent
        self.requests = []

    def __enter__(self):
        import requests

        self._send = original = requests.Session.send
        capture = self

        def send(session, prepared, **kwargs):
            body = prepared.body
            streamed = body is not None and not isinstance(body, (bytes, str))
            if isinstance(body, str):
                body = body.encode()
            capture.requests.append(Request(prepared.method, prepared.url, tuple(prepared.headers.items()),
                                            None if streamed else body, streamed))
            if capture.answer is None or capture.unsent and not (
                    prepared.method == capture.unsent[0]
                    and urllib.parse.urlsplit(prepared.url).path.endswith(capture.unsent[1])):
                return original(session, prepared, **kwargs)
            response = requests.Response()
            response.status_code, response.reason, response.url = 200, "OK", prepared.url
            response.request, response.encoding = prepared, "utf-8"
            response.headers["Content-Type"] = "application/json"
            response._content, response._content_consumed = capture.answer, True
            return response

        requests.Session.send = send
        return self

    def __exit__(self, *_):
        import requests

        requests.Session.send = self._send

    def only(self, method=None, suffix=""):
        """The one request sent (of `method`, to a path ending in `suffix`), else an error."""
        found = [r for r in self.requests if (method is None or r.method == method)
                 and urllib.parse.urlsplit(r.url).path.endswith(suffix)]
        if len(found) != 1:
            raise RuntimeError(f"expected one {method or ''} request to *{suffix} from the client, it sent: "
                               + "; ".join(f"{r.method} {r.url}" for r in self.requests))
        return found[0]


class WireError(Exception):
    pass


class Wire:
    """The same requests without the client: each replayed, as captured, over one keep-alive
    HTTP/1.1 connection (http.client, no Nagle) and timed from its first byte sent to the last
    byte of the answer read, undecoded: no JSON parsed, no protobuf, no entity built."""

    def __init__(self, uri):
        u = urllib.parse.urlsplit(uri)
        self.netloc = u.netloc
        self.conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=600, blocksize=1 << 20)
        self.buf = bytearray(1 << 20)
        self.used = 0.0
        self.connects = self.sent = 0
        self.last = None  # (status, answer bytes, Content-Encoding) of the last request

    def ready(self):
        """Untimed, before each timed call: reopens the connection if it is closed (the server
        said Connection: close) or idled long enough to be dropped (uvicorn drops one idle for
        5 s), so that no timing holds a connect."""
        if self.conn.sock is None or time.monotonic() - self.used > 2:
            self.conn.close()
            self.conn.connect()
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connects += 1
            self.used = time.monotonic()

    def send(self, req, body=None):
        """Sends one captured request, with its own body or `body` (an open file, streamed in
        blocks of 1 MiB), and reads its answer to the end; an answer other than 2xx is an error
        that shows the request and the answer."""
        u = urllib.parse.urlsplit(req.url)
        if u.netloc != self.netloc:
            raise RuntimeError(f"captured request {req.url} is not to {self.netloc}")
        names = {k.lower() for k, _ in req.headers}
        # As urllib3 sends it: Host first, then the client's headers in their order.
        self.conn.putrequest(req.method, u.path + (f"?{u.query}" if u.query else ""),
                             skip_host="host" in names, skip_accept_encoding="accept-encoding" in names)
        for k, v in req.headers:
            self.conn.putheader(k, v)
        self.conn.endheaders(req.body if body is None else body)
        resp = self.conn.getresponse()
        if not 200 <= resp.status < 300:
            answer = resp.read()
            self.conn.close()
            raise WireError(describe_failure(req, resp, answer))
        n = 0
        while k := resp.readinto(self.buf):
            n += k
        self.used = time.monotonic()
        self.sent += 1
        self.last = (resp.status, n, resp.getheader("Content-Encoding"))
        return n

    def calls(self, reqs):
        """All the requests of one client call, in its order."""
        for r in reqs:
            self.send(r)

    def close(self):
        self.conn.close()


def describe_failure(req, resp, answer):
    headers = "\n".join(f"    {k}: {'Bearer <the API token>' if k.lower() == 'authorization' and v.startswith('Bearer ') else v}"
                        for k, v in req.headers)
    body = "(the file, streamed)" if req.streamed else (req.body or b"")[:2000].decode(errors="replace")
    return (f"the server answered {resp.status} {resp.reason} to the very request the client sends:\n"
            f"  {req.method} {req.url}\n{headers}\n  body: {body}\n"
            f"answer headers:\n" + "\n".join(f"    {k}: {v}" for k, v in resp.getheaders())
            + f"\nanswer body: {answer[:4000].decode(errors='replace')}")


def describe(reqs, wire):
    status, n, encoding = wire.last
    parts = [f"{r.method} {urllib.parse.urlsplit(r.url).path}"
             + (" (file body)" if r.streamed else f" ({len(r.body)}-byte body)" if r.body else "") for r in reqs]
    return f"{', '.join(parts)} -> {status}, {n:,} bytes{f' {encoding}' if encoding else ''}"


# --- the benchmark ------------------------------------------------------------------------


def run(args):
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    counts = QUICK if args.quick else FULL
    uri = os.environ["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri)
    rng = random.Random(20240601)  # the same data on both sides
    tag = f"{int(time.time())}-{os.getpid()}"
    result = {"target": args.target, "uri": uri, "quick": args.quick, "counts": counts}

    with open(args.idle) as f:
        idle = json.load(f)
    result["rss_idle"], result["processes"] = idle["rss"], idle["processes"]

    exp = client.create_experiment(f"bench-{tag}")
    now = int(time.time() * 1000)
    wire = Wire(uri)
    result["wire"] = {}

    def wire_series(name, reps, requests_of):
        """The wire series of `name`: requests_of(i) gives the captured requests of call i."""
        def prepare(i):
            reqs = requests_of(i)
            wire.ready()
            return reqs

        result["wire"][name] = series(timed(reps, wire.calls, prepare))
        log(f"  wire x {reps}: {describe(requests_of(0), wire)}")

    # log_batch of 1000 metrics, into one run as a training loop logs them: 10 keys x 100
    # steps per call, each call the next 100 steps (the wire's calls after the client's).
    batch_run = client.create_run(exp).info.run_id
    keys = [f"loss{k}" for k in range(10)]

    def batch_metrics(i, after=0):
        base = (i + WARMUP + after) * 100
        return [Metric(key, rng.random(), now + base + s, base + s) for key in keys for s in range(100)]

    log(f"log_batch of 1000 metrics x {counts['batch_reps']}")
    result["log_batch"] = series(timed(counts["batch_reps"], lambda ms: client.log_batch(batch_run, metrics=ms),
                                       batch_metrics))
    wire_batches = {}

    def batch_requests(i):
        # Each call's request captured from the client, unsent: the wire logs its steps first.
        if i not in wire_batches:
            with Capture(answer=b"{}") as cap:
                client.log_batch(batch_run, metrics=batch_metrics(i, after=WARMUP + counts["batch_reps"]))
            wire_batches[i] = [cap.only("POST", "/runs/log-batch")]
        return wire_batches[i]

    wire_series("log_batch", counts["batch_reps"], batch_requests)

    # create_run.
    log(f"create_run x {counts['create_reps']}")
    result["create_run"] = series(timed(counts["create_reps"], lambda _: client.create_run(exp)))
    with Capture() as cap:
        last_run = client.create_run(exp)
    create_requests = [cap.only("POST", "/runs/create")]
    wire_series("create_run", counts["create_reps"], lambda _: create_requests)

    # get_metric_history of one key's points, logged beforehand in batches of 1000.
    history_run = client.create_run(exp).info.run_id
    n = counts["history_points"]
    log(f"logging {n} points of one metric (not timed)")
    for start in range(0, n, 1000):
        client.log_batch(history_run, metrics=[
            Metric("h", rng.random(), now + s, s) for s in range(start, min(n, start + 1000))])
    with Capture() as cap:
        got = len(client.get_metric_history(history_run, "h"))
    history_requests = cap.requests  # every page, should the client ask for more than one
    if got != n:
        log(f"WARNING: get_metric_history returned {got} points, not {n}")
    log(f"get_metric_history of {n} points x {counts['history_reps']}")
    result["history"] = series(timed(counts["history_reps"], lambda _: client.get_metric_history(history_run, "h")))
    result["history"]["points"] = got
    wire_series("history", counts["history_reps"], lambda _: history_requests)
    history = client.get_metric_history(history_run, "h")

    # search_runs over one experiment of many runs, each with a metric m and a param p: half
    # the runs have p = 'x', m is uniform, so about a quarter match and a page of 1000 is full.
    search_exp = client.create_experiment(f"bench-search-{tag}")
    total = counts["search_runs"]
    values = [(rng.random(), "x" if i % 2 == 0 else "y") for i in range(total)]

    def populate(item):
        m, p = item
        run_id = retrying(lambda: client.create_run(search_exp, start_time=now).info.run_id)
        retrying(lambda: client.log_batch(run_id, metrics=[Metric("m", m, now, 0)], params=[Param("p", p)]))

    log(f"populating {total} runs with {POPULATE_THREADS} threads (not timed)")
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(POPULATE_THREADS) as pool:
        for done, _ in enumerate(pool.map(populate, values), 1):
            if done % 2000 == 0:
                log(f"  {done} runs")
    result["populate_s"] = time.perf_counter() - start
    log(f"populated in {result['populate_s']:.1f} s")

    def search(_, client=client):
        return client.search_runs([search_exp], filter_string=SEARCH_FILTER, order_by=SEARCH_ORDER, max_results=1000)

    with Capture() as cap:
        found = search(0)
    search_requests = [cap.only("POST", "/runs/search")]
    expected = sorted((m for m, p in values if m > 0.5 and p == "x"), reverse=True)[:1000]
    got = [r.data.metrics.get("m") for r in found]
    if got != expected:
        log(f"WARNING: search returned {len(got)} runs, expected {len(expected)} in descending m")
    log(f"search_runs over {total} runs x {counts['search_reps']}")
    result["search"] = series(timed(counts["search_reps"], search))
    result["search"]["returned"] = len(got)
    wire_series("search", counts["search_reps"], lambda _: search_requests)

    # The same four calls against the stub, answered with this server's own answers.
    from mlflow.protos.service_pb2 import CreateRun, GetMetricHistory, SearchRuns
    from mlflow.utils.proto_json_utils import message_to_json

    log("the same calls against a stub that answers at once (the client's own share)")
    stub = Stub()
    try:
        stub.answers["runs/create"] = message_to_json(CreateRun.Response(run=last_run.to_proto())).encode()
        stub.answers["runs/search"] = message_to_json(SearchRuns.Response(
            runs=[r.to_proto() for r in found], next_page_token=found.token or "")).encode()
        stub.answers["metrics/get-history"] = message_to_json(GetMetricHistory.Response(
            metrics=[m.to_proto() for m in history])).encode()
        fake = MlflowClient(tracking_uri=stub.uri)
        result["floor"] = {
            "log_batch": series(timed(counts["batch_reps"], lambda ms: fake.log_batch(batch_run, metrics=ms),
                                      batch_metrics)),
            "create_run": series(timed(counts["create_reps"], lambda _: fake.create_run(exp))),
            "search": series(timed(counts["search_reps"], lambda _: search(_, client=fake))),
            "history": series(timed(counts["history_reps"], lambda _: fake.get_metric_history(history_run, "h"))),
        }
    finally:
        stub.close()

    # One artifact of incompressible bytes, up and down, each time under its own path.
    mb = counts["artifact_mb"]
    art_run = client.create_run(exp).info.run_id
    # A first, untimed artifact call. (MLflow 3.17.2 looks the run up, get_run, in every
    # log_artifact and download_artifacts, and a download also lists the path and asks for
    # server-info and logged-models/search: all in the client call's figure, none on the wire.)
    client.list_artifacts(art_run)
    scratch = tempfile.mkdtemp(prefix="bench-mlflow-")
    try:
        blob = os.path.join(scratch, "blob.bin")
        with open(blob, "wb") as f:
            for _ in range(mb):
                f.write(os.urandom(1_000_000))
        size = os.path.getsize(blob)
        ups, downs, wire_ups, wire_downs = [], [], [], []
        for i in range(counts["artifact_reps"]):
            log(f"artifact {mb} MB up and down, {i + 1} of {counts['artifact_reps']}")
            start = time.perf_counter()
            client.log_artifact(art_run, blob, artifact_path=f"rep{i}")
            ups.append(time.perf_counter() - start)
            dst = os.path.join(scratch, f"down{i}")
            os.mkdir(dst)
            start = time.perf_counter()
            path = client.download_artifacts(art_run, f"rep{i}/blob.bin", dst)
            downs.append(time.perf_counter() - start)
            if os.path.getsize(path) != size:
                log(f"WARNING: downloaded {os.path.getsize(path)} bytes, not {size}")
            shutil.rmtree(dst)
            # The wire: the client's PUT and GET of a path of its own, each captured unsent;
            # the file streamed up as the client streams it, the answer read to the end and
            # dropped. (The client's other requests, its get_run and listing, are not replayed.)
            with Capture(answer=b"{}", unsent=("PUT", "/blob.bin")) as cap:
                client.log_artifact(art_run, blob, artifact_path=f"wire{i}")
            put = cap.only("PUT", "/blob.bin")
            with open(blob, "rb") as f:
                wire.ready()
                start = time.perf_counter()
                wire.send(put, body=f)
                wire_ups.append(time.perf_counter() - start)
            unsent = os.path.join(scratch, f"unsent{i}")  # where the client writes the fake answer
            os.mkdir(unsent)
            with Capture(answer=b"{}", unsent=("GET", "/blob.bin")) as cap:
                client.download_artifacts(art_run, f"wire{i}/blob.bin", unsent)
            get = cap.only("GET", "/blob.bin")
            shutil.rmtree(unsent)
            wire.ready()
            start = time.perf_counter()
            got = wire.send(get)
            wire_downs.append(time.perf_counter() - start)
            if got != size:
                log(f"WARNING: the wire GET read {got} bytes, not {size}")
            if i == 0:
                log(f"  wire: {put.method} {urllib.parse.urlsplit(put.url).path} (file body), then "
                    f"{describe([get], wire)}")
        result["upload"] = {**series(ups, 1.0), "mb": mb}
        result["download"] = {**series(downs, 1.0), "mb": mb}
        result["wire"]["upload"] = {**series(wire_ups, 1.0), "mb": mb}
        result["wire"]["download"] = {**series(wire_downs, 1.0), "mb": mb}
        wire.close()
        log(f"wire: {wire.sent} requests over {wire.connects} connection(s)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    result["rss_after"], _ = log_rss("after the benchmark", args.pid)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


# --- the report ---------------------------------------------------------------------------


def report(args):
    sides = {}
    for path in args.files:
        with open(path) as f:
            data = json.load(f)
        sides[data["target"]] = data
    ok, ml = sides.get("okrflow"), sides.get("mlflow")
    any_side = ok or ml
    c = any_side["counts"]

    def pick(d, how, key):
        """The series of `key` in side d: the client call's, or the wire's (None if absent)."""
        if not d:
            return None
        return d.get(key) if how == "client" else d.get("wire", {}).get(key)

    def ms(d, how, key, stat):
        s = pick(d, how, key)
        return f"{s[stat]:.1f} ms" if s else "-"

    def secs(d, how, key):
        s = pick(d, how, key)
        if not s:
            return "-"
        v = s["median"]
        return f"{v:.{3 if v < 1 else 2}f} s ({s['mb'] / v:.0f} MB/s)"

    def mem(d, key):
        return f"{d[key] / 1e6:.0f} MB" if d else "-"

    def ratio(how, key, stat):
        a, b = pick(ml, how, key), pick(ok, how, key)
        return ml and ok and a and b and a[stat] / b[stat]

    def faster(key, stat, goal):
        rc, rw = ratio("client", key, stat), ratio("wire", key, stat)
        met = ", ".join("-" if not r else "yes" if r >= goal else "no" for r in (rc, rw)) if rc or rw else ""
        return (f"{rc:.1f}×" if rc else "-", f"{rw:.1f}×" if rw else "-", f"≥{goal}×", met)

    def floor(key, stat):
        # The okrflow side's stub answered with okrflow's answers: that floor bounds its figure.
        side = next((d for d in (ok, ml) if d and key in d.get("floor", {})), None)
        return f"{side['floor'][key][stat]:.1f} ms" if side else "-"

    def latency(label, key, stat, goal):
        rc, rw, g, met = faster(key, stat, goal)
        return (label, ms(ok, "client", key, stat), ms(ml, "client", key, stat), rc,
                ms(ok, "wire", key, stat), ms(ml, "wire", key, stat), rw, g, met, floor(key, stat))

    def transfer(label, key, goal):
        rc, rw, g, met = faster(key, "median", goal)
        return (label, secs(ok, "client", key), secs(ml, "client", key), rc,
                secs(ok, "wire", key), secs(ml, "wire", key), rw, g, met, "")

    def memory(label, key):
        # RSS is no call: its figures sit in the first pair of columns, the wire's stay empty.
        if ok and ml:
            frac = ok[key] / ml[key]
            shown, met = f"{frac:.3f} (1/{1 / frac:.0f})", "yes" if frac <= 0.1 else "no"
        else:
            shown, met = "-", ""
        return (label, mem(ok, key), mem(ml, key), shown, "", "", "", "≤1/10", met, "")

    rows = [
        memory("idle RSS (after start-up)", "rss_idle"),
        latency("log_batch 1000 metrics, median", "log_batch", "median", 50),
        latency("log_batch 1000 metrics, p95", "log_batch", "p95", 50),
        latency("create_run, median", "create_run", "median", 5),
        latency("create_run, p95", "create_run", "p95", 5),
        latency(f"search_runs over {c['search_runs']:,} runs, median", "search", "median", 20),
        latency(f"get_metric_history {c['history_points']:,} points, median", "history", "median", 5),
        transfer(f"artifact {c['artifact_mb']} MB up (log_artifact; PUT), median", "upload", 5),
        transfer(f"artifact {c['artifact_mb']} MB down (download_artifacts; GET), median", "download", 5),
        memory("RSS after the benchmark", "rss_after"),
    ]
    head = ("operation", "okrflow client call", "mlflow client call", "ratio", "okrflow wire (same request)",
            "mlflow wire (same request)", "wire ratio", "goal", "met (client, wire)", "client alone")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))
    columns = (
        "client call: one MlflowClient call, timed whole (entities, protobufs, JSON, requests and the server); "
        "wire (same request): the very HTTP request(s) that call sends, captured from it (method, path, query, "
        "headers with the token, body), replayed over one keep-alive connection, timed from sending to the "
        "answer's last byte, undecoded (artifacts: the client's PUT with the file streamed, its GET read to "
        "the end); client alone: the client call against a stub answering at once, the client's own floor.")
    notes = [
        "ratio: mlflow/okrflow time (how many times faster okrflow is); RSS: okrflow/mlflow (whole process tree), "
        "in the client columns.",
        "client alone is a floor under the client call only: no client-call ratio can exceed mlflow/client alone; "
        "the wire columns are free of it.",
        f"counts: log_batch x{c['batch_reps']}, create_run x{c['create_reps']}, search x{c['search_reps']}, "
        f"history x{c['history_reps']}, artifacts x{c['artifact_reps']}, each as client calls and again on "
        f"the wire; {WARMUP} uncounted warm-up calls before each series but the artifacts'.",
    ]
    for name, d in (("okrflow", ok), ("mlflow", ml)):
        if d:
            notes.append(f"{name}: {d['processes']} process(es) at idle; populating {c['search_runs']:,} runs "
                         f"took {d['populate_s']:.0f} s ({POPULATE_THREADS} client threads, not timed).")
    if any_side["quick"]:
        notes.append("--quick: smaller counts, a smoke run; not figures to quote.")
    print()
    for n in [columns, *notes]:
        print(n)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("| " + " | ".join(head) + " |\n")
            f.write("|" + "|".join("---" for _ in head) + "|\n")
            for r in rows:
                f.write("| " + " | ".join(str(v) for v in r) + " |\n")
            f.write(f"\n{columns}\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")


def rss(args):
    total, count = log_rss("idle", args.pid)
    with open(args.out, "w") as f:
        json.dump({"rss": total, "processes": count}, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--target", choices=["okrflow", "mlflow"], required=True)
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--idle", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--quick", action="store_true")
    m = sub.add_parser("rss")
    m.add_argument("--pid", type=int, required=True)
    m.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("files", nargs="+")
    p.add_argument("--markdown")
    args = parser.parse_args()
    {"run": run, "rss": rss, "report": report}[args.cmd](args)


if __name__ == "__main__":
    main()
