"""Artifacts in the site: only regular files from inside the store, never through symlinks, special
files skipped without hanging, sizes capped per file and per site, output names sanitized."""
from __future__ import annotations

import os
import threading

import pytest

import mlruns_builder as mb
from reportgen.site.artifacts.copy import safe_file_name
from reportgen.uri import path_to_file_uri
from site_stores import build, html_pages

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")  # skipped items are asserted on

RUN = f"{1:032x}"


def _store(tmp_path):
    store = tmp_path / "mlruns"
    exp = mb.experiment(store, "1", "exp")
    mb.run(exp, 1, name="r")
    return store, exp / RUN / "artifacts"


def _copied(out):
    folder = out / "r" / RUN / "files"
    return {p.name.split("-", 1)[1]: p for p in folder.iterdir()} if folder.exists() else {}


def test_symlinks_are_never_followed(tmp_path):
    store, artifacts = _store(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    mb.write(artifacts / "ok.txt", "fine")
    os.symlink(secret, artifacts / "link.txt")
    os.symlink("/", artifacts / "root")
    os.symlink(artifacts / "loop", artifacts / "loop")
    os.symlink(tmp_path / "missing", artifacts / "dangling.txt")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "key.pem").write_text("PRIVATE KEY")
    os.symlink(tmp_path / "outside", artifacts / "dirlink")
    result = build(store, tmp_path / "site")
    assert set(_copied(tmp_path / "site")) == {"ok.txt"}
    site_text = b"".join(p.read_bytes() for p in (tmp_path / "site").rglob("*") if p.is_file())
    assert b"TOP SECRET" not in site_text and b"PRIVATE KEY" not in site_text
    problems = " ".join(str(p) for p in result.problems)
    assert "link.txt" in problems and "dirlink" in problems


def test_fifo_is_skipped_without_hanging(tmp_path):
    store, artifacts = _store(tmp_path)
    mb.write(artifacts / "ok.txt", "fine")
    os.mkfifo(artifacts / "pipe")
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("result", build(store, tmp_path / "site")))
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "a FIFO blocked the build"
    assert set(_copied(tmp_path / "site")) == {"ok.txt"}
    assert any("pipe" in str(p) for p in outcome["result"].problems)


def test_artifact_uri_outside_the_store_is_not_read(tmp_path):
    store = tmp_path / "mlruns"
    exp = mb.experiment(store, "1", "exp")
    elsewhere = tmp_path / "elsewhere"
    mb.write(elsewhere / "stolen.txt", "should not be copied")
    mb.run(exp, 1, name="r", artifact_uri=path_to_file_uri(elsewhere))
    (exp / RUN / "artifacts").rmdir()
    result = build(store, tmp_path / "site")
    assert _copied(tmp_path / "site") == {}
    assert any(RUN in str(p) and "artifacts" in str(p) for p in result.problems)


def test_big_files_are_capped_per_file_and_per_site(tmp_path):
    store, artifacts = _store(tmp_path)
    mb.write(artifacts / "big.log", b"x" * 5000)
    mb.write(artifacts / "a.txt", b"a" * 900)
    mb.write(artifacts / "b.txt", b"b" * 900)
    result = build(store, tmp_path / "site", max_artifact_size=1000, max_site_size=1000)
    copied = _copied(tmp_path / "site")
    assert "big.log" not in copied and len(copied) == 1, "one of a.txt/b.txt fits the site budget"
    page = html_pages(tmp_path / "site")[f"r/{RUN}.html"]
    big = [li for li in page.select(".rg-file-node") if "big.log" in li.get_text()][0]
    assert "too large to copy" in big.get_text()
    assert big.select_one("pre").get_text().startswith("xxx"), "the head of a big text file is still previewed"
    assert sum(1 for p in result.problems if "not copied" in p.message) == 2


def test_no_artifacts_option(tmp_path):
    store, artifacts = _store(tmp_path)
    mb.write(artifacts / "ok.txt", "fine")
    build(store, tmp_path / "site", artifacts=False)
    assert _copied(tmp_path / "site") == {}
    assert html_pages(tmp_path / "site")[f"r/{RUN}.html"].select_one(".rg-artifacts") is None


@pytest.mark.parametrize("name", ["..", "../../etc/passwd", "a\x00b", "<script>.txt", "x" * 400, "CON", "\u202e.txt",
                                  "A.txt", "a.txt", "page.HTML", "dir/sub/x.svg"])
def test_output_names_stay_in_their_folder(name):
    safe = safe_file_name(name)
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe and not safe.startswith(".")
    assert len(safe) <= 100 and safe.isascii()
    if name.lower().endswith((".html", ".svg")):
        assert safe.endswith(".txt")
    assert safe_file_name("A.txt") != safe_file_name("a.txt"), "case variants never collide"


def test_hostile_artifact_names_are_listed_safely(tmp_path):
    store, artifacts = _store(tmp_path)
    for name in ["<b onclick=x>bold.txt", "\u202egnp.exe", "x" * 200 + ".txt"]:
        mb.write(artifacts / name, "data")
    build(store, tmp_path / "site")
    files = list((tmp_path / "site" / "r" / RUN / "files").iterdir())
    assert len(files) == 3 and all(p.parent.name == "files" for p in files)
    page = html_pages(tmp_path / "site")[f"r/{RUN}.html"]
    names = [a.get_text() for a in page.select(".rg-file-line a")]
    assert "<b onclick=x>bold.txt" in names and "[U+202E]gnp.exe" in names
    assert page.select_one(".rg-file-line b") is None


def test_site_size_limit_holds_across_experiments_with_workers(tmp_path):
    """Copies made by forked workers count against --max-site-size for every experiment, not per experiment."""
    import mlruns_builder as mb
    from site_stores import build as build_site_of

    root = tmp_path / "mlruns"
    for exp_id in ("1", "2"):
        exp = mb.experiment(root, exp_id, f"exp{exp_id}")
        for index in (1, 2):
            number = int(exp_id) * 10 + index
            mb.run(exp, number, name=f"r{number}")
            mb.write(exp / f"{number:032x}" / "artifacts" / "blob.txt", "x" * 2000)
    result = build_site_of(root, tmp_path / "site", max_site_size=5000, workers=2)
    copied = sum(p.stat().st_size for p in (tmp_path / "site" / "r").rglob("files/*"))
    assert 0 < copied <= 5000
    assert result.budget_hit
