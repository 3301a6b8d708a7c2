"""The output folder: built aside then swapped in, previous reports replaced, anything else refused;
byte-identical rebuilds."""
from __future__ import annotations


import pytest

from reportgen.errors import ReportgenError
from reportgen.site.output import MARKER_FILE
from site_stores import build, tree_digest

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")  # skipped items are asserted on


def test_rebuild_is_byte_identical(tmp_path, store):
    build(store, tmp_path / "one", static_charts=True)
    build(store, tmp_path / "two", static_charts=True)
    one, two = tree_digest(tmp_path / "one"), tree_digest(tmp_path / "two")
    assert one == two
    assert any(name.endswith(".svg") for name in one), "static chart images are part of the comparison"


def test_non_empty_folder_that_is_not_a_report_is_refused(tmp_path, store):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.tex").write_text("precious")
    with pytest.raises(ReportgenError, match="not empty"):
        build(store, target)
    assert (target / "thesis.tex").read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temp folder left behind"


def test_previous_report_is_replaced_and_stale_files_go(tmp_path, store):
    target = tmp_path / "site"
    build(store, target)
    (target / "stale.html").write_text("old")
    build(store, target)
    assert not (target / "stale.html").exists() and (target / MARKER_FILE).is_file()
    assert (target / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlruns", "site"]


def test_output_inside_or_around_the_store_is_refused(tmp_path, store):
    with pytest.raises(ReportgenError, match="overlaps the store"):
        build(store, store / "site")
    with pytest.raises(ReportgenError, match="overlaps the store"):
        build(store, tmp_path)


def test_failed_build_keeps_the_old_report(tmp_path, store, monkeypatch):
    target = tmp_path / "site"
    build(store, target)
    before = tree_digest(target)
    from reportgen.site import builder as build_module

    def broken(*args, **kwargs):
        raise ReportgenError("boom")

    monkeypatch.setattr(build_module, "run_context", broken)
    with pytest.raises(ReportgenError, match="boom"):
        build(store, target)
    assert tree_digest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlruns", "site"]


def test_site_is_readable_by_others(tmp_path, store):
    build(store, tmp_path / "site")
    assert (tmp_path / "site").stat().st_mode & 0o055 == 0o055 or (tmp_path / "site").stat().st_mode & 0o005


def test_run_pages_from_worker_processes_are_identical(tmp_path, store):
    import os

    symlinked = store / "1" / f"{2:032x}" / "artifacts" / "link.txt"
    os.symlink("/etc/hostname", symlinked)  # a store problem met inside a worker must reach the problems page
    serial = build(store, tmp_path / "serial", workers=1)
    forked = build(store, tmp_path / "forked", workers=3)
    assert tree_digest(tmp_path / "serial") == tree_digest(tmp_path / "forked")
    assert serial.pages == forked.pages and [str(p) for p in serial.problems] == [str(p) for p in forked.problems]
    assert any("link.txt" in str(p) for p in forked.problems)
