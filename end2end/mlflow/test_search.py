"""search_runs: filters, order_by, pages, the pandas form, and bad filters."""

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType

from support import assert_mlflow_error, raises_code, raw, unique


@pytest.fixture(scope="module")
def five(client):
    """An experiment of this module's own (the tests only read it, so one set-up serves them
    all) with five runs with known names, params, metrics, tags, start times and statuses:
    name     x    p    t     status    start_time
    alpha    1.0  a    red   FINISHED  1000
    beta     2.0  b    blue  FINISHED  2000
    gamma    3.0  c    red   FINISHED  3000
    delta    4.0  a    blue  KILLED    4000
    alphabet 5.0  b    (none) RUNNING  5000
    """
    spec = [
        ("alpha", 1.0, "a", "red", "FINISHED"),
        ("beta", 2.0, "b", "blue", "FINISHED"),
        ("gamma", 3.0, "c", "red", "FINISHED"),
        ("delta", 4.0, "a", "blue", "KILLED"),
        ("alphabet", 5.0, "b", None, None),
    ]
    exp = client.get_experiment(client.create_experiment(unique("search-five")))
    ids = {}
    for i, (name, x, p, t, status) in enumerate(spec):
        run = client.create_run(exp.experiment_id, start_time=(i + 1) * 1000, run_name=name)
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("x", x, 1, 0), Metric("y", -x, 1, 0)],
            params=[Param("p", p)],
            tags=[RunTag("t", t)] if t else [],
        )
        if status:
            client.set_terminated(run_id, status, end_time=(i + 1) * 1000 + 500)
        ids[name] = run_id
    return exp, ids


def names(runs):
    return [r.info.run_name for r in runs]


def search(client, exp, filter_string="", order_by=None, **kw):
    return names(client.search_runs([exp.experiment_id], filter_string, order_by=order_by, **kw))


@pytest.mark.parametrize(
    "filter_string,expected",
    [
        ("metrics.x > 2", ["alphabet", "delta", "gamma"]),
        ("metrics.x >= 2", ["alphabet", "delta", "gamma", "beta"]),
        ("metrics.x = 3", ["gamma"]),
        ("metrics.x != 3", ["alphabet", "delta", "beta", "alpha"]),
        ("metrics.y < -4.5", ["alphabet"]),
        ("metric.x <= 1", ["alpha"]),
        ("params.p = 'a'", ["delta", "alpha"]),
        ("params.p != 'a'", ["alphabet", "gamma", "beta"]),
        ("param.p LIKE 'b%'", ["alphabet", "beta"]),
        ("tags.t = 'red'", ["gamma", "alpha"]),
        ("tags.t ILIKE 'BL%'", ["delta", "beta"]),
        ("tags.t IS NULL", ["alphabet"]),
        ("tags.t IS NOT NULL", ["delta", "gamma", "beta", "alpha"]),
        ("attributes.status = 'FINISHED'", ["gamma", "beta", "alpha"]),
        ("attributes.status != 'FINISHED'", ["alphabet", "delta"]),
        ("attributes.status = 'RUNNING'", ["alphabet"]),
        ("attributes.run_name LIKE 'alpha%'", ["alphabet", "alpha"]),
        ("attributes.run_name = 'beta'", ["beta"]),
        ("run_name = 'beta'", ["beta"]),
        ("attributes.`run name` = 'beta'", ["beta"]),
        ("tags.`mlflow.runName` = 'beta'", ["beta"]),
        ("attributes.start_time > 2500", ["alphabet", "delta", "gamma"]),
        ("attributes.end_time < 2600", ["beta", "alpha"]),
        ("metrics.x > 1 AND params.p = 'b'", ["alphabet", "beta"]),
        ("metrics.x > 1 AND params.p = 'b' AND attributes.status = 'FINISHED'", ["beta"]),
        ("tags.t = 'red' and metrics.x < 2", ["alpha"]),
        ("attributes.run_name LIKE 'alpha%' AND tags.t = 'red'", ["alpha"]),
        ("metrics.missing > 0", []),
        ("params.p = 'zzz'", []),
    ],
)
def test_filters(client, five, filter_string, expected):
    # The default order is start_time DESC.
    assert search(client, five[0], filter_string) == expected


