"""sample_mlruns/: the generator is deterministic, the committed tree is what it writes, and the store
holds everything a demo report needs (and stays small)."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen import mlruns
from reportgen.model import ViewType
from reportgen.tracking import MlflowClient
from reportgen.uri import path_to_file_uri

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
GENERATOR = EXAMPLES / "make_sample_mlruns.py"
SAMPLE = REPO / "sample_mlruns"
CANONICAL_ROOT = "file:///tmp/reportgen-sample/mlruns"
NOTE = "mlflow.note.content"
MAX_BYTES = 2 * 1024 * 1024


def _tree(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _differences(first: dict[str, bytes], second: dict[str, bytes]) -> list[str]:
    names = sorted(set(first) | set(second))
    return [name for name in names if first.get(name) != second.get(name)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Path]:
    """Two stores from two generator processes run side by side, from different working folders."""
    base = tmp_path_factory.mktemp("sample")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    outputs = (base / "first" / "mlruns", base / "second" / "store")
    procs = []
    for output in outputs:
        output.parent.mkdir()
        procs.append(subprocess.Popen(
            [sys.executable, str(GENERATOR), "--output", str(output)], cwd=output.parent, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"generator failed:\n{out}\n{err}"
    return outputs


def test_two_generator_runs_give_byte_identical_trees(generated):
    first, second = (_tree(root) for root in generated)
    assert len(first) > 100
    assert _differences(first, second) == []


VERSIONS_TAG = "0/tags/reportgen.sample.versions"
# Files whose bytes belong to the library that wrote them (a pickle, a PNG): compared by name only.
LIBRARY_BYTES = {".pkl", ".png"}
# A number in a text file: metric lines, params, JSON, CSV, YAML and logs all spell them this way.
_NUMBER = re.compile(rb"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|Infinity|nan|NaN)")


def _same_numbers(first: bytes, second: bytes) -> bool:
    """The same text around the numbers, the same integers, and floats within a solver's tolerance."""
    if _NUMBER.split(first) != _NUMBER.split(second):
        return False
    left, right = _NUMBER.findall(first), _NUMBER.findall(second)
    if len(left) != len(right):
        return False
    for a, b in zip(left, right):
        if a == b:
            continue
        if not any(c in a + b for c in b".eEnN"):
            return False  # integers (steps, timestamps, counts) are exact
        if not math.isclose(float(a), float(b), rel_tol=1e-4, abs_tol=1e-8):
            return False
    return True


def _content_differences(fresh: dict[str, bytes], committed: dict[str, bytes]) -> list[str]:
    """Names whose content differs in what the store means: params, tags, metrics and text artifacts
    compared number by number; library-written binaries by name only; the recorded versions not at all."""
    differing = []
    for name in _differences(fresh, committed):
        if name == VERSIONS_TAG or Path(name).suffix in LIBRARY_BYTES:
            continue
        if name not in fresh or name not in committed or not _same_numbers(fresh[name], committed[name]):
            differing.append(name)
    return differing


def test_the_committed_store_is_what_the_generator_writes(generated):
    fresh, committed = _tree(generated[0]), _tree(SAMPLE)
    assert sorted(fresh) == sorted(committed), "regenerate: python examples/make_sample_mlruns.py"
    assert _content_differences(fresh, committed) == [], "regenerate: python examples/make_sample_mlruns.py"


def test_the_content_comparison_sees_a_changed_value_and_forgives_a_last_digit():
    line = b"1700000000000 0.8123456789012345 3\n"
    assert _same_numbers(line, b"1700000000000 0.8123456789012346 3\n")
    assert not _same_numbers(line, b"1700000000000 0.82 3\n")
    assert not _same_numbers(line, b"1700000000001 0.8123456789012345 3\n")
    assert not _same_numbers(b"alpha: 0.1", b"alpha: 0.1 extra")
    names = {"a/model.pkl": b"x", VERSIONS_TAG: b"v1", "a/params/alpha": b"0.1"}
    assert _content_differences(names, {**names, "a/model.pkl": b"y", VERSIONS_TAG: b"v2"}) == []
    assert _content_differences(names, {**names, "a/params/alpha": b"0.2"}) == ["a/params/alpha"]


