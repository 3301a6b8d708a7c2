"""What a user sees, in headless Chromium, on a site built from a store written by real MLflow 3 (images per
step, a long param name, a folder of many files): the image grid's step survives a copied link and the back
button on the experiment and compare pages (a stale or hostile step changes nothing), a page over http asks for
nothing but its own files (no /favicon.ico), a phone-wide page does not scroll sideways and a params table
fits its column at any width, and a folder of many files starts closed."""
from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

import image_stores
from browser_pages import INJECTED, Probe

pytestmark = [pytest.mark.browser, pytest.mark.oracle]
GRID = "section.rg-step-grid[data-ready='true']"
LONG_PARAM = "a_rather_long_parameter_name_without_any_break_in_it_at_all"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[dict[str, str], Path, Path]:
    pytest.importorskip("mlflow")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.tracking import MlflowClient

    from reportgen.site.build import build_site

    root = tmp_path_factory.mktemp("browser-ux")
    uri = (root / "mlruns").as_uri()
    ids = image_stores.write(uri)
    client = MlflowClient(tracking_uri=uri)
    client.log_param(ids["alpha"], LONG_PARAM, "value-" * 8)
    many = root / "many"
    many.mkdir()
    for i in range(25):
        (many / f"file-{i:02d}.txt").write_text(str(i), encoding="utf-8")
    client.log_artifacts(ids["gamma"], str(many), artifact_path="many")
    out = root / "site"
    result = build_site([str(root / "mlruns")], out, static_charts=False)
    assert result.problems == []
    exp = next(p.parent for p in out.glob("e/*/compare.html") if p.parent.name != "0")
    return ids, out, exp


@pytest.fixture(scope="module")
def server(site):
    """The site on a loopback static server, as any static host would serve it."""
    handler = functools.partial(Quiet, directory=str(site[1]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: D102 - the test output stays readable
        pass


def url_of(kind: str, out: Path, path: Path, server_url: str) -> str:
    return path.as_uri() if kind == "file" else server_url + path.relative_to(out).as_posix()


def probe(page, base: str) -> Probe:
    """A Probe for which the page's own origin is not remote; any other request (favicon.ico too) counts."""
    found = Probe().attach(page)
    if base.startswith("http"):
        page.on("request", lambda req: req.url.startswith(base) and not req.url.endswith("/favicon.ico")
                and req.url in found.remote and found.remote.remove(req.url))
        page.on("response", lambda res: res.status >= 400 and found.errors.append(f"HTTP {res.status}: {res.url}"))
    return found


def grid_step(page) -> str | None:
    return page.get_attribute(GRID, "data-step")


def copy_link(page) -> str:
    page.click("button.rg-copy-link")
    page.wait_for_function("document.querySelector('.rg-copy-status').textContent !== ''")
    return page.get_attribute("button.rg-copy-link", "data-copied-url")


@pytest.mark.parametrize("kind", ["file", "http"])
@pytest.mark.parametrize("which", ["index.html", "compare.html"])
def test_grid_step_survives_a_copied_link(browser, site, server, kind, which):
    ids, out, exp = site
    query = f"?runs={ids['alpha']},{ids['beta']}" if which == "compare.html" else ""
    url = url_of(kind, out, exp / which, server) + query
    page = browser.new_page()
    found = probe(page, server if kind == "http" else "file://")
    page.goto(url)
    page.wait_for_selector(GRID, state="attached")
    assert grid_step(page) == "20"  # the last step any shown run logged: no step in the link
    slider = page.locator(GRID).get_by_label("Step")
    slider.focus()
    page.keyboard.press("ArrowLeft")  # steps of alpha and beta: 0, 5, 10, 20
    page.keyboard.press("ArrowLeft")
    assert grid_step(page) == "5"
    link = copy_link(page)
    assert "step=5" in link.split("#", 1)[1]
    fresh = browser.new_page()
    found_fresh = probe(fresh, server if kind == "http" else "file://")
    fresh.goto(link)
    fresh.wait_for_selector(GRID, state="attached")
    assert grid_step(fresh) == "5"
    assert fresh.input_value(f"{GRID} input.rg-step-slider") == "1"
    cell = fresh.get_attribute(f"{GRID} tbody tr[data-key='samples/digits'] td[data-run-id='{ids['beta']}']", "data-step")
    assert cell == "0"  # beta's nearest step at or below 5
    page.go_back()  # the first move is its own history entry: back is one step later
    assert grid_step(page) == "10"
    page.go_back()
    assert grid_step(page) == "20" and "step=" not in page.url
    for p, f in ((page, found), (fresh, found_fresh)):
        assert p.query_selector_all(INJECTED) == []
        f.assert_clean()
        p.close()


@pytest.mark.parametrize("step, shown", [("7", "5"), ("-3", "0"), ("999999", "20"), ("abc", "20"), ("1e3", "20"),
                                         ("<img src=x data-pwned=1 onerror=alert(1)>", "20"), ("", "20")])
def test_a_stale_or_hostile_step_changes_nothing_and_runs_nothing(page, site, step, shown):
    _ids, _out, exp = site
    found = Probe().attach(page)
    page.goto((exp / "index.html").as_uri() + "#step=" + step.replace("<", "%3C").replace(">", "%3E").replace(" ", "%20"))
    page.wait_for_selector(GRID, state="attached")
    assert grid_step(page) == shown  # the nearest step at or below; before the first step, the first
    assert page.query_selector_all(INJECTED) == []
    found.assert_clean()


@pytest.mark.parametrize("width", [1280, 800, 390])
def test_pages_over_http_ask_only_for_their_files_and_fit_a_phone(browser, site, server, width):
    ids, out, exp = site
    page = browser.new_page(viewport={"width": width, "height": 800})
    found = probe(page, server)
    for path in ("index.html", f"{exp.relative_to(out).as_posix()}/index.html",
                 f"{exp.relative_to(out).as_posix()}/compare.html?runs={ids['alpha']},{ids['beta']}",
                 f"r/{ids['alpha']}.html", f"r/{ids['gamma']}.html", "problems.html"):
        page.goto(server + path)
        page.wait_for_load_state("networkidle")
        wide = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert wide[0] <= wide[1], (path, wide)  # wide tables scroll in their own frame, the page does not
        # a key/value table (params, a long key among them) fits its column: its values are never out of sight
        over = page.eval_on_selector_all("table.rg-kv", "ts => ts.filter(t => t.getBoundingClientRect().width > "
                                         "t.parentElement.getBoundingClientRect().width + 1).map(t => t.id)")
        assert over == [], (path, over)
    found.assert_clean()
    page.close()


def test_a_folder_of_many_files_starts_closed_and_says_how_many(page, site):
    ids, out, _exp = site
    page.goto((out / "r" / f"{ids['gamma']}.html").as_uri())
    folder = page.locator("details:has(> summary.rg-folder:text-matches('^many/'))")
    assert folder.get_attribute("open") is None
    assert "(25 entries)" in folder.locator("> summary").inner_text()
    folder.locator("> summary").click()
    assert folder.locator("li.rg-file-node").count() == 25
    page.goto((out / "r" / f"{ids['alpha']}.html").as_uri())
    assert page.locator("details:has(> summary.rg-folder:text-matches('^images/'))").get_attribute("open") is not None
