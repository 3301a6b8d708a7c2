"""Hostile and changing file stores (issue 14, items 5 and 7): huge, special and deeply nested files,
huge numbers, repeated ids, deep parent chains, long values, symlinked and malformed run folders, runs
deleted while read. Each test shows the local failure (a problem naming the file, or a clipped value)
and the global progress (every other run still read or built)."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from mlruns_builder import T0, experiment, run, write
from reportgen import limits, mlruns
from reportgen.site import build_site, fmt
from reportgen.site.pages.common import run_tree
from reportgen.stores import _file_parts
from reportgen.stores.file import FileStore

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")


def _rid(index: int) -> str:
    return f"{index:032x}"


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "mlruns"
    exp = experiment(root, "1", "main")
    for i in range(1, 4):
        run(exp, i, metrics={"loss": [(T0, 1.0 / i, 0)]}, params={"i": str(i)}, tags={"t": "v"})
    return root


def _read(root, *, cached=None):
    store = FileStore(root)
    began = time.monotonic()
    runs = store.read_all(cache_dir=cached)[0] if cached else store.get_runs()
    return store, {r.info.run_id: r for r in runs}, time.monotonic() - began


def _problems(store):
    return [(p.path, p.message) for p in store.problems]


# -- files too big or not files at all -------------------------------------------------------------
def _sparse(path, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab"):
        pass
    os.truncate(path, size)  # sparse: costs no disk


@pytest.mark.parametrize("cached", [False, True])
def test_sparse_6gb_meta_yaml_skips_the_run(root, tmp_path, cached):
    meta = root / "1" / _rid(2) / mlruns.META_FILE
    _sparse(meta, 6 << 30)
    store, runs, took = _read(root, cached=tmp_path / "cache" if cached else None)
    assert sorted(runs) == [_rid(1), _rid(3)]
    assert _problems(store) == [(str(meta), f"cannot read run meta.yaml ({6 << 30} bytes, over the cap of "
                                            f"{limits.META_MAX_BYTES}); run skipped")]
    assert took < 5


@pytest.mark.parametrize("kind,size", [("params", 3 << 30), ("tags", 2 << 30)])
def test_huge_param_or_tag_drops_that_value_only(root, kind, size):
    path = root / "1" / _rid(2) / kind / "huge"
    _sparse(path, size)
    store, runs, took = _read(root)
    assert len(runs) == 3 and took < 5
    values = runs[_rid(2)].data.params if kind == "params" else runs[_rid(2)].data.tags
    assert "huge" not in values and len(values) == 1  # the run's other value is kept
    [(where, message)] = _problems(store)
    assert where == str(path) and "over the cap" in message and "value skipped" in message


def test_metric_file_over_its_cap_is_skipped(root, monkeypatch):
    monkeypatch.setattr(_file_parts, "METRIC_FILE_MAX_BYTES", 100)
    path = write(root / "1" / _rid(1) / "metrics" / "long", "".join(f"{T0} {i}.0 {i}\n" for i in range(50)))
    store, runs, _ = _read(root)
    assert "long" not in runs[_rid(1)].data.metrics and runs[_rid(1)].data.metrics["loss"] == 1.0
    assert [p.path for p in store.problems] == [str(path)] and "over the cap" in store.problems[0].message


@pytest.mark.parametrize("special", ["dev-zero", "fifo"])
def test_meta_yaml_that_is_dev_zero_or_a_fifo_is_refused(root, special):
    meta = root / "1" / _rid(3) / mlruns.META_FILE
    meta.unlink()
    if special == "fifo":
        os.mkfifo(meta)
    else:
        meta.symlink_to("/dev/zero")
    store, runs, took = _read(root)
    assert sorted(runs) == [_rid(1), _rid(2)] and took < 5
    assert _problems(store) == [(str(meta), "cannot read run meta.yaml (not a regular file); run skipped")]


def test_fifo_and_symlink_in_params_are_named(root, tmp_path):
    params = root / "1" / _rid(1) / "params"
    os.mkfifo(params / "pipe")
    write(tmp_path / "secret", "s3cr3t")
    (params / "link").symlink_to(tmp_path / "secret")
    store, runs, took = _read(root)
    assert runs[_rid(1)].data.params == {"i": "1"} and len(runs) == 3 and took < 5
    assert sorted(_problems(store)) == [(str(params / "link"), "is a symlink, not a file; skipped"),
                                        (str(params / "pipe"), "is a FIFO, not a file; skipped")]


# -- YAML that would cost a parser or int() too much --------------------------------------------------
@pytest.mark.parametrize("content,message", [
    ("[" * 80_000, "meta.yaml is not valid YAML"),  # libyaml's own limit, before any recursion
    ("run_id: " + "{a: " * 20_000, f"nested deeper than {limits.YAML_MAX_DEPTH} levels"),
    ("- " * 20_000 + "x\n", f"nested deeper than {limits.YAML_MAX_DEPTH} levels"),
])
def test_deeply_nested_meta_yaml_skips_the_run(root, content, message):
    meta = root / "1" / _rid(2) / mlruns.META_FILE
    meta.write_text(content)
    store, runs, took = _read(root)
    assert sorted(runs) == [_rid(1), _rid(3)] and took < 5
    [(where, problem)] = _problems(store)
    assert where == str(meta) and message in problem and problem.endswith("run skipped")


def test_deep_nesting_is_refused_without_libyaml_too(monkeypatch):
    import yaml

    monkeypatch.setattr(mlruns, "_EventParser", yaml.BaseLoader)  # the pure-Python parser
    with pytest.raises(mlruns.MetaError, match="nested deeper"):
        mlruns.load_meta("a: " + "[" * 20_000)


@pytest.mark.parametrize("value", ["9" * 5000, "-" + "1" * 50, "9" * 30, ".inf", "1e400"])
def test_huge_start_time_skips_the_run(root, value):
    meta = root / "1" / _rid(2) / mlruns.META_FILE
    text = meta.read_text()
    meta.write_text(text.replace(f"start_time: {T0 + 2}", f"start_time: {value}"))
    assert meta.read_text() != text
    store, runs, _ = _read(root)
    assert sorted(runs) == [_rid(1), _rid(3)]
    [(where, problem)] = _problems(store)
    assert where == str(meta) and problem.endswith("run skipped")


# -- ids and folders ------------------------------------------------------------------------------
@pytest.mark.parametrize("cached", [False, True])
def test_same_run_folder_in_two_experiments_is_read_once(root, tmp_path, cached):
    other = experiment(root, "2", "copy")
    shutil.copytree(root / "1" / _rid(1), other / _rid(1))
    meta = other / _rid(1) / mlruns.META_FILE
    meta.write_text(meta.read_text().replace("experiment_id: '1'", "experiment_id: '2'"))
    run(other, 9)
    for _ in range(2 if cached else 1):  # the second cached read answers from the cache
        store, runs, _ = _read(root, cached=tmp_path / "cache" if cached else None)
        assert sorted(runs) == [_rid(1), _rid(2), _rid(3), _rid(9)]
        assert runs[_rid(1)].info.experiment_id == "1"
        assert _problems(store) == [(str(other / _rid(1)), f"run id {_rid(1)} repeats the run at "
                                                           f"{root / '1' / _rid(1)}; run skipped")]


def test_symlinked_run_folder_and_params_file_are_named(root, tmp_path):
    outside = tmp_path / "outside"
    shutil.move(root / "1" / _rid(1), outside)
    (root / "1" / _rid(1)).symlink_to(outside)
    params = root / "1" / _rid(2) / "params"
    shutil.rmtree(params)
    params.write_text("not a folder")
    store, runs, _ = _read(root)
    assert sorted(runs) == [_rid(2), _rid(3)] and runs[_rid(2)].data.params == {}
    assert _problems(store) == [
        (str(root / "1" / _rid(1)), f"run folder is a symlink (to {outside}), never followed; run skipped"),
        (str(params), "is not a folder; its values skipped"),
    ]


def test_unreadable_params_are_a_problem_not_no_parameters(root, monkeypatch):
    # chmod 000 stops no root: the listing and the read fail as they would for another user
    params = root / "1" / _rid(3) / "params"
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path) == str(params):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(_file_parts.os, "scandir", scandir)
    store, runs, _ = _read(root)
    assert len(runs) == 3 and runs[_rid(3)].data.params == {} and runs[_rid(2)].data.params == {"i": "2"}
    assert _problems(store) == [(str(params), "cannot be listed (Permission denied); its values skipped")]


def test_unreadable_value_file_is_a_problem(root, monkeypatch):
    path = root / "1" / _rid(1) / "tags" / "t"
    real_open = os.open

    def deny(name, flags, *args, **kwargs):
        if os.fspath(name) == str(path):
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)
    store, runs, _ = _read(root)
    assert runs[_rid(1)].data.tags == {} and runs[_rid(2)].data.tags["t"] == "v"
    assert _problems(store) == [(str(path), "cannot read value (Permission denied); value skipped")]


@pytest.mark.parametrize("how", ["deleted", "trashed"])
@pytest.mark.parametrize("cached", [False, True])
def test_run_deleted_while_read_is_skipped(root, tmp_path, monkeypatch, how, cached):
    victim = root / "1" / _rid(2)
    real = _file_parts.read_key_values
    calls = []

    def read_key_values(folders, problems=None):
        if str(victim / "params") in folders and not calls:  # the run goes, as `mlflow gc` would take it
            if how == "deleted":
                shutil.rmtree(victim)
            else:
                (root / mlruns.TRASH_DIR).mkdir(exist_ok=True)
                os.rename(victim, root / mlruns.TRASH_DIR / _rid(2))
            calls.append(folders)
        return real(folders, problems)

    monkeypatch.setattr("reportgen.stores._run_build.read_key_values", read_key_values)
    store = FileStore(root)
    if cached:
        runs, frame = store.read_all(cache_dir=tmp_path / "cache")
    else:
        runs, frame = store.read_all()
    assert sorted(r.info.run_id for r in runs) == [_rid(1), _rid(3)]
    assert sorted(frame["run_id"].unique()) == [_rid(1), _rid(3)]
    assert (str(victim), "run folder vanished while read (deleted or moved); run skipped") in _problems(store)
    monkeypatch.undo()
    again, _ = FileStore(root).read_all(cache_dir=tmp_path / "cache") if cached else FileStore(root).read_all()
    assert sorted(r.info.run_id for r in again) == [_rid(1), _rid(3)]


# -- parent chains ---------------------------------------------------------------------------------
class _Info:
    def __init__(self, run_id):
        self.run_id = run_id


class _Run:
    def __init__(self, run_id, parent):
        self.info = _Info(run_id)
        self.parent_run_id = parent


@pytest.mark.parametrize("depth", [990, 5000])
@pytest.mark.parametrize("cycle", [False, True])
def test_deep_parent_chains_and_cycles_have_no_recursion_limit(depth, cycle):
    from reportgen import rollups

    runs = [_Run(f"r{i}", f"r{i - 1}" if i else (f"r{depth - 1}" if cycle else None)) for i in range(depth)]
    ordered = run_tree(runs)
    assert [r.info.run_id for r, _ in ordered] == [f"r{i}" for i in range(depth)]
    assert ordered[-1][1] == 8  # indentation is capped
    frame = rollups.run_tree(rollups.as_runs_frame([_store_run(r) for r in runs]))
    assert len(frame) == depth and frame["depth"].max() == depth - 1


def _store_run(fake):
    from reportgen.model import Run, RunData, RunInfo

    tags = {} if fake.parent_run_id is None else {"mlflow.parentRunId": fake.parent_run_id}
    return Run(info=RunInfo(fake.info.run_id, "1", fake.info.run_id, "u", "FINISHED", T0, T0, ""),
               data=RunData(metrics={}, params={}, tags=tags))


def test_a_990_deep_parent_chain_builds(tmp_path):
    root = tmp_path / "mlruns"
    exp = experiment(root, "1", "deep")
    parent = None
    for i in range(1, 991):
        parent = run(exp, i, metrics={"loss": [(T0, 1.0 / i, 0)]},
                     tags={"mlflow.parentRunId": parent} if parent else None)
    result = build_site([str(root)], tmp_path / "site", static_charts=False, artifacts=False, workers=1)
    assert len(list((tmp_path / "site" / "r").glob("*.html"))) == 990
    assert not result.problems


# -- long values: clipped for display, fast to build ----------------------------------------------------
def test_clip_rule():
    assert fmt.cut("x" * limits.CLIP_CHARS) == "x" * limits.CLIP_CHARS
    assert fmt.cut("x" * (limits.CLIP_CHARS + 1)) == "x" * limits.CLIP_CHARS + "…"
    assert fmt.clip("a\u202eb") == "a[U+202E]b"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size,static", [(64 * 1024, False), (256 * 1024, True)])
def test_long_varying_params_build_in_seconds_and_are_clipped(tmp_path, size, static):
    root = tmp_path / "mlruns"
    exp = experiment(root, "1", "long")
    for i in range(1, 4):
        run(exp, i, name=f"n{i}" * (size // 2), metrics={"loss": [(T0, 1.0 / i, 0), (T0, 0.5 / i, 1)]},
            params={"big": str(i) * size, "lr": str(i)}, tags={"note": chr(64 + i) * size})
    began = time.monotonic()
    build_site([str(root)], tmp_path / "site", static_charts=static, artifacts=False, workers=1)
    assert time.monotonic() - began < 30
    site = tmp_path / "site"
    page = (site / "r" / f"{_rid(1)}.html").read_text(encoding="utf-8")
    shown = "1" * min(size, limits.FULL_VALUE_MAX_CHARS)
    assert shown + ("…" if size > limits.FULL_VALUE_MAX_CHARS else "<") in page  # one click away, capped
    assert "1" * (limits.FULL_VALUE_MAX_CHARS + 1) not in page
    for path in site.rglob("*"):
        # runs.csv and runs.json are the data exports: whole values, by design
        if path.is_file() and path.suffix in (".html", ".json", ".svg", ".js") and path.stem != "runs":
            text = path.read_text(encoding="utf-8", errors="replace")
            assert "1" * (limits.FULL_VALUE_MAX_CHARS + 1) not in text, path
    if static:
        images = [p for p in site.rglob("*.svg")]
        assert images and all("1" * (limits.CLIP_CHARS + 1) not in p.read_text() for p in images)
