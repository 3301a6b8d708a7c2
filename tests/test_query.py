"""reportgen.query against real MLflow: the same filters and order_bys give the same runs in the same
order on a store MLflow wrote; errors point at the token; OR and parentheses combine clause results."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mlflow_oracle import build_store, to_model
from reportgen.errors import QueryError
from reportgen.frames import runs_frame, search
from reportgen.query import Comparison, parse_filter, parse_order_by
from reportgen.query_eval import filter_mask

FILTERS = [
    "",
    "metrics.rmse < 0.8",
    "metrics.rmse <= 0.9",
    "metrics.rmse > -1",
    "metrics.rmse >= 1e3",
    "metrics.rmse = 0.5",
    "metrics.rmse != 0.5",
    "metrics.acc > .75 and metrics.rmse < 1",
    "metric.`train/loss` < 1.5",
    'metrics."train/loss" >= -0.5',
    "params.alpha = '0.5'",
    'params.alpha = "0.5"',
    "params.alpha != '0.5'",
    "params.alpha = ''",
    "param.optimizer LIKE 'a%'",
    "params.optimizer ILIKE 'A%'",
    "params.optimizer LIKE '%d%'",
    "parameters.seed = '1' AND params.optimizer = 'adam'",
    "params.optimizer IS NULL",
    "params.optimizer IS NOT NULL",
    "tags.\"my tag\" LIKE 'a%'",
    "tags.`my tag` ILIKE 'a%'",
    "tags.`my tag` LIKE 'a_p%'",
    "tags.`my tag` = 'a%b'",
    "tags.`my tag` LIKE 'a%b'",
    "tags.a.b = 'dotted'",
    "tags.`ünï` = 'cödé'",
    "tags.team != 'x'",
    "tag.team is null",
    "tags.mlflow.parentRunId IS NOT NULL",
    "attributes.status = 'FINISHED'",
    "attribute.status != 'FINISHED'",
    "status LIKE 'F%'",
    "run.status ILIKE '%ed'",
    "run_name = 'gamma'",
    "attributes.run_name LIKE 'beta%'",
    "\"run name\" ILIKE 'DELTA%'",
    "`Run Name` LIKE '%\\_%'",
    "run_name LIKE 'Delta%_x'",
    "user_id != 'nobody'",
    "artifact_uri LIKE '%artifacts'",
    "attributes.start_time > 1700000000010",
    "start_time >= 1700000000010 and start_time < 1700000000030",
    "created < 1700000000015",
    "attributes.end_time > 1700000000100",
    "end_time <= 1700000000150.5",
    "datasets.name = 'train_set'",
    "dataset.name != 'train_set'",
    "datasets.name IN ('eval_set', 'nope')",
    "datasets.name NOT IN ('eval_set')",
    "datasets.context = 'training'",
    "datasets.context IN ('eval')",
    "datasets.digest LIKE '%'",
    "metrics.acc > 0.5 and params.alpha = '0.5' and tags.team = 'x' and attributes.status = 'FINISHED'",
]

ORDER_BYS = [
    None,
    ["metrics.rmse DESC"],
    ["metrics.rmse"],
    ["metrics.rmse ASC", "run_name DESC"],
    ["metrics.acc desc"],
    ["metrics.`train/loss`"],
    ["params.alpha ASC"],
    ["params.alpha DESC"],
    ["params.optimizer", "metrics.acc DESC"],
    ['tags."my tag" DESC'],
    ["attributes.start_time"],
    ["start_time DESC"],
    ["created"],
    ["attributes.end_time DESC"],
    ["end_time"],
    ["status", "run_name"],
    ["run.run_name DESC"],
    ["tags.team", "params.seed DESC", "metrics.rmse"],
]


def _oracle(folder, kind):
    pytest.importorskip("mlflow")
    warnings.simplefilter("ignore")
    target = folder / "mlruns" if kind == "file" else f"sqlite:///{folder / 'mlflow.db'}"
    client, experiments = build_store(target)
    mlflow_runs = client.search_runs(experiments, max_results=1000)
    return client, experiments, mlflow_runs, [to_model(r) for r in mlflow_runs]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    """Runs written by MLflow to a file store (MLflow's SearchUtils filters and sorts them)."""
    return _oracle(tmp_path_factory.mktemp("oracle-file"), "file")


@pytest.fixture(scope="module", params=["file", "sqlite"])
def any_oracle(request, tmp_path_factory, oracle):
    """The same runs in a file store and in SQLite, where MLflow filters in SQL: both must agree."""
    if request.param == "file":
        return oracle
    return _oracle(tmp_path_factory.mktemp("oracle-sqlite"), "sqlite")


@pytest.mark.parametrize("filter_string", FILTERS)
def test_filter_matches_mlflow(any_oracle, filter_string):
    client, experiments, _, runs = any_oracle
    expected = [r.info.run_id for r in client.search_runs(experiments, filter_string, max_results=1000)]
    got = [r.info.run_id for r in search(runs, filter_string=filter_string)]
    assert got == expected


@pytest.mark.parametrize("order_by", ORDER_BYS)
def test_order_by_matches_mlflow(any_oracle, order_by):
    client, experiments, _, runs = any_oracle
    expected = [r.info.run_id for r in client.search_runs(experiments, order_by=order_by, max_results=1000)]
    got = [r.info.run_id for r in search(runs, order_by=order_by)]
    assert got == expected


@pytest.mark.parametrize("max_results", [0, 1, 3, 100])
def test_max_results_cuts_after_ordering(oracle, max_results):
    client, experiments, _, runs = oracle
    expected = client.search_runs(experiments, "metrics.acc > 0", order_by=["metrics.acc DESC"],
                                  max_results=max_results) if max_results else []
    got = search(runs, filter_string="metrics.acc > 0", order_by=["metrics.acc DESC"], max_results=max_results)
    assert [r.info.run_id for r in got] == [r.info.run_id for r in expected]


def test_filters_select_something(oracle):
    """Guard against a vacuous oracle: most filters keep some runs and drop others."""
    *_, runs = oracle
    sizes = [len(search(runs, filter_string=f)) for f in FILTERS]
    assert sum(0 < n < len(runs) for n in sizes) >= len(FILTERS) - 5


@pytest.mark.parametrize("left, right", [
    ("metrics.rmse < 0.6", "params.optimizer = 'sgd'"),
    ("status = 'FAILED'", "tags.team = 'z'"),
    ("datasets.context = 'eval'", "run_name LIKE 'beta%'"),
])
def test_or_is_the_union_of_mlflow_results(oracle, left, right):
    client, experiments, _, runs = oracle

    def mlflow_ids(f):
        return {r.info.run_id for r in client.search_runs(experiments, f, max_results=1000)}

    got = [r.info.run_id for r in search(runs, filter_string=f"{left} OR {right}")]
    assert set(got) == mlflow_ids(left) | mlflow_ids(right)
    assert len(got) == len(set(got))


def test_and_binds_tighter_than_or_and_parentheses_regroup(oracle):
    client, experiments, _, runs = oracle
    a, b, c = "status = 'FINISHED'", "params.seed = '1'", "tags.team = 'x'"

    def ids(f):
        return {r.info.run_id for r in client.search_runs(experiments, f, max_results=1000)}

    def ours(f):
        return {r.info.run_id for r in search(runs, filter_string=f)}

    assert ours(f"{a} OR {b} AND {c}") == ids(a) | ids(f"{b} AND {c}")
    assert ours(f"({a} OR {b}) AND {c}") == (ids(a) | ids(b)) & ids(c)
    assert ours(f"{a} OR {b} AND {c}") != ours(f"({a} OR {b}) AND {c}")


def test_or_results_keep_mlflow_order(oracle):
    client, experiments, _, runs = oracle
    order = ["metrics.acc DESC"]
    got = [r.info.run_id for r in search(runs, filter_string="status = 'FINISHED' OR status = 'FAILED'",
                                         order_by=order)]
    everything = [r.info.run_id for r in client.search_runs(experiments, order_by=order, max_results=1000)]
    assert got == [i for i in everything if i in set(got)]


def test_mask_on_runs_frame_matches_search(oracle):
    *_, runs = oracle
    frame = runs_frame(runs)
    for f in ["metrics.rmse < 0.8", "params.alpha = '0.5' or tags.team = 'z'", "run_name LIKE 'beta%'",
              "start_time > 1700000000010", "tags.`my tag` IS NULL"]:
        mask = filter_mask(parse_filter(f), frame)
        assert isinstance(mask, pd.Series) and mask.dtype == bool
        assert list(frame.loc[mask, "run_id"]) == [r.info.run_id for r in runs if r in search(runs, filter_string=f)]


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, position", [
    ("metrics.rmse < 'a'", 15),
    ("metrics.rmse < ", 15),
    ("params.alpha = 0.5", 15),
    ("METRICS.rmse < 1", 0),
    ("attributes.experiment_id = '1'", 0),
    ("metrics.rmse == 1", 13),
    ("metrics.rmse LIKE '1'", 13),
    ("params.a > '1'", 9),
    ("datasets.foo = 'a'", 0),
    ("metrics.rmse < 1 AND", 20),
    ("metrics.rmse < 1 params.a = 'b'", 17),
    ("(metrics.rmse < 1", 17),
    ("metrics.rmse < 1)", 16),
    ("run_id IN ()", 11),
    ("run_id IN ('a' 'b')", 15),
    ("start_time > '5'", 13),
    ("params.a = 'x' ;", 15),
    ("metrics.x > 1and metrics.y > 1", 12),
    ("metrics.rmse IS NOT 1", 20),
    ("status IS NULL", 7),
    ("params.a = 'unterminated", 11),
])
def test_errors_point_at_the_offending_token(text, position):
    with pytest.raises(QueryError) as caught:
        parse_filter(text)
    error = caught.value
    assert error.position == position
    assert f"position {position}" in str(error)
    assert error.caret.splitlines()[1] == " " * position + "^"
    assert "\n" not in str(error)