def test_filter_by_run_id(client, five):
    exp, ids = five
    a, b = ids["alpha"], ids["gamma"]
    assert search(client, exp, f"attributes.run_id IN ('{a}', '{b}')") == ["gamma", "alpha"]
    assert search(client, exp, f"attributes.run_id = '{a}'") == ["alpha"]


@pytest.mark.parametrize(
    "order_by,expected",
    [
        (["metrics.x DESC"], ["alphabet", "delta", "gamma", "beta", "alpha"]),
        (["metrics.x ASC"], ["alpha", "beta", "gamma", "delta", "alphabet"]),
        (["metrics.y"], ["alphabet", "delta", "gamma", "beta", "alpha"]),
        (["params.p ASC", "metrics.x DESC"], ["delta", "alpha", "alphabet", "beta", "gamma"]),
        (["params.p DESC", "attributes.start_time ASC"], ["gamma", "beta", "alphabet", "alpha", "delta"]),
        (["attributes.start_time"], ["alpha", "beta", "gamma", "delta", "alphabet"]),
        (["attributes.start_time ASC"], ["alpha", "beta", "gamma", "delta", "alphabet"]),
        (["attributes.start_time DESC"], ["alphabet", "delta", "gamma", "beta", "alpha"]),
        (["attributes.run_name"], ["alpha", "alphabet", "beta", "delta", "gamma"]),
        (["tags.t ASC", "attributes.run_name DESC"], ["delta", "beta", "gamma", "alpha", "alphabet"]),
    ],
)
def test_order_by(client, five, order_by, expected):
    assert search(client, five[0], "", order_by) == expected


def test_pages_of_runs(exp, client):
    # 25 runs in pages of 10: 10, 10, 5, every run once, tokens until the last page.
    made = {client.create_run(exp.experiment_id, start_time=1000 + i).info.run_id for i in range(25)}
    seen, sizes, token = [], [], None
    while True:
        page = client.search_runs([exp.experiment_id], max_results=10, page_token=token,
                                  order_by=["attributes.start_time ASC"])
        sizes.append(len(page))
        seen += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
        assert len(sizes) < 10, "paging does not end"
    assert sizes == [10, 10, 5]
    assert len(seen) == len(set(seen)) == 25 and set(seen) == made
    # Pages follow the order asked for.
    starts = [client.get_run(r).info.start_time for r in seen]
    assert starts == sorted(starts)
    # The default order pages the same set too (start_time DESC, then run_id).
    page1 = client.search_runs([exp.experiment_id], max_results=20)
    page2 = client.search_runs([exp.experiment_id], max_results=20, page_token=page1.token)
    assert len(page1) == 20 and len(page2) == 5 and not page2.token
    assert {r.info.run_id for r in page1} | {r.info.run_id for r in page2} == made


def test_search_across_experiments_and_views(exp, client):
    other = client.create_experiment(exp.name + "-other")
    mine = client.create_run(exp.experiment_id, run_name="mine").info.run_id
    theirs = client.create_run(other, run_name="theirs").info.run_id
    both = client.search_runs([exp.experiment_id, other], order_by=["attributes.run_name"])
    assert [r.info.run_id for r in both] == [mine, theirs]
    client.delete_run(theirs)
    assert names(client.search_runs([exp.experiment_id, other])) == ["mine"]
    assert names(client.search_runs([other], run_view_type=ViewType.DELETED_ONLY)) == ["theirs"]
    assert sorted(names(client.search_runs([exp.experiment_id, other], run_view_type=ViewType.ALL))) == ["mine", "theirs"]


