"""View state in the URL fragment, in headless Chromium on sites built from a store written by real MLflow:
every piece of the experiment and compare pages' view survives a copied link (from file:// and from a
loopback static server), the back button steps through changes, hostile or stale fragments change nothing
and run nothing, a paged runs table carries its view across pages, and old compare links still work.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

import mlruns_builder as mb
from browser_pages import INJECTED, Probe

pytestmark = pytest.mark.browser
READY = "table.rg-runs[data-ready='true']"
DRAWN = "body[data-charts-drawn='true']"
COMPARED = "#rg-compare[data-ready='true']"
LINE_MARKS = "path[aria-roledescription='line mark']"
EVIL = '<img src=x data-pwned=1 onerror="alert(1)">'


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Six runs logged by real MLflow: lr varies, opt is the same everywhere, loss and acc over 30 steps; a
    hostile run name and param key."""
    pytest.importorskip("mlflow")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("viewstate") / "mlruns"
    client = MlflowClient(tracking_uri=root.as_uri())
    exp = client.create_experiment("views")
    for i in range(6):
        run = client.create_run(exp, run_name=f"run-{i}" if i != 4 else EVIL + " four")
        rid = run.info.run_id
        client.log_param(rid, "lr", str(10.0 ** -(i % 3 + 1)))
        client.log_param(rid, "opt", "adam")
        # A key MLflow refuses, as a foreign writer leaves it: it becomes a column and a fragment key.
        run_dir = Path(run.info.artifact_uri.replace("file://", "")).parent
        (run_dir / "params" / EVIL).write_text(str(i))
        for step in range(30):
            stamp = 1_700_000_000_000 + step * 1000
            client.log_metric(rid, "loss", 1.0 / (step + 1 + i), step=step, timestamp=stamp)
            client.log_metric(rid, "acc", 0.5 + i / 20 + step / 100, step=step, timestamp=stamp)
        client.set_terminated(rid)
    return root


@pytest.fixture(scope="module")
def site(store, tmp_path_factory) -> Path:
    from reportgen.site.build import build_site

    out = tmp_path_factory.mktemp("viewsite") / "site"
    build_site([str(store)], out, static_charts=False)
    return out