@pytest.mark.parametrize("text", [
    "metrics.rmse < 'a'", "params.alpha = 0.5", "METRICS.rmse < 1", "attributes.experiment_id = '1'",
    "datasets.foo = 'a'", "run_id IN ()", "start_time > '5'",
    "params.a = 'x' ;", "metrics.x > 1and metrics.y > 1", "status IS NULL", "metrics.x > +1",
    "metrics.train-loss > 1",
])
def test_what_mlflow_rejects_we_reject(oracle, text):
    client, experiments, *_ = oracle
    with pytest.raises(Exception):
        client.search_runs(experiments, text)
    with pytest.raises(QueryError):
        parse_filter(text)


@pytest.mark.parametrize("order_by", ["metrics.x desc asc", "metrics.x DOWN", "experiment_id", "x",
                                      "datasets.name", "run name", "metrics.x,"])
def test_bad_order_by_raises(order_by):
    with pytest.raises(QueryError):
        parse_order_by([order_by])


# -- parsed objects ---------------------------------------------------------------------------------
def test_parsed_structure_and_aliases():
    parsed = parse_filter("metric.rmse < 0.8 and param.alpha = '0.5' and tags.\"my tag\" LIKE 'a%' "
                          "and created > 5 and `Run Name` = 'x' and run.run_id IN ('a', \"b\")")
    got = [(c.entity, c.key, c.op, c.value) for c in parsed.comparisons()]
    assert got == [
        ("metrics", "rmse", "<", 0.8),
        ("params", "alpha", "=", "0.5"),
        ("tags", "my tag", "LIKE", "a%"),
        ("attributes", "start_time", ">", 5),
        ("attributes", "run_name", "=", "x"),
        ("attributes", "run_id", "IN", ("a", "b")),
    ]
    assert parsed.mlflow_compatible
    assert parse_filter(parsed.to_mlflow()) == parse_filter(parsed.to_mlflow())
    assert [c.value for c in parse_filter(parsed.to_mlflow()).comparisons()] == [c[3] for c in got]