def test_search_runs_pandas(client, five):
    exp, ids = five
    df = mlflow.search_runs([exp.experiment_id], filter_string="params.p = 'b'", order_by=["metrics.x ASC"])
    assert list(df["tags.mlflow.runName"]) == ["beta", "alphabet"]
    assert list(df["run_id"]) == [ids["beta"], ids["alphabet"]]
    assert list(df["metrics.x"]) == [2.0, 5.0]
    assert list(df["params.p"]) == ["b", "b"]
    assert list(df["status"]) == ["FINISHED", "RUNNING"]
    assert list(df["experiment_id"]) == [exp.experiment_id] * 2
    assert {"start_time", "end_time", "artifact_uri", "metrics.y", "tags.t"} <= set(df.columns)
    # All five, by experiment name, as a list of Run objects.
    runs = mlflow.search_runs(experiment_names=[exp.name], output_format="list")
    assert sorted(r.info.run_name for r in runs) == sorted(ids)
    # The active experiment is the default.
    mlflow.set_experiment(experiment_id=exp.experiment_id)
    assert len(mlflow.search_runs()) == 5


@pytest.mark.parametrize(
    "bad",
    [
        "metrics.x >",
        "metrics.x > 'abc'",
        "params.p > 'a'",
        "foo.bar = 'x'",
        "metrics.x = 1 OR metrics.x = 2",
        "attributes.status = ",
        "attributes.nope = 'x'",
    ],
)
def test_bad_filter_refused(exp, client, bad):
    with raises_code("INVALID_PARAMETER_VALUE"):
        client.search_runs([exp.experiment_id], bad)
    resp = raw("POST", "/api/2.0/mlflow/runs/search", json={"experiment_ids": [exp.experiment_id], "filter": bad})
    assert_mlflow_error(resp, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("bad", [["metrics.x SIDEWAYS"], ["nope.x"], ["metrics.x DESC ASC"]])
def test_bad_order_by_refused(exp, client, bad):
    with raises_code("INVALID_PARAMETER_VALUE"):
        client.search_runs([exp.experiment_id], order_by=bad)


def test_search_page_size_limit(exp, client):
    # MLflow caps max_results at 50000 for runs/search.
    assert client.search_runs([exp.experiment_id], max_results=50000) == []
    with raises_code("INVALID_PARAMETER_VALUE"):
        client.search_runs([exp.experiment_id], max_results=50001)


def test_missing_values_and_nan_in_order_and_filters(client):
    # Runs without the key sort last in both directions; a NaN metric sorts after every number
    # in both directions too (MLflow orders on an is-NaN flag before the value), ahead of the
    # runs that lack the key. In filters NaN is not > 0, but it is != 1.
    exp_id = client.create_experiment(unique("search-nulls"))
    for name, value, x in [("a", "1", 1.0), ("b", None, None), ("c", "2", float("nan")), ("d", "3", 3.0)]:
        run_id = client.create_run(exp_id, run_name=name).info.run_id
        if value:
            client.set_tag(run_id, "t", value)
            client.log_param(run_id, "p", value)
        if x is not None:
            client.log_metric(run_id, "x", x)

    def order(by):
        return names(client.search_runs([exp_id], order_by=[by]))

    assert order("tags.t ASC") == ["a", "c", "d", "b"]
    assert order("tags.t DESC") == ["d", "c", "a", "b"]
    assert order("params.p ASC") == ["a", "c", "d", "b"]
    assert order("params.p DESC") == ["d", "c", "a", "b"]
    assert order("metrics.x ASC") == ["a", "d", "c", "b"]
    assert order("metrics.x DESC") == ["d", "a", "c", "b"]
    assert sorted(names(client.search_runs([exp_id], "metrics.x > 0"))) == ["a", "d"]
    assert sorted(names(client.search_runs([exp_id], "metrics.x != 1"))) == ["c", "d"]
