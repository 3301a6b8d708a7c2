"""The golden site: sample_mlruns/ built and compared with the checked-in expected output.

Regenerate after an intended change with:  REPORTGEN_REGEN_GOLDEN=1 pytest tests/test_site_golden.py
(then review `git diff tests/golden/`). Text files are compared whole; binary files (copied artifacts)
by SHA-256 in MANIFEST.json; the theme's static files and the Vega bundle are not part of it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from reportgen.site import build_site

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_mlruns"
GOLDEN = Path(__file__).resolve().parent / "golden" / "sample_site"
TEXT_SUFFIXES = {".html", ".csv", ".json", ".txt", ".yaml", ".md"}
REGENERATE = os.environ.get("REPORTGEN_REGEN_GOLDEN") == "1"


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.relative_to(folder).as_posix().startswith("static/")}


def _is_text(path: Path) -> bool:
    """Compared whole: a text suffix and UTF-8 content (a binary artifact is copied as <name>.txt too)."""
    if path.suffix not in TEXT_SUFFIXES:
        return False
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _manifest(files: dict[str, Path]) -> dict[str, str]:
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()
            if not _is_text(path)}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    if not SAMPLE.is_dir():
        pytest.skip("sample_mlruns/ is missing")
    out = tmp_path_factory.mktemp("golden") / "site"
    # Static chart images depend on vl-convert's renderer version: left out of the golden site.
    # Run from the repository so that the store shows as "sample_mlruns", not as this machine's path.
    previous = os.getcwd()
    os.chdir(REPO)
    try:
        build_site(["sample_mlruns"], out, static_charts=False, title="reportgen sample report")
    finally:
        os.chdir(previous)
    return out


def test_sample_site_matches_golden(built):
    files = _files(built)
    texts = {name: path for name, path in files.items() if _is_text(path)}
    if REGENERATE:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for name, path in texts.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, GOLDEN / name)
        (GOLDEN / "MANIFEST.json").write_text(json.dumps(_manifest(files), indent=1, sort_keys=True) + "\n")
        pytest.skip("golden site regenerated; review git diff tests/golden/")
    assert GOLDEN.is_dir(), "no golden site yet: run with REPORTGEN_REGEN_GOLDEN=1"
    expected = {name for name in _files(GOLDEN) if name != "MANIFEST.json"}
    assert set(texts) == expected, "pages added or missing"
    for name, path in texts.items():
        assert path.read_text(encoding="utf-8") == (GOLDEN / name).read_text(encoding="utf-8"), (
            f"{name} differs from tests/golden/sample_site/{name} (REPORTGEN_REGEN_GOLDEN=1 to accept)")
    assert _manifest(files) == json.loads((GOLDEN / "MANIFEST.json").read_text())