def test_to_mlflow_refuses_what_a_server_cannot_run():
    for text in ["metrics.a < 1 OR metrics.b < 1", "(metrics.a < 1)", "params.a IN ('x')", "metrics.a IS NULL"]:
        parsed = parse_filter(text)
        assert not parsed.mlflow_compatible
        with pytest.raises(QueryError):
            parsed.to_mlflow()


def test_order_by_objects():
    clauses = parse_order_by(["metrics.`a b` DESC", "attributes.start_time", "params.x asc", "created"])
    assert [(o.entity, o.key, o.ascending) for o in clauses] == [
        ("metrics", "a b", False), ("attributes", "start_time", True), ("params", "x", True),
        ("attributes", "start_time", True),
    ]


def test_nan_metric_matches_not_equal_but_missing_metric_does_not(oracle):
    *_, runs = oracle
    by_name = {r.info.run_name: r for r in runs}
    hit = {r.info.run_name for r in search(runs, filter_string="metrics.rmse != 0.5")}
    assert "beta_1" in hit  # rmse is NaN
    assert "gamma" not in hit and "epsilon" not in hit  # no rmse at all
    assert np.isnan(by_name["beta_1"].data.metrics["rmse"])


# -- property tests -----------------------------------------------------------------------------
_KEYS = {
    "metrics": ["rmse", "acc", "`train/loss`", "missing"],
    "params": ["alpha", "optimizer", "seed", "missing"],
    "tags": ["`my tag`", "team", "missing"],
}
_NUMBERS = st.sampled_from(["-1", "0", "0.5", "0.9", ".75", "1e3", "-0.5", "2"])
_STRINGS = st.sampled_from(["'0.5'", "'adam'", "'x'", "'a%'", "'%a%'", "'A%'", "''", "'_'", "'1'"])


