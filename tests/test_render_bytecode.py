"""Renderer's cache of compiled templates: the same pages, templates compiled once, an edited template
compiled again, and a cache folder that cannot be written costs nothing but time."""
from __future__ import annotations

import shutil
from pathlib import Path

from reportgen.site.render import Renderer
from reportgen.site.theme import Theme, builtin_themes_dir

CONTEXT = {"page_title": "Problems", "problems": [{"path": "a<b", "message": "m & n", "kind": "warning"}]}


def _page(theme: Theme, out: Path, bytecode: Path | None) -> bytes:
    renderer = Renderer(theme, out, site_title="t", generator="g", bytecode_dir=bytecode)
    renderer.page("problems.html", "problems.html", CONTEXT)
    return (out / "problems.html").read_bytes()


def test_pages_from_cached_templates_are_the_same(tmp_path):
    theme = Theme.load(None)
    plain = _page(theme, tmp_path / "plain", None)
    first = _page(theme, tmp_path / "first", tmp_path / "bytecode")
    cached = list((tmp_path / "bytecode").iterdir())
    assert cached  # base.html, problems.html and its partials
    second = _page(theme, tmp_path / "second", tmp_path / "bytecode")
    assert plain == first == second
    assert sorted(path.stat().st_mtime_ns for path in cached) == sorted(
        path.stat().st_mtime_ns for path in (tmp_path / "bytecode").iterdir())  # loaded, not written again


def test_an_edited_template_is_compiled_again(tmp_path):
    folder = tmp_path / "theme"
    shutil.copytree(builtin_themes_dir() / "default", folder)
    before = _page(Theme.load(str(folder)), tmp_path / "before", tmp_path / "bytecode")
    template = folder / "templates" / "problems.html"
    template.write_text(template.read_text(encoding="utf-8").replace("{% block content %}",
                                                                     "{% block content %}EDITED"), encoding="utf-8")
    after = _page(Theme.load(str(folder)), tmp_path / "after", tmp_path / "bytecode")
    assert b"EDITED" not in before and b"EDITED" in after


def test_an_unwritable_cache_folder_is_no_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    theme = Theme.load(None)
    assert _page(theme, tmp_path / "a", blocker / "bytecode") == _page(theme, tmp_path / "b", None)
