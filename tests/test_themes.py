"""Themes as a search path with a `default:` prefix: a user's run.html extends the bundled run.html and
replaces one block; a partial is replaced or extended without copying the theme; the block names of
docs/themes.md are those of the templates."""
from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from jinja2 import nodes

import mlruns_builder as mb
from reportgen.cli import main
from reportgen.errors import ReportgenError
from reportgen.site.render import Renderer
from reportgen.site.theme import Theme, builtin_themes_dir
from site_stores import build, demo_store

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")

DOCS = Path(__file__).resolve().parents[1] / "docs" / "themes.md"
THREE_LINES = ('{% extends "default:run.html" %}\n'
               '{% block params %}<p class="my-params">custom</p>{% endblock %}\n'
               '{# everything else: the default run page #}\n')
FIRST_RUN = f"{1:032x}"  # demo_store: params, metrics, tags, artifacts
CHILD_RUN = f"{6:032x}"  # demo_store: the child of run 5


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return demo_store(tmp_path_factory.mktemp("themes") / "mlruns")


@pytest.fixture(scope="module")
def default_site(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("default") / "site"
    build(store, out, cache_dir=None)
    return out


def _theme(folder: Path, templates: dict[str, str]) -> str:
    for name, text in templates.items():
        mb.write(folder / "templates" / name, text)
    return str(folder)


def _page(out: Path, run_id: str) -> BeautifulSoup:
    return BeautifulSoup((out / "r" / f"{run_id}.html").read_text(encoding="utf-8"), "html.parser")


def _sections(soup: BeautifulSoup) -> list[str]:
    return [section.get("aria-label") for section in soup.select("main section")]


def test_a_three_line_run_html_replaces_one_section(tmp_path, store, default_site):
    theme = _theme(tmp_path / "mytheme", {"run.html": THREE_LINES})
    assert len(THREE_LINES.splitlines()) == 3
    build(store, tmp_path / "site", theme=theme, cache_dir=None)
    page, default = _page(tmp_path / "site", FIRST_RUN), _page(default_site, FIRST_RUN)

    assert page.select_one("main p.my-params").get_text() == "custom"
    assert page.select_one("#rg-params") is None and default.select_one("#rg-params") is not None
    # Every other section of the default page is still there, in the same order, with the same content.
    assert _sections(page) == [name for name in _sections(default) if name != "Parameters"]
    assert {"Metrics", "Tags", "Artifacts", "Charts"} <= set(_sections(page))
    for selector in ("h1", "dl.rg-attributes", "#rg-metrics", "#rg-tags", "section.rg-artifacts",
                     "details.rg-system-tags", "section.rg-charts", "nav.rg-breadcrumbs", "header.rg-header",
                     "footer.rg-footer"):
        assert page.select_one(selector) is not None, selector
        assert str(page.select_one(selector)) == str(default.select_one(selector)), selector
    # The parent/child links (the `relations` block inside `attributes`) are the default's too.
    child = _page(tmp_path / "site", CHILD_RUN)
    assert "Parent run" in child.select_one("dl.rg-attributes").get_text()
    assert child.select_one("p.my-params") is not None
    # Other pages are untouched.
    for name in ("index.html", "problems.html", "e/1/index.html", "e/1/compare.html"):
        assert (tmp_path / "site" / name).read_bytes() == (default_site / name).read_bytes(), name


def test_super_keeps_the_default_content_of_a_block(tmp_path, store, default_site):
    theme = _theme(tmp_path / "mytheme", {
        "run.html": '{% extends "default:run.html" %}\n'
                    '{% block metrics %}{{ super() }}<p class="after-metrics">{{ metrics|length }} metrics</p>'
                    '{% endblock %}\n'
                    '{% block relations %}{{ super() }}<dt>Sweep</dt><dd class="my-sweep">{{ children|length }}</dd>'
                    '{% endblock %}\n',
        # A partial extends its bundled self the same way.
        "_header.html": '{% extends "default:_header.html" %}\n'
                        '{% block nav %}{{ super() }}<a class="my-docs" href="https://example.org/docs">Docs</a>'
                        '{% endblock %}\n',
    })
    build(store, tmp_path / "site", theme=theme, cache_dir=None)
    page, default = _page(tmp_path / "site", FIRST_RUN), _page(default_site, FIRST_RUN)
    metrics = page.find("section", attrs={"aria-label": "Metrics"})
    assert str(metrics) == str(default.find("section", attrs={"aria-label": "Metrics"}))
    assert metrics.find_next_sibling("p")["class"] == ["after-metrics"]
    assert page.select_one("p.after-metrics").get_text() == "2 metrics"
    assert page.select_one("dd.my-sweep").get_text() == "0"
    assert page.select_one("#rg-params") is not None
    nav = [a.get_text() for a in page.select("nav.rg-nav a")]
    assert nav == ["Experiments", "Problems", "Docs"]
    index = BeautifulSoup((tmp_path / "site" / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert [a.get_text() for a in index.select("nav.rg-nav a")] == nav, "the header is on every page"
    parent = _page(tmp_path / "site", f"{5:032x}")
    assert parent.select_one("dd.my-sweep").get_text() == "1"
    assert "Child runs" in parent.select_one("dl.rg-attributes").get_text()


def test_one_partial_is_replaced_without_copying_the_theme(tmp_path, store, default_site):
    theme = _theme(tmp_path / "mytheme", {
        "_artifacts.html": '<p class="my-artifacts">{{ artifacts|length }} top-level entries</p>\n'})
    build(store, tmp_path / "site", theme=theme, cache_dir=None)
    page, default = _page(tmp_path / "site", FIRST_RUN), _page(default_site, FIRST_RUN)
    section = page.select_one("section.rg-artifacts")
    assert section.select_one("p.my-artifacts").get_text() == "7 top-level entries"
    assert section.select_one(".rg-tree-list") is None and default.select_one(".rg-tree-list") is not None
    assert str(page.select_one("#rg-params")) == str(default.select_one("#rg-params"))
    assert [p.name for p in (tmp_path / "mytheme" / "templates").iterdir()] == ["_artifacts.html"]


def test_an_unknown_prefix_is_a_one_line_error(tmp_path, store):
    theme = _theme(tmp_path / "bad", {"run.html": '{% extends "nosuch:run.html" %}\n'})
    with pytest.raises(ReportgenError, match=r"run\.html.*'nosuch:run\.html'.*no bundled theme 'nosuch'"):
        build(store, tmp_path / "site", theme=theme, cache_dir=None)
    result = CliRunner().invoke(main, ["build", str(store), "-o", str(tmp_path / "site2"), "--no-cache",
                                       "--theme", theme])
    assert result.exit_code == 1
    assert "nosuch:run.html" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_a_missing_template_of_a_bundled_theme_is_named(tmp_path, store):
    theme = _theme(tmp_path / "bad", {"problems.html": '{% extends "default:nosuch.html" %}\n'})
    with pytest.raises(ReportgenError, match=r"'default:nosuch\.html'.*no 'nosuch\.html'"):
        build(store, tmp_path / "site", theme=theme, cache_dir=None)


def test_the_prefix_ignores_the_users_folder(tmp_path):
    """'default:run.html' is the bundled file even when the user's folder has a run.html (no self-extension
    loop), while a plain name inside the bundled template still goes through the search path."""
    folder = tmp_path / "mine"
    _theme(folder, {"run.html": THREE_LINES, "base.html": "MY BASE {% block content %}{% endblock %}\n"})
    renderer = Renderer(Theme.load(str(folder)), tmp_path / "out", site_title="t", generator="g")
    env = renderer.env
    bundled = builtin_themes_dir() / "default" / "templates" / "run.html"
    assert env.loader.get_source(env, "default:run.html")[1] == str(bundled)
    assert env.loader.get_source(env, "run.html")[1] == str(folder.resolve() / "templates" / "run.html")
    assert env.get_template("default:run.html").name == "default:run.html"
    renderer.page("run.html", "r/1.html", _run_context())
    html = (tmp_path / "out" / "r" / "1.html").read_text(encoding="utf-8")
    assert html.startswith("MY BASE ") and '<p class="my-params">custom</p>' in html and "rg-metrics" in html


def _run_context() -> dict:
    run = {"name": "r", "status": "FINISHED", "id": "1", "lifecycle": "active", "artifact_uri": "file:///a",
           **dict.fromkeys(("start", "end", "duration", "user", "source", "git_commit", "git_repo"))}
    return {"root": "../", "run": run, "experiment": {"href": "e/1/index.html", "name": "e"}, "parent": None,
            "children": [], "note": None, "params": [], "tags": [], "datasets": [], "charts": [],
            "artifacts_enabled": False, "system_tags": [], "page_title": "r",
            "metrics": [{"key": "loss", "direction": "min", "last": {"text": "1"}, "min": {"text": "1"},
                         "max": {"text": "1"}, "best_step": 0}]}


def test_prefixed_templates_use_the_bytecode_cache(tmp_path):
    folder = tmp_path / "mine"
    _theme(folder, {"problems.html": '{% extends "default:problems.html" %}\n'
                                     '{% block problems_header %}<h1>Mine</h1>{% endblock %}\n'})
    context = {"page_title": "Problems", "problems": []}

    def render(out: Path, bytecode: Path | None) -> bytes:
        renderer = Renderer(Theme.load(str(folder)), out, site_title="t", generator="g", bytecode_dir=bytecode)
        renderer.page("problems.html", "problems.html", context)
        return (out / "problems.html").read_bytes()

    plain = render(tmp_path / "plain", None)
    first = render(tmp_path / "first", tmp_path / "bytecode")
    cached = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "bytecode").iterdir()}
    # problems.html (yours), default:problems.html, base.html, _header.html, _footer.html
    assert len(cached) == 5
    second = render(tmp_path / "second", tmp_path / "bytecode")
    assert plain == first == second and b"<h1>Mine</h1>" in plain and b"No problems" in plain
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "bytecode").iterdir()} == cached


def _documented_blocks() -> dict[str, set[str]]:
    documented: dict[str, set[str]] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([\w.]+\.html)` \| (.+) \|$", line)
        if match:
            documented[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return documented


def _template_blocks(env: jinja2.Environment, name: str) -> set[str]:
    source = env.loader.get_source(env, name)[0]
    return {block.name for block in env.parse(source).find_all(nodes.Block)}


def test_the_documented_block_names_are_the_templates_blocks():
    documented = _documented_blocks()
    env = Theme.load(None).environment()
    templates = builtin_themes_dir() / "default" / "templates"
    with_blocks = {p.name for p in templates.glob("*.html") if _template_blocks(env, p.name)}
    assert set(documented) == with_blocks, "every template with blocks has a row in docs/themes.md"
    base = _template_blocks(env, "base.html")
    assert documented["base.html"] == base
    for name, blocks in documented.items():
        # A page documents the sections it adds; the blocks of base.html it fills are in base's row.
        own = _template_blocks(env, name) - (base if name != "base.html" else set())
        assert blocks == own, f"docs/themes.md and {name} disagree: {sorted(blocks ^ own)}"
