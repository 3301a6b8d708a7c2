"""Built sites in headless Chromium: the bundled demo (sample_mlruns/) and a store written by real MLflow with
hostile strings in every field a page shows. Every page loads from file:// with no error, no request
outside file:// and no dialog; every chart draws marks; the runs table and the compare selection work;
pages read with JavaScript off; nothing from the data is ever parsed as markup.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from browser_pages import INJECTED, MARKS, Probe

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[1]
DRAWN = "body[data-charts-drawn='true']"
GENERATOR = '<meta name="generator" content="reportgen'
XSS = [
    '<img src=x data-pwned=1 onerror="alert(1)">',
    '</script><script>alert(2)</script><b data-pwned=1>',
    '"><svg data-pwned=1 onload=alert(3)>',
    "javascript:alert(4)",
    "{{7*7}}\u2028\u202e<b data-pwned=1>",
]
NOTE = """# Note <script>alert(5)</script>

<img src="javascript:alert(6)" data-pwned=1 onerror=alert(6)> [click](javascript:alert(7)) <iframe src="javascript:alert(8)"></iframe>
"""


def build(stores: list[str], out: Path) -> Path:
    from reportgen.site.build import build_site

    build_site(stores, out)
    return out


def report_pages(site: Path) -> list[Path]:
    """The site's own pages (copied artifacts are not pages)."""
    pages = []
    for path in sorted(site.rglob("*.html")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            if GENERATOR in handle.read(4096):
                pages.append(path)
    return pages


def hostile_mlflow_store(root: Path) -> Path:
    """A file store written by real MLflow: its varied test store plus one experiment of hostile strings."""
    from mlflow_oracle import build_store

    build_store(root)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=root.as_uri())
    exp = client.create_experiment(XSS[1])
    client.set_experiment_tag(exp, "mlflow.note.content", NOTE)
    for i, name in enumerate(XSS):
        run = client.create_run(exp, run_name=name)
        rid = run.info.run_id
        client.log_param(rid, "lr", str(10.0 ** -(i + 1)))
        client.log_param(rid, "evil.param", name)
        client.set_tag(rid, "evil tag", name)
        client.set_tag(rid, "mlflow.note.content", NOTE)
        for step in range(30):
            client.log_metric(rid, "loss", 1.0 / (step + 1 + i), step=step, timestamp=1_700_000_000_000 + step * 1000)
        client.log_text(rid, f"<script>alert(9)</script>{name}", "notes/<b data-pwned=1>.txt")
        client.log_text(rid, "<html><body><script>alert(10)</script></body></html>", "report.html")
        client.log_text(rid, '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(11)"><script>alert(12)</script></svg>',
                        "plot.svg")
        client.set_terminated(rid)
        # Keys MLflow itself refuses ('.' and '[' nest in Vega; markup), as a foreign writer leaves them.
        run_dir = Path(run.info.artifact_uri.replace("file://", "")).parent
        for key in ("a[0].b", '<img src=x data-pwned=1 onerror=alert(13)>'):
            (run_dir / "metrics" / key).write_text("".join(f"{1_700_000_000_000 + s} {s * 0.5} {s}\n" for s in range(10)))
        (run_dir / "params" / '<b data-pwned=1 onclick=alert(14)>').write_text(name)
        (run_dir / "tags" / '"><svg data-pwned=1 onload=alert(15)>').write_text(name)
    return root


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory) -> Path:
    if not (REPO / "sample_mlruns").is_dir():
        pytest.skip("sample_mlruns/ is not in the repository")
    return build([str(REPO / "sample_mlruns")], tmp_path_factory.mktemp("sample") / "site")


@pytest.fixture(scope="module")
def mlflow_site(tmp_path_factory) -> Path:
    pytest.importorskip("mlflow")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    root = hostile_mlflow_store(tmp_path_factory.mktemp("mlflow") / "mlruns")
    return build([str(root)], tmp_path_factory.mktemp("mlflowsite") / "site")


def check_every_page(page, site: Path) -> int:
    pages = report_pages(site)
    kinds = {p.relative_to(site).parts[0] for p in pages}
    assert {"index.html", "e", "r"} <= kinds, kinds
    charts = 0
    probe = Probe().attach(page)
    for path in pages:
        page.goto(path.as_uri())
        page.wait_for_selector(DRAWN, state="attached", timeout=30_000)
        for figure in page.query_selector_all("figure.rg-chart"):
            assert figure.get_attribute("data-drawn") == "true", path
            assert len(figure.query_selector_all(MARKS)) > 0, (path, figure.inner_text())
            charts += 1
        assert page.query_selector_all(INJECTED) == [], path
        probe.assert_clean()
    return charts


