"""`reportgen check`: the rule grammar (never eval), run selection (id, best, latest, tag:), and the exit
codes CI relies on: 0 all rules hold, 1 a rule fails, 2 bad input."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.errors import BadInputError
from reportgen.publish.baseline import parse_run_spec, resolve_run
from reportgen.publish.check import evaluate, parse_rule
from reportgen.stores import open_store

import mlruns_builder as mb


def rid(index: int) -> str:
    return f"{index:032x}"  # mlruns_builder's run ids


@pytest.fixture
def store(tmp_path) -> Path:
    """main-a (older) and main-b on branch main, a good and a bad PR run, a NaN run, and a RUNNING run
    with the highest accuracy (never picked by best or latest)."""
    root = tmp_path / "mlruns"
    exp = mb.experiment(root, "1", "ci")
    other = mb.experiment(root, "2", "other")
    runs = [
        (1, "main-a", {"accuracy": 0.90, "val_loss": 0.30}, "main", "FINISHED"),
        (2, "main-b", {"accuracy": 0.91, "val_loss": 0.28}, "main", "FINISHED"),
        (3, "pr-good", {"accuracy": 0.905, "val_loss": 0.29}, "pr-1", "FINISHED"),
        (4, "pr-bad", {"accuracy": 0.85, "val_loss": 0.35}, "pr-2", "FINISHED"),
        (5, "pr-nan", {"accuracy": math.nan, "val_loss": 0.20}, "pr-3", "FINISHED"),
        (6, "still-running", {"accuracy": 0.99, "val_loss": 0.01}, "pr-4", "RUNNING"),
    ]
    for index, name, metrics, branch, status in runs:
        mb.run(exp, index, name=name, status=status, tags={"branch": branch},
               metrics={k: [(mb.T0 + index, v, 0)] for k, v in metrics.items()})
    mb.run(other, 7, name="elsewhere", metrics={"accuracy": [(mb.T0, 0.5, 0)], "odd key": [(mb.T0, 2.0, 0)]})
    return root


def check(store: Path, *args: str):
    return CliRunner().invoke(main, ["check", str(store), *args])


# -- grammar ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, key, op, baseline, threshold", [
    ("metrics.accuracy >= baseline - 0.01", "accuracy", ">=", 0.9, 0.89),
    ("metrics.loss <= baseline * 1.05", "loss", "<=", 2.0, 2.1),
    ("metrics.val/loss<baseline*(1+0.1)", "val/loss", "<", 1.0, 1.1),
    ("metrics.a > -baseline + 2 * 3", "a", ">", 1.0, 5.0),
    ("metrics.a == (baseline - 1) / 2", "a", "==", 5.0, 2.0),
    ("metrics.a != 1e-3", "a", "!=", None, 0.001),
    ("metrics.'odd key' >= .5", "odd key", ">=", None, 0.5),
    ('metrics."a>=b" >= baseline', "a>=b", ">=", 3.0, 3.0),
    ("metrics.`x y` <= 2 - - 1", "x y", "<=", None, 3.0),
    ("metrics.a >= 10 - 2 - 3", "a", ">=", None, 5.0),  # left-associative
    ("metrics.a >= 8 / 2 / 2", "a", ">=", None, 2.0),
])
def test_rules_parse_and_evaluate(text, key, op, baseline, threshold):
    rule = parse_rule(text)
    assert (rule.key, rule.op) == (key, op)
    assert rule.uses_baseline == (baseline is not None)
    assert evaluate(rule.expr, baseline) == pytest.approx(threshold)


@pytest.mark.parametrize("text, where", [
    ("accuracy >= baseline", "expected metrics.KEY"),
    ("metrics.accuracy = baseline", "use == to compare"),
    ("metrics.accuracy >= baseline +", "ends early"),
    ("metrics.accuracy >= (baseline - 1", "expected )"),
    ("metrics.accuracy >= baseline 0.1", "unexpected '0'"),
    ("metrics. >= 1", "expected a metric name"),
    ("metrics.'open >= 1", "unclosed quote"),
    ("metrics.a >= __import__('os').system('echo hacked')", "expected a number, baseline or ("),
    ("metrics.a >= baselinex", "expected a number, baseline or ("),
    ("metrics.a >= 1 ** 2", "expected a number, baseline or ("),
    ("metrics.a >= " + "(" * 600 + "1" + ")" * 600, "longer than"),
])
def test_bad_rules_are_bad_input(text, where):
    with pytest.raises(BadInputError) as info:
        parse_rule(text)
    assert where in str(info.value) and info.value.exit_code == 2


def test_division_by_zero_is_bad_input():
    with pytest.raises(BadInputError, match="divides by zero"):
        evaluate(parse_rule("metrics.a <= baseline / (1 - 1)").expr, 2.0)


# -- which run -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, expected", [
    ("best", 2),  # best finished accuracy; the RUNNING run's 0.99 does not count
    ("best:val_loss", 5),  # lower is better; NaN accuracy does not matter for val_loss
    ("latest", 5),
    ("tag:branch=main", 2),  # the latest of the two main runs
    ("tag:branch=pr-1", 3),
    (rid(1), 1),
    ("tag:branch=nowhere", None),
])
def test_run_specs(store, spec, expected):
    with open_store(store) as opened:
        runs = opened.get_runs(["1"])
    found = resolve_run(parse_run_spec(spec), runs, metric="accuracy")
    assert (found.info.run_id if found else None) == (rid(expected) if expected else None)


@pytest.mark.parametrize("spec", ["", "   ", "best:", "tag:=x", "tag:novalue", "run id with spaces", "s3://x"])
def test_bad_run_specs(spec):
    with pytest.raises(BadInputError):
        parse_run_spec(spec)


# -- exit codes ------------------------------------------------------------------------------------------
RULES = ["--rule", "metrics.accuracy >= baseline - 0.01", "--rule", "metrics.val_loss <= baseline * 1.05"]


def test_all_rules_hold_exits_0(store):
    result = check(store, "--baseline", "tag:branch=main", "--candidate", "tag:branch=pr-1", *RULES)
    assert result.exit_code == 0, result.output
    assert "All 2 rules hold." in result.output
    assert f"Baseline:  main-b ({rid(2)})" in result.output and f"Candidate: pr-good ({rid(3)})" in result.output
    lines = [line.split() for line in result.output.splitlines() if line.startswith("metrics.")]
    # rule, baseline, candidate, threshold, result
    assert lines[0][-4:] == ["0.91", "0.905", "0.9", "PASS"]
    assert lines[1][-4:] == ["0.28", "0.29", "0.294", "PASS"]


def test_a_failing_rule_exits_1(store):
    result = check(store, "--baseline", "best", "--candidate", rid(4), *RULES, "--format", "md")
    assert result.exit_code == 1, result.output
    assert "**2 of 2 rules failed.**" in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| metrics.")]
    assert len(rows) == 2 and all(row.endswith("❌ fails |") for row in rows)
    assert rows[0].startswith("| metrics.accuracy &gt;= baseline - 0.01 | 0.91 | 0.85 | 0.9 |")


def test_one_of_two_failing_exits_1(store):
    result = check(store, "--baseline", "tag:branch=main", "--candidate", "tag:branch=pr-1",
                   "--rule", "metrics.accuracy >= baseline", "--rule", "metrics.val_loss < 1")
    assert result.exit_code == 1 and "1 of 2 rules failed." in result.output
    assert [line.split()[-1] for line in result.output.splitlines() if line.startswith("metrics.")] == ["FAIL", "PASS"]


def test_nan_candidate_fails_the_rule(store):
    result = check(store, "--baseline", "tag:branch=main", "--candidate", rid(5), "--rule",
                   "metrics.accuracy >= baseline - 1")
    assert result.exit_code == 1, result.output
    assert "NaN" in result.output and "The rule failed." in result.output


def test_rule_without_baseline_needs_no_baseline(store):
    result = check(store, "--candidate", rid(3), "--rule", "metrics.accuracy > 0.9")
    assert result.exit_code == 0, result.output
    assert "Baseline:  none" in result.output


def test_latest_candidate_is_the_default(store):
    result = check(store, "--baseline", rid(1), "--experiment", "ci", "--rule", "metrics.val_loss <= baseline")
    assert result.exit_code == 0, result.output
    assert f"Candidate: pr-nan ({rid(5)})" in result.output


def test_quoted_metric_name(store):
    result = check(store, "--candidate", rid(7), "--rule", "metrics.'odd key' == 2")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args, message", [
    (["--baseline", "best", "--candidate", rid(3), "--rule", "metrics.nope >= baseline"],
     "unknown metric 'nope' in the candidate run"),
    (["--baseline", rid(7), "--candidate", rid(3), "--rule", "metrics.val_loss <= baseline"],
     "unknown metric 'val_loss' in the baseline run"),
    (["--baseline", "f" * 32, "--candidate", rid(3), "--rule", "metrics.accuracy >= baseline"],
     "--baseline '" + "f" * 32 + "': no such run in the store"),
    (["--baseline", "best", "--candidate", "0" * 31 + "9", "--rule", "metrics.accuracy >= baseline"],
     "--candidate '" + "0" * 31 + "9': no such run"),
    (["--baseline", "000000", "--candidate", rid(3), "--rule", "metrics.accuracy >= baseline"],
     "--baseline '000000' is the start of 7 run ids"),
    (["--baseline", "tag:branch=nowhere", "--rule", "metrics.accuracy >= baseline"],
     "--baseline 'tag:branch=nowhere': no run matches"),
    (["--baseline", "best", "--rule", "metrics.accuracy >= baseline +"], "bad rule"),
    (["--baseline", "best", "--rule", "metrics.accuracy => baseline"], "bad rule"),
    (["--candidate", rid(3), "--rule", "metrics.accuracy >= baseline"], "a rule uses baseline: give --baseline"),
    (["--baseline", "best", "--experiment", "nope", "--rule", "metrics.accuracy >= baseline"],
     "--experiment 'nope' matches no experiment"),
    (["--baseline", "best:odd key", "--rule", "metrics.accuracy >= baseline"],
     "cannot tell whether a higher or lower 'odd key' is better"),
    (["--baseline", "best", "--rule", "metrics.accuracy >= baseline / 0"], "divides by zero"),
    (["--baseline", "best"], "Missing option '--rule'"),
])
def test_bad_input_exits_2(store, args, message):
    result = check(store, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_missing_store_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["check", str(tmp_path / "nowhere"), "--baseline", "best",
                                       "--rule", "metrics.a >= baseline"])
    assert result.exit_code == 2 and "nowhere" in result.output


def test_direction_override_lets_best_rank(store):
    result = check(store, "--baseline", "best:odd key", "--direction", "odd key=max", "--candidate", rid(7),
                   "--rule", "metrics.accuracy >= baseline")
    assert result.exit_code == 0, result.output
    assert f"Baseline:  elsewhere ({rid(7)})" in result.output


def test_sample_store_check(monkeypatch):
    repo = Path(__file__).resolve().parents[1]
    if not (repo / "sample_mlruns").is_dir():
        pytest.skip("sample_mlruns/ is missing")
    monkeypatch.chdir(repo)
    ok = CliRunner().invoke(main, ["check", "sample_mlruns", "--experiment", "logistic-regression",
                                   "--baseline", "tag:mlflow.runName=logreg-C=0.1", "--candidate", "best",
                                   "--rule", "metrics.accuracy >= baseline", "--rule", "metrics.log_loss <= baseline"])
    assert ok.exit_code == 0, ok.output
    assert "Candidate: logreg-C=1 (9c46f3a9155dc0e26707885591ac53cd)" in ok.output
    # The 8-character id the summary shows is enough.
    prefix = CliRunner().invoke(main, ["check", "sample_mlruns", "--baseline", "9c46f3a9", "--candidate", "b1650f07",
                                       "--rule", "metrics.accuracy <= baseline"])
    assert prefix.exit_code == 0, prefix.output
    assert "Baseline:  logreg-C=1 (9c46f3a9155dc0e26707885591ac53cd)" in prefix.output
    worse = CliRunner().invoke(main, ["check", "sample_mlruns", "--baseline", "best", "--experiment",
                                      "logistic-regression", "--candidate", "110f614bb4396a55429ad289d8dad265",
                                      "--rule", "metrics.accuracy >= baseline - 0.01"])
    assert worse.exit_code == 1, worse.output