@st.composite
def clauses(draw):
    entity = draw(st.sampled_from(sorted(_KEYS)))
    key = draw(st.sampled_from(_KEYS[entity]))
    if entity == "metrics":
        return f"{entity}.{key} {draw(st.sampled_from(['<', '<=', '>', '>=', '=', '!=']))} {draw(_NUMBERS)}"
    op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"]))
    return f"{entity}.{key} {op}" + ("" if "NULL" in op else f" {draw(_STRINGS)}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(clauses(), min_size=1, max_size=3),
       order=st.lists(st.sampled_from(["metrics.rmse", "metrics.acc DESC", "params.alpha", "tags.team DESC",
                                       "run_name", "status DESC"]), max_size=2))
def test_random_and_filters_match_mlflow(oracle, parts, order):
    from mlflow.utils.search_utils import SearchUtils

    _, _, mlflow_runs, runs = oracle
    text = " and ".join(parts)
    expected = SearchUtils.sort(SearchUtils.filter(mlflow_runs, text), order)
    got = search(runs, filter_string=text, order_by=order)
    assert [r.info.run_id for r in got] == [r.info.run_id for r in expected]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(clauses(), min_size=2, max_size=4), data=st.data())
def test_random_boolean_trees_match_set_algebra(oracle, parts, data):
    """(a AND b) OR (c AND d) equals the set algebra of each clause's MLflow result."""
    from mlflow.utils.search_utils import SearchUtils

    _, _, mlflow_runs, runs = oracle
    split = data.draw(st.integers(1, len(parts) - 1))
    left, right = parts[:split], parts[split:]
    text = f"({' AND '.join(left)}) OR ({' and '.join(right)})"

    def ids(group):
        return {r.info.run_id for r in SearchUtils.filter(mlflow_runs, " and ".join(group))}

    assert {r.info.run_id for r in search(runs, filter_string=text)} == ids(left) | ids(right)


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_query_error(text):
    try:
        parsed = parse_filter(text)
    except QueryError as error:
        assert 0 <= error.position <= len(text)
    else:
        for comparison in parsed.comparisons():
            assert isinstance(comparison, Comparison) and comparison.text in text


_MLFLOW_ENTITY = {"metrics": "metric", "params": "parameter", "tags": "tag", "attributes": "attribute", "datasets": "dataset"}


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(clauses(), min_size=1, max_size=4))
def test_to_mlflow_parses_the_same_in_mlflow(parts):
    """What we would send a server, MLflow's own parser reads as the same clauses."""
    pytest.importorskip("mlflow")
    from mlflow.utils.search_utils import SearchUtils

    parsed = parse_filter(" and ".join(parts))
    theirs = SearchUtils.parse_search_filter(parsed.to_mlflow())
    ours = parsed.comparisons()
    assert len(theirs) == len(ours)
    for mine, other in zip(ours, theirs):
        assert (_MLFLOW_ENTITY[mine.entity], mine.key, mine.op) == (other["type"], other["key"], other["comparator"].upper())
        if mine.entity == "metrics":
            assert float(other["value"]) == mine.value
        else:
            assert other["value"] == mine.value