@pytest.mark.parametrize("which", ["sample_site", "mlflow_site"])
def test_every_page_loads_clean_and_draws(page, which, request):
    site = request.getfixturevalue(which)
    charts = check_every_page(page, site)
    assert charts > 0


def experiment_with_most_runs(site: Path) -> Path:
    pages = sorted(site.glob("e/*/index.html"), key=lambda p: -p.read_text(encoding="utf-8").count("data-run-id="))
    return pages[0]


def test_runs_table_and_compare_on_built_site(page, sample_site):
    path = experiment_with_most_runs(sample_site)
    probe = Probe().attach(page)
    page.goto(path.as_uri())
    page.wait_for_selector("table.rg-runs[data-ready='true']", state="attached")
    ids = page.eval_on_selector_all("table.rg-runs tbody tr[data-run-id]", "rows => rows.map(r => r.dataset.runId)")
    assert len(ids) >= 3
    # sort by the first metric column, numerically
    metric = page.get_attribute("th[data-kind='metric']:not([hidden])", "data-col")
    header = f"th[data-col='{metric}']"
    page.click(header)
    index = page.eval_on_selector(header, "th => th.cellIndex")
    values = page.eval_on_selector_all(  # top-level runs; nested ones stay under their parent
        "table.rg-runs tbody tr[data-run-id]:not([data-parent])", f"rows => rows.map(r => r.cells[{index}].dataset.value)")
    numbers = [float(v) for v in values if v not in ("", "NaN", "+inf", "-inf")]
    assert numbers == sorted(numbers) and len(numbers) >= 2
    # filter by one run's name
    name = page.inner_text("table.rg-runs tbody tr[data-run-id] td.rg-run-name a")
    page.fill("input.rg-filter", name)
    shown = page.eval_on_selector_all("table.rg-runs tbody tr[data-run-id]:not([hidden])", "rows => rows.length")
    assert 1 <= shown < len(ids)
    page.fill("input.rg-filter", "")
    # show the hidden "(min)" column of that metric
    page.click(".rg-columns summary")
    page.check(f".rg-col-toggle[data-col='{metric}:min']")
    assert page.is_visible(f"th[data-col='{metric}:min']")
    page.click(".rg-columns summary")
    # tick two runs and follow the compare link
    picks = [ids[0], ids[2]]
    for run_id in picks:
        page.check(f"input.rg-pick[value='{run_id}']")
    assert page.get_attribute("a.rg-compare", "aria-disabled") == "false"
    page.click("a.rg-compare")
    page.wait_for_url("**/compare.html?runs=*")
    page.wait_for_selector("#rg-compare[data-ready='true']", state="attached")
    page.wait_for_selector(DRAWN, state="attached")
    heads = page.eval_on_selector_all(".rg-compare-table th.rg-run-col", "ths => ths.map(t => t.dataset.runId)")
    assert sorted(heads) == sorted(picks)  # in the table's current (sorted) order
    for figure in page.query_selector_all("#rg-compare figure.rg-chart"):
        assert len(figure.query_selector_all(MARKS)) > 0
    probe.assert_clean()


@pytest.mark.parametrize("which", ["sample_site", "mlflow_site"])
def test_pages_readable_without_javascript(browser, which, request):
    site = request.getfixturevalue(which)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        probe = Probe().attach(page)
        run_rows = 0
        for path in report_pages(site):
            page.goto(path.as_uri())
            rel = path.relative_to(site).as_posix()
            if rel.startswith("e/") and rel.endswith("/index.html"):
                rows = page.query_selector_all("table.rg-runs tbody tr[data-run-id]")
                assert all(row.is_visible() for row in rows), rel
                run_rows += len(rows)
            if rel.startswith("e/") and rel.endswith("compare.html"):
                assert page.query_selector("#rg-compare") is not None, rel
            # a chart without JavaScript is its static image (or a note pointing at the tables)
            for figure in page.query_selector_all("figure.rg-chart"):
                image = figure.query_selector("img.rg-chart-fallback")
                if image is not None:
                    assert image.evaluate("img => img.complete && img.naturalWidth > 0"), rel
                else:
                    assert figure.query_selector(".rg-chart-note") is not None, rel
            assert page.query_selector_all(INJECTED) == [], rel
        assert run_rows >= 5  # the runs tables are there without scripts
        probe.assert_clean()
    finally:
        context.close()