@pytest.fixture(scope="module")
def exp_dir(site) -> Path:
    return next(p.parent for p in site.glob("e/*/index.html") if "<h1>views</h1>" in p.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def server(site):
    """The site on a loopback static server, as any static host would serve it."""
    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: D102 - the test output stays readable
        pass


def url_of(kind: str, site: Path, path: Path, server_url: str | None) -> str:
    return path.as_uri() if kind == "file" else server_url + path.relative_to(site).as_posix()


def probe(page, base: str) -> Probe:
    """A Probe whose requests to the page's own origin (the loopback server) are not remote."""
    found = Probe().attach(page)
    if base.startswith("http"):
        page.on("request", lambda req: req.url.startswith(base) and req.url in found.remote and found.remote.remove(req.url))
    return found


@contextlib.contextmanager
def fresh_page(browser, base: str) -> Iterator[tuple[Any, Probe]]:
    """A page in a browser context of its own (nothing carried over but what a test gives it), probed."""
    context = browser.new_context()
    try:
        page = context.new_page()
        yield page, probe(page, base)
    finally:
        context.close()


def run_ids(page) -> list[str]:
    return page.eval_on_selector_all("table.rg-runs tbody tr[data-run-id]", "rows => rows.map(r => r.dataset.runId)")


def shown_ids(page) -> list[str]:
    return page.eval_on_selector_all("table.rg-runs tbody tr[data-run-id]:not([hidden])", "rows => rows.map(r => r.dataset.runId)")


def columns(page) -> dict[str, bool]:
    """data-col -> shown."""
    return dict(page.eval_on_selector_all("th[data-col]", "ths => ths.map(t => [t.dataset.col, !t.hidden])"))


def ticked(page) -> list[str]:
    return page.eval_on_selector_all("input.rg-pick:checked", "boxes => boxes.map(b => b.value)")


def chart_state(page, title: str) -> dict:
    return page.evaluate("""title => {
        const fig = [...document.querySelectorAll('figure.rg-chart')].find(f => f.querySelector('.rg-chart-title').textContent === title);
        return {x: fig.querySelector('select.rg-x-axis').value, log: fig.querySelector('input.rg-log-y').checked,
                smooth: fig.querySelector('input.rg-smooth').value, axis: fig.querySelector('.rg-chart-view').textContent,
                lines: fig.querySelectorAll("path[aria-roledescription='line mark']").length};
    }""", title)


def figure(title: str) -> str:
    return f"figure.rg-chart:has(figcaption:text-is('{title}'))"


def view_of(page) -> dict:
    """Everything of the experiment page's view that a link must carry."""
    return {"filter": page.input_value("input.rg-filter"), "order": run_ids(page), "shown": shown_ids(page),
            "sorted": page.eval_on_selector_all("th[aria-sort]:not([aria-sort='none'])",
                                                "ths => ths.map(t => [t.dataset.col, t.getAttribute('aria-sort')])"),
            "columns": columns(page), "summary": page.input_value("select.rg-metric-summary"),
            "varying": page.is_checked("input.rg-only-varying"), "ticked": ticked(page),
            "count": page.inner_text(".rg-pick-count"), "loss": chart_state(page, "loss"), "acc": chart_state(page, "acc")}


def copy_link(page) -> str:
    page.click("button.rg-copy-link")
    page.wait_for_function("document.querySelector('.rg-copy-status').textContent !== ''")
    link = page.get_attribute("button.rg-copy-link", "data-copied-url")
    assert link == page.url
    return link


def wait_renders(page, title: str, n: int) -> None:
    page.wait_for_function("([title, n]) => [...document.querySelectorAll('figure.rg-chart')].some(f => "
                           "f.querySelector('.rg-chart-title').textContent === title && f.dataset.renders === String(n))",
                           arg=[title, n])


@pytest.mark.parametrize("kind", ["file", "http"])
def test_every_piece_of_the_experiment_view_survives_a_copied_link(browser, site, exp_dir, server, kind):
    base = server if kind == "http" else "file://"
    with fresh_page(browser, base) as (page, found):
        page.goto(url_of(kind, site, exp_dir / "index.html", server))
        page.wait_for_selector(DRAWN, state="attached")
        default = view_of(page)
        assert page.url.split("/")[-1] == "index.html" and page.is_visible("button.rg-copy-link")
        page.fill("input.rg-filter", "run-")  # every run but the one with a hostile name
        page.click("th[data-col='metric:loss']")
        page.click("th[data-col='metric:loss']")  # descending
        page.select_option("select.rg-metric-summary", "min")
        page.uncheck("input.rg-only-varying")
        page.click(".rg-columns summary")
        page.uncheck(".rg-col-toggle[data-col='attr:status']")
        page.check(".rg-col-toggle[data-col='metric:acc:max']")
        page.check(".rg-col-toggle[data-col='attr:user']")
        page.click(".rg-columns summary")
        order = run_ids(page)
        page.check(f"input.rg-pick[value='{order[3]}']")
        page.check(f"input.rg-pick[value='{order[1]}']")
        page.select_option(f"{figure('loss')} select.rg-x-axis", "timestamp")
        wait_renders(page, "loss", 2)
        page.check(f"{figure('loss')} input.rg-log-y")
        wait_renders(page, "loss", 3)
        page.eval_on_selector(f"{figure('acc')} input.rg-smooth", "el => { el.value = '0.6'; el.dispatchEvent(new Event('change')); }")
        wait_renders(page, "acc", 2)
        view = view_of(page)
        # every piece differs from the default view, so the round trip below proves each one
        for key in ("filter", "order", "shown", "sorted", "summary", "varying", "ticked", "count", "loss", "acc"):
            assert view[key] != default[key], key
        assert view["sorted"] == [["metric:loss", "descending"]] and len(view["shown"]) == 5
        assert view["columns"]["metric:loss:min"] and not view["columns"]["metric:loss"]
        assert view["columns"]["metric:acc:max"] and view["columns"]["attr:user"] and not view["columns"]["attr:status"]
        assert view["columns"]["param:opt"]  # same in every run, shown with "only params that vary" off
        assert view["ticked"] == [order[1], order[3]] and view["count"] == "2"
        assert "Wall time" in view["loss"]["axis"] and view["loss"]["log"] and view["acc"]["smooth"] == "0.6"
        assert view["acc"]["lines"] == 2 * view["loss"]["lines"]  # raw (faint) and smoothed per run
        link = copy_link(page)
        assert "#" in link and link.split("#")[0] == page.url.split("#")[0]
        found.assert_clean()
    # A new browser context: nothing but the link.
    with fresh_page(browser, base) as (page, found):
        page.goto(link)
        page.wait_for_selector(DRAWN, state="attached")
        wait_renders(page, "acc", 1)
        assert view_of(page) == view
        assert page.url == link  # opening a link writes no new state
        assert page.query_selector_all(INJECTED) == []
        found.assert_clean()


@pytest.mark.parametrize("kind", ["file", "http"])
def test_compare_runs_baseline_and_differences_survive_a_copied_link(browser, site, exp_dir, server, kind):
    base = server if kind == "http" else "file://"
    with fresh_page(browser, base) as (page, found):
        page.goto(url_of(kind, site, exp_dir / "index.html", server))
        page.wait_for_selector(READY, state="attached")
        ids = run_ids(page)
        chosen = [ids[0], ids[2], ids[5]]
        compare = url_of(kind, site, exp_dir / "compare.html", server)
        page.goto(compare + "#runs=" + ",".join(chosen))
        page.wait_for_selector(COMPARED, state="attached")
        page.select_option("select.rg-baseline-select", "2")
        page.click("input.rg-only-differences")
        page.select_option(f"{figure('loss')} select.rg-x-axis", "timestamp")
        wait_renders(page, "loss", 2)
        expected = compared(page)
        assert expected["heads"] == chosen and expected["baseline"] == [chosen[2]]
        link = copy_link(page)
        assert f"base={chosen[2]}" in link and f"runs={','.join(chosen)}" in link
        found.assert_clean()
    with fresh_page(browser, base) as (page, found):
        page.goto(link)
        page.wait_for_selector(COMPARED, state="attached")
        page.wait_for_selector(DRAWN, state="attached")
        assert compared(page) == expected
        found.assert_clean()


def compared(page) -> dict:
    return {"heads": page.eval_on_selector_all(".rg-compare-table th.rg-run-col", "ths => ths.map(t => t.dataset.runId)"),
            "baseline": page.eval_on_selector_all("thead th.rg-baseline", "ths => ths.map(t => t.dataset.runId)"),
            "select": page.input_value("select.rg-baseline-select"),
            "only": page.is_checked("input.rg-only-differences"),
            "hidden": len(page.query_selector_all("tr.rg-row[hidden]")),
            "x": page.input_value(f"{figure('loss')} select.rg-x-axis")}


def test_old_compare_links_keep_working_and_the_fragment_wins(page, site, exp_dir):
    found = Probe().attach(page)
    page.goto((exp_dir / "index.html").as_uri())
    page.wait_for_selector(READY, state="attached")
    ids = run_ids(page)
    old = (exp_dir / "compare.html").as_uri() + f"?runs={ids[1]},{ids[3]}"
    page.goto(old)
    page.wait_for_selector(COMPARED, state="attached")
    assert compared(page)["heads"] == [ids[1], ids[3]] and page.url == old
    page.select_option("select.rg-baseline-select", "1")
    # the query keeps naming the runs; the fragment adds only the baseline
    assert page.url == old + f"#base={ids[3]}"
    # other runs in the fragment of the same page: it loads again with them
    page.goto((exp_dir / "compare.html").as_uri() + f"?runs={ids[1]},{ids[3]}#runs={ids[4]},{ids[0]}&base={ids[0]}")
    page.wait_for_function(f"[...document.querySelectorAll('.rg-compare-table th.rg-run-col')].map(t => t.dataset.runId)"
                           f".join() === '{ids[4]},{ids[0]}'")
    assert compared(page)["heads"] == [ids[4], ids[0]] and compared(page)["baseline"] == [ids[0]]
    # the runs table still links with ?runs=, which the compare page reads
    page.goto((exp_dir / "index.html").as_uri())
    page.wait_for_selector(READY, state="attached")
    page.check(f"input.rg-pick[value='{ids[2]}']")
    page.check(f"input.rg-pick[value='{ids[0]}']")
    page.click("a.rg-compare")
    page.wait_for_url("**/compare.html?runs=*")
    page.wait_for_selector(COMPARED, state="attached")
    assert compared(page)["heads"] == [ids[0], ids[2]]
    found.assert_clean()


def test_back_button_steps_through_changes(page, site, exp_dir):
    found = Probe().attach(page)
    start = (exp_dir / "index.html").as_uri()
    page.goto(start)
    page.wait_for_selector(DRAWN, state="attached")
    entries = page.evaluate("history.length")
    original = run_ids(page)
    page.click("th[data-col='metric:acc']")
    assert run_ids(page) != original
    page.check(f"input.rg-pick[value='{original[0]}']")
    page.uncheck("input.rg-only-varying")
    # typing is one history entry per burst, written once the typing pauses, not one per key
    page.type("input.rg-filter", "run-1", delay=30)
    page.wait_for_function("location.hash.includes('q=run-1')")
    page.type("input.rg-filter", "x", delay=30)
    page.wait_for_function("location.hash.includes('q=run-1x')")
    page.check(f"{figure('loss')} input.rg-log-y")
    wait_renders(page, "loss", 2)
    assert page.evaluate("history.length") == entries + 5  # sort, tick, vary, the filter, log scale

    page.go_back()
    page.wait_for_function("!location.hash.includes('log.loss')")
    wait_renders(page, "loss", 3)
    assert not chart_state(page, "loss")["log"] and page.input_value("input.rg-filter") == "run-1x"
    page.go_back()  # the whole typed filter in one step
    page.wait_for_function("!location.hash.includes('q=')")
    assert page.input_value("input.rg-filter") == "" and len(shown_ids(page)) == 6
    assert not page.is_checked("input.rg-only-varying")
    page.go_back()
    page.wait_for_function("!location.hash.includes('vary=')")
    assert page.is_checked("input.rg-only-varying") and ticked(page) == [original[0]]
    page.go_back()
    page.wait_for_function("!location.hash.includes('pick=')")
    assert ticked(page) == [] and page.inner_text(".rg-pick-count") == "0"
    page.go_back()
    page.wait_for_function("location.hash === ''")
    assert run_ids(page) == original and page.query_selector("th[aria-sort='ascending']") is None
    page.go_forward()
    page.wait_for_function("location.hash.includes('sort=metric:acc')")
    assert page.get_attribute("th[data-col='metric:acc']", "aria-sort") == "ascending"
    # a plain in-page anchor is not a view: following one keeps the view
    page.evaluate("location.hash = 'rg-runs'")
    page.wait_for_function("location.hash === '#rg-runs'")
    assert page.get_attribute("th[data-col='metric:acc']", "aria-sort") == "ascending"
    found.assert_clean()


HOSTILE_FRAGMENTS = [
    "q=" + EVIL.replace(" ", "%20"),
    "sort=%3Cscript%3Ealert(1)%3C/script%3E&dir=%22%3E%3Cb%20data-pwned=1%3E",
    "sort=attr:name']%20,%20*&dir=sideways",
    "hide=no-such-column&show=%22%3E%3Csvg%20data-pwned=1%20onload=alert(3)%3E&show=metric:gone:min",
    "sum=__proto__&vary=maybe&pick=%3Cb%20data-pwned=1%3E,nope,,,",
    "sum=constructor&pick=toString&page=-5",
    "x.loss=constructor&log.loss=yes&smooth.loss=NaN&outliers.loss=1&x.acc=__proto__&smooth.acc=5",
    "x.loss=javascript:alert(4)&smooth.loss=1e-400&smooth.acc=-0.5&x.%3Cimg%20src=x%20onerror=alert(5)%3E=step",
    "page=99999999999999999999&page=2&q",
    "%E0%A4%A&%%%=%&=&&==",
    "q=%E2%80%AE%E2%80%A8%00",
]


@pytest.mark.parametrize("fragment", HOSTILE_FRAGMENTS)
def test_hostile_or_stale_fragments_change_nothing_and_run_nothing(page, site, exp_dir, fragment):
    found = Probe().attach(page)
    page.goto((exp_dir / "index.html").as_uri())
    page.wait_for_selector(DRAWN, state="attached")
    default = view_of(page)
    page.goto((exp_dir / "index.html").as_uri() + "#" + fragment)
    page.reload()  # a fresh load of the link, not a same-document jump
    page.wait_for_selector(DRAWN, state="attached")
    view = view_of(page)
    if fragment.startswith("q="):  # a filter is text: it filters the rows and stays text
        assert view["filter"] == page.evaluate("new URLSearchParams(location.hash.slice(1)).get('q')") != ""
        assert set(view["shown"]) < set(default["shown"])
        view["filter"], view["shown"] = default["filter"], default["shown"]
    assert view == default
    assert page.query_selector_all(INJECTED) == []
    found.assert_clean()


@pytest.mark.parametrize("fragment", [
    "runs=%3Cimg%20src=x%20data-pwned=1%20onerror=alert(1)%3E,nope&base=%22%3E%3Cb%20data-pwned=1%3E",
    "base=__proto__&diff=%3Cscript%3E",
    "runs=,,,&base=constructor",
])
def test_hostile_compare_fragments_run_nothing(page, exp_dir, fragment):
    found = Probe().attach(page)
    page.goto((exp_dir / "compare.html").as_uri())
    page.wait_for_selector(COMPARED, state="attached")
    default = compared(page)["heads"]
    page.goto("about:blank")
    page.goto((exp_dir / "compare.html").as_uri() + "#" + fragment)
    page.wait_for_selector(COMPARED, state="attached")
    page.wait_for_selector(DRAWN, state="attached")
    assert page.query_selector_all(INJECTED) == []
    # no id in the fragment is one of the page's runs: the page's own choice shows, the first run as baseline
    assert compared(page)["heads"] == default and page.input_value("select.rg-baseline-select") == "0"
    found.assert_clean()


def test_copy_link_without_a_clipboard_selects_the_link_in_a_field(page, exp_dir):
    found = Probe().attach(page)
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    page.goto((exp_dir / "index.html").as_uri())
    page.wait_for_selector(READY, state="attached")
    page.click("th[data-col='param:lr']")
    page.click("button.rg-copy-link")
    field = page.wait_for_selector("input.rg-link-field", state="visible")
    assert field.input_value() == page.url and "sort=param:lr" in page.url
    assert page.evaluate("document.activeElement === document.querySelector('input.rg-link-field') && "
                         "document.activeElement.selectionEnd - document.activeElement.selectionStart === location.href.length")
    page.click("th[data-col='param:lr']")  # a new view: the old link goes away
    assert page.is_hidden("input.rg-link-field")
    # back to the page's own view by hand: the address has no fragment left
    page.goto("about:blank")
    page.goto((exp_dir / "index.html").as_uri())
    page.wait_for_selector(READY, state="attached")
    page.click(".rg-columns summary")
    page.check(".rg-col-toggle[data-col='attr:user']")
    assert page.url.endswith("#show=attr:user")
    page.uncheck(".rg-col-toggle[data-col='attr:user']")
    assert page.url == (exp_dir / "index.html").as_uri()
    found.assert_clean()


def test_copy_link_is_hidden_without_javascript(browser, exp_dir):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        for name in ("index.html", "compare.html"):
            page.goto((exp_dir / name).as_uri())
            assert page.query_selector("button.rg-copy-link") is not None and page.is_hidden("button.rg-copy-link")
    finally:
        context.close()


# --- A runs table split over static pages (260 runs, 250 a page) -------------------------------------
PAGED = 260


@pytest.fixture(scope="module")
def paged(tmp_path_factory) -> Path:
    from reportgen.site.build import build_site

    root = tmp_path_factory.mktemp("paged") / "mlruns"
    folder = mb.experiment(root, "1", "paged")
    for i in range(PAGED):
        mb.run(folder, i, metrics={"score": [(mb.T0, float((i * 37) % 100), 0)]}, params={"seed": str(i)})
    out = tmp_path_factory.mktemp("pagedsite") / "site"
    build_site([str(root)], out, workers=1, static_charts=False)
    return out / "e" / "1"


def test_paged_table_carries_page_sort_and_ticks_through_a_link(browser, paged):
    with fresh_page(browser, "file://") as (page, found):
        page.goto((paged / "index.html").as_uri())
        page.wait_for_selector(READY, state="attached")
        page.click("th[data-col='param:seed']")
        page.wait_for_selector("table.rg-runs[data-all-rows='true']", state="attached")
        page.fill("input.rg-filter", "run-")  # every run: a filter in the link must not send it back to page 1
        page.wait_for_function("location.hash.includes('q=run-')")
        first = run_ids(page)[0]
        page.check(f"input.rg-pick[value='{first}']")
        page.click("nav.rg-js-pager >> nth=0 >> button[data-page='2']")
        second = run_ids(page)
        assert len(second) == PAGED - 250
        page.check(f"input.rg-pick[value='{second[-1]}']")
        assert "page=2" in page.url and page.inner_text(".rg-pick-count") == "2"
        link = page.url
        found.assert_clean()
    with fresh_page(browser, "file://") as (page, found):
        page.goto(link)
        page.wait_for_selector("table.rg-runs[data-all-rows='true']", state="attached")
        page.wait_for_function(f"document.querySelectorAll('table.rg-runs tbody tr[data-run-id]').length === {PAGED - 250}")
        assert run_ids(page) == second and ticked(page) == [second[-1]]
        assert page.inner_text(".rg-pick-count") == "2"  # the tick on the other page is kept too
        assert page.get_attribute("th[data-col='param:seed']", "aria-sort") == "ascending"
        found.assert_clean()


def test_static_page_links_carry_the_view_but_not_the_page(page, paged):
    found = Probe().attach(page)
    # Summary, columns and ticks need no other page's rows: the static pager stays, its links carry them.
    page.goto((paged / "runs-2.html").as_uri() + "#sum=max&hide=attr:status")
    page.wait_for_selector(READY, state="attached")
    assert page.input_value("select.rg-metric-summary") == "max" and columns(page)["metric:score:max"]
    page.check(f"input.rg-pick[value='{run_ids(page)[0]}']")
    links = page.eval_on_selector_all("nav.rg-pager a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert links and all(href.endswith(f"#sum=max&hide=attr:status&pick={run_ids(page)[0]}") for href in links)
    assert page.query_selector("table.rg-runs[data-all-rows='true']") is None
    page.goto("about:blank")  # a new load, not a jump within the page
    page.goto((paged / "runs-2.html").as_uri() + links[0].split("index.html")[1] + "&page=2")
    page.wait_for_selector("table.rg-runs[data-all-rows='true']", state="attached")  # page=2 is a page of all rows
    links = page.eval_on_selector_all("nav.rg-pager a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert links == []  # the static pager gave way to the one of all rows
    page.goto((paged / "index.html").as_uri() + "#sum=max&hide=attr:status")
    page.wait_for_selector(READY, state="attached")
    href = page.get_attribute("nav.rg-pager >> nth=0 >> a:text-is('2')", "href")
    assert href == "runs-2.html#sum=max&hide=attr:status"
    page.goto(paged.as_uri() + "/" + href)
    page.wait_for_selector(READY, state="attached")
    assert page.input_value("select.rg-metric-summary") == "max" and not columns(page)["attr:status"]
    found.assert_clean()