def test_the_generator_refuses_to_replace_a_folder_that_is_not_a_store(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, str(GENERATOR), "--output", str(precious)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "not an mlruns store" in result.stderr
    assert (precious / "thesis.tex").read_text(encoding="utf-8") == "do not delete"


# What a demo report needs, read from the committed store through reportgen's client.

@pytest.fixture(scope="module")
def client() -> MlflowClient:
    return MlflowClient(tracking_uri=path_to_file_uri(SAMPLE))


@pytest.fixture(scope="module")
def runs(client):
    experiments = client.search_experiments(view_type=ViewType.ALL)
    return client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=1000)


def test_size_is_under_two_megabytes():
    assert sum(len(data) for data in _tree(SAMPLE).values()) < MAX_BYTES


def test_several_experiments_each_with_a_description(client):
    experiments = client.search_experiments()
    assert len(experiments) >= 4
    for experiment in experiments:
        assert experiment.tags.get(NOTE, "").strip(), f"{experiment.name} has no description"


def test_a_nested_sweep_a_failed_a_deleted_and_an_unfinished_run(runs):
    by_id = {run.info.run_id: run for run in runs}
    children = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    parents = {run.data.tags["mlflow.parentRunId"] for run in children}
    assert len(children) >= 4 and len(parents) == 1 and parents <= set(by_id)
    assert any(run.info.status == "FAILED" for run in children)
    deleted = [run for run in runs if run.info.lifecycle_stage == "deleted"]
    assert len(deleted) == 1 and deleted[0].info.deleted_time is not None
    # A run whose process died: never ended, so RUNNING with no end time (a report shows it as stale).
    (running,) = [run for run in runs if run.info.status == "RUNNING"]
    assert running.info.end_time is None


def test_runs_that_differ_only_by_seed(runs):
    groups: dict[tuple, set[str]] = {}
    for run in runs:
        params = dict(run.data.params)
        seed = params.pop("seed", None)
        if seed is not None:
            groups.setdefault(tuple(sorted(params.items())), set()).add(seed)
    assert max(len(seeds) for seeds in groups.values()) >= 3


def test_markdown_notes_with_heading_table_code_and_link(runs):
    notes = [run.data.tags[NOTE] for run in runs if NOTE in run.data.tags]
    assert any(
        note.lstrip().startswith("#") and "|---|" in note and "```" in note and "](https://" in note
        for note in notes
    )


def test_metric_histories_over_steps_with_slash_keys_nan_and_inf(client, runs):
    failed = next(run for run in runs if run.info.status == "FAILED")
    values = [point.value for point in client.get_metric_history(failed.info.run_id, "train/loss")]
    assert math.isnan(values[-1]) and math.isinf(values[-2])
    seed_run = next(run for run in runs if run.info.run_name == "seed-0")
    for key in ("train/loss", "val/loss", "val/accuracy"):
        history = client.get_metric_history(seed_run.info.run_id, key)
        assert [point.step for point in history] == list(range(1, 51))
        assert all(math.isfinite(point.value) for point in history)


def test_artifacts_of_every_kind_and_a_folder(client, runs):
    files: list[str] = []
    folders: list[str] = []

    def walk(run_id: str, path: str | None) -> None:
        for info in client.list_artifacts(run_id, path):
            (folders if info.is_dir else files).append(info.path)
            if info.is_dir:
                walk(run_id, info.path)

    for run in runs:
        walk(run.info.run_id, None)
    suffixes = {Path(name).suffix for name in files}
    assert {".png", ".csv", ".json", ".txt", ".md", ".yaml", ".pkl"} <= suffixes
    assert "misclassified" in folders


def test_meta_yaml_uses_the_canonical_root_and_no_local_path():
    for path in sorted(SAMPLE.rglob(mlruns.META_FILE)):
        meta = mlruns.load_meta(path.read_text(encoding="utf-8"))
        uri = meta.get("artifact_location") or meta.get("artifact_uri")
        assert uri.startswith(CANONICAL_ROOT + "/"), path
    for name, data in _tree(SAMPLE).items():
        assert str(REPO).encode() not in data, name
    assert not list(SAMPLE.rglob("mlflow.source.git.*"))


@pytest.mark.oracle
def test_real_mlflow_reads_the_committed_store(runs, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    theirs = mlflow.MlflowClient(tracking_uri=path_to_file_uri(SAMPLE))
    experiments = theirs.search_experiments(view_type=ViewType.ALL)
    their_runs = theirs.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL)
    assert sorted(r.info.run_id for r in their_runs) == sorted(r.info.run_id for r in runs)
    ours = {run.info.run_id: run for run in runs}
    for run in their_runs:
        assert run.data.params == ours[run.info.run_id].data.params
        assert run.info.status == ours[run.info.run_id].info.status