def test_hostile_strings_shown_as_text(page, mlflow_site):
    path = next(p for p in sorted(mlflow_site.glob("e/*/index.html")) if "alert(2)" in p.read_text(encoding="utf-8"))
    probe = Probe().attach(page)
    page.goto(path.as_uri())
    page.wait_for_selector(DRAWN, state="attached")
    table = page.inner_text("table.rg-runs")
    assert XSS[0] in table and XSS[1] in table
    # the keys only a foreign writer leaves reached the page, as text
    headers = page.eval_on_selector_all("table.rg-runs th[data-col]", "ths => ths.map(th => th.dataset.col)")
    assert "param:<b data-pwned=1 onclick=alert(14)>" in headers
    assert "metric:<img src=x data-pwned=1 onerror=alert(13)>" in headers
    assert 'tag:"><svg data-pwned=1 onload=alert(15)>' in headers
    run_pages = sorted(mlflow_site.glob("r/*.html"))
    for run_page in run_pages:
        page.goto(run_page.as_uri())
        page.wait_for_selector(DRAWN, state="attached")
        assert page.query_selector_all(INJECTED) == []
        assert page.query_selector_all("iframe:not([sandbox])") == []
    probe.assert_clean()


def test_scatter_point_links_to_its_run_page(page, sample_site):
    path = next(p for p in sorted(sample_site.glob("e/*/index.html"))
                if "against" in p.read_text(encoding="utf-8"))  # a page with a param-against-metric scatter
    probe = Probe().attach(page)
    page.goto(path.as_uri())
    page.wait_for_selector(DRAWN, state="attached")
    scatter = page.evaluate_handle("""() => Array.from(document.querySelectorAll('figure.rg-chart')).find(f => {
        const title = f.querySelector('.rg-chart-title').textContent;
        return title.includes(' against ') && !title.startsWith('Parameters'); })""").as_element()
    point = scatter.query_selector_all("[aria-roledescription='point']")[0]
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**/r/*.html")
    page.wait_for_selector(DRAWN, state="attached")
    assert len(page.context.pages) == 1  # same tab, relative link
    probe.assert_clean()


def test_diverged_run_does_not_flatten_the_others(page, sample_site):
    """The demo's lr=1e5 run reaches ~1e299: its chart opens scaled to the other runs, with a toggle."""
    path = next(p for p in sorted(sample_site.glob("e/*/index.html")) if "rg-spec" in p.read_text(encoding="utf-8")
                and '"robust_y":[' in p.read_text(encoding="utf-8"))
    probe = Probe().attach(page)
    page.goto(path.as_uri())
    page.wait_for_selector(DRAWN, state="attached")
    figure = page.query_selector("figure.rg-chart:has(input.rg-ignore-outliers)")
    box = figure.query_selector("input.rg-ignore-outliers")
    assert box.is_checked()

    def y_labels() -> list[float]:
        texts = figure.eval_on_selector_all("g[aria-roledescription='axis'][aria-label^='Y-axis'] text",
                                            "ts => ts.map(t => t.textContent)")
        return [float(t.replace(",", "").replace("\u2212", "-")) for t in texts if t.strip() and t[0] in "-\u22120123456789"]

    assert max(y_labels()) < 1e6
    box.uncheck()
    page.wait_for_function("f => f.dataset.renders === '2'", arg=figure)
    assert max(y_labels()) > 1e100
    box.check()
    figure.eval_on_selector("input.rg-smooth", "el => { el.value = '0.6'; el.dispatchEvent(new Event('change')); }")
    page.wait_for_function("f => f.dataset.renders === '4'", arg=figure)
    assert max(y_labels()) < 1e6
    probe.assert_clean()


def test_compare_drops_outlier_scaling_when_the_outlier_run_is_not_chosen(page, sample_site):
    compare = next(p.parent / "compare.html" for p in sorted(sample_site.glob("e/*/index.html"))
                   if '"robust_y":[' in p.read_text(encoding="utf-8"))
    data = json.loads(re.search(r'id="rg-compare-data">(.*?)</script>', compare.read_text(encoding="utf-8"), re.S)[1])
    huge = {r["run_id"] for r in data["runs"] if any(isinstance(v, str) or (v or 0) > 1e6 for v in r["metrics"].values())}
    calm = [r["run_id"] for r in data["runs"] if r["run_id"] not in huge][:2]
    probe = Probe().attach(page)
    page.goto(compare.as_uri() + "?runs=" + ",".join(calm))
    page.wait_for_selector(DRAWN, state="attached")
    assert page.query_selector_all("#rg-compare input.rg-ignore-outliers") == []
    page.goto(compare.as_uri() + "?runs=" + ",".join(calm + sorted(huge)[:1]))
    page.wait_for_selector(DRAWN, state="attached")
    assert len(page.query_selector_all("#rg-compare input.rg-ignore-outliers")) >= 1
    probe.assert_clean()
