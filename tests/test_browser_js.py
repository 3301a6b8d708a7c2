"""The theme's JavaScript in headless Chromium, on a hand-written site that follows the page markup contract:
charts draw marks, the runs table sorts, filters, hides columns and picks runs to compare, the compare page
diffs runs, history controls redraw; no errors, no remote request, no script from data ever runs.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from browser_pages import HOSTILE, INJECTED, MARKS, Probe, build_fixture_site, fixture_runs

pytestmark = pytest.mark.browser
DRAWN = "body[data-charts-drawn='true']"
LINE_MARKS = "path[aria-roledescription='line mark']"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build_fixture_site(tmp_path_factory.mktemp("jsfixture"))


def open_page(page, url: str) -> Probe:
    probe = Probe().attach(page)
    page.goto(url)
    page.wait_for_selector(DRAWN, state="attached", timeout=30_000)
    return probe


def run_order(page) -> list[str]:
    return page.eval_on_selector_all("table.rg-runs tbody tr", "rows => rows.map(r => r.dataset.runId)")


def visible_run_ids(page) -> list[str]:
    return page.eval_on_selector_all("table.rg-runs tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.runId)")


def test_experiment_page_draws_every_chart(page, site):
    probe = open_page(page, (site / "experiment.html").as_uri())
    figures = page.query_selector_all("figure.rg-chart")
    assert len(figures) == 11
    for figure in figures:
        assert figure.get_attribute("data-drawn") == "true"
        assert len(figure.query_selector_all(MARKS)) > 0, figure.inner_text()
    # each history chart draws one line per run that logged its metric
    loss = page.query_selector("figure.rg-chart[data-spec-id='rg-spec-h6']")
    assert len(loss.query_selector_all(LINE_MARKS)) == 6
    scatter = page.query_selector("figure.rg-chart[data-spec-id='rg-spec-scatter']")
    assert len(scatter.query_selector_all("[aria-roledescription='point']")) == 6
    assert page.get_attribute("body", "data-charts-failed") is None
    assert page.query_selector_all(INJECTED) == []
    probe.assert_clean()


def test_chart_colours_follow_css_variables(page, site):
    probe = Probe().attach(page)
    page.goto((site / "experiment.html").as_uri())
    page.wait_for_selector(DRAWN, state="attached")
    # CSSOM, as a theme stylesheet would set them (an inline <style> is refused by the page's CSP)
    page.evaluate("""() => { const s = document.documentElement.style;
        s.setProperty('--rg-chart-palette', '#123456, #abcdef'); s.setProperty('--rg-fg', '#010203'); }""")
    page.emulate_media(color_scheme="dark")  # a scheme change redraws with the new variables
    page.wait_for_function("document.querySelector(\"[data-spec-id='rg-spec-h6']\").dataset.renders === '2'")
    strokes = page.eval_on_selector_all(f"[data-spec-id='rg-spec-h6'] {LINE_MARKS}", "ps => ps.map(p => p.getAttribute('stroke'))")
    assert strokes[:2] == ["#123456", "#abcdef"]
    probe.assert_clean()


def test_runs_table_sorts_numbers_as_numbers(page, site):
    probe = open_page(page, (site / "experiment.html").as_uri())
    ids = [r["run_id"] for r in fixture_runs()[0]]  # loss = 1/(i+1); run 5 is nested under run 0
    page.click("th[data-col='loss']")
    assert run_order(page) == [ids[4], ids[3], ids[2], ids[1], ids[0], ids[5]]  # the child stays under its parent
    assert page.get_attribute("th[data-col='loss']", "aria-sort") == "ascending"
    page.click("th[data-col='loss']")
    assert run_order(page) == [ids[0], ids[5], ids[1], ids[2], ids[3], ids[4]]
    # a param column where text sort and numeric sort disagree: 0.1, 0.01, 0.001
    page.click("th[data-col='lr']")
    lrs = page.eval_on_selector_all("table.rg-runs tbody tr:not([data-parent])", "rows => rows.map(r => r.querySelector(\"td:nth-child(\" + "
                                    "(document.querySelector(\"th[data-col='lr']\").cellIndex + 1) + \")\").dataset.value)")
    assert [float(v) for v in lrs] == sorted(float(v) for v in lrs)
    # keyboard: Enter on a focused header sorts too
    page.focus("th[data-col='name']")
    page.keyboard.press("Enter")
    assert page.get_attribute("th[data-col='name']", "aria-sort") == "ascending"
    probe.assert_clean()


def test_runs_table_filter_box(page, site):
    probe = open_page(page, (site / "experiment.html").as_uri())
    page.fill("input.rg-filter", "run-2")
    assert visible_run_ids(page) == [fixture_runs()[0][2]["run_id"]]
    page.fill("input.rg-filter", "adam 0.01")  # every term must match
    assert len(visible_run_ids(page)) == 2
    page.fill("input.rg-filter", "")
    assert len(visible_run_ids(page)) == 6
    probe.assert_clean()


def test_column_toggles_and_only_varying(page, site):
    probe = open_page(page, (site / "experiment.html").as_uri())
    toggles = page.query_selector_all(".rg-column-toggles input.rg-col-toggle")
    assert len(toggles) == len(page.query_selector_all("th[data-col]"))
    page.uncheck(".rg-col-toggle[data-col='lr']")
    assert page.is_hidden("th[data-col='lr']")
    index = page.eval_on_selector("th[data-col='lr']", "th => th.cellIndex")
    assert page.eval_on_selector_all(f"tbody tr td:nth-child({index + 1})", "tds => tds.every(td => td.hidden)")
    page.check(".rg-col-toggle[data-col='lr']")
    assert page.is_visible("th[data-col='lr']")
    # "optimizer" is adam everywhere: "only params that vary" hides it and keeps "lr"
    assert page.get_attribute("th[data-col='optimizer']", "data-varies") == "false"
    page.check("input.rg-only-varying")
    assert page.is_hidden("th[data-col='optimizer']") and page.is_visible("th[data-col='lr']")
    assert page.is_visible("th[data-col='team']")  # a constant tag is not a param
    page.uncheck("input.rg-only-varying")
    assert page.is_visible("th[data-col='optimizer']")
    probe.assert_clean()


def test_compare_selection_opens_compare_page(page, site):
    probe = open_page(page, (site / "experiment.html").as_uri())
    runs, _ = fixture_runs()
    assert page.is_disabled("button.rg-compare")
    page.check(f"input.rg-pick[value='{runs[1]['run_id']}']")
    assert page.is_disabled("button.rg-compare")
    page.check(f"input.rg-pick[value='{runs[3]['run_id']}']")
    assert page.inner_text(".rg-pick-count") == "2"
    page.click("button.rg-compare")
    page.wait_for_url("**/compare.html?runs=*")
    assert page.url.endswith(f"compare.html?runs={runs[1]['run_id']},{runs[3]['run_id']}")
    page.wait_for_selector("#rg-compare[data-ready='true']", state="attached")
    page.wait_for_selector(DRAWN, state="attached")
    heads = page.eval_on_selector_all(".rg-compare-table th.rg-run-col", "ths => ths.map(t => t.dataset.runId)")
    assert heads == [runs[1]["run_id"], runs[3]["run_id"]]
    probe.assert_clean()


def test_compare_page_diff_baseline_and_histories(page, site):
    runs, _ = fixture_runs()
    ids = [runs[0]["run_id"], runs[2]["run_id"], runs[4]["run_id"]]
    probe = open_page(page, (site / "compare.html").as_uri() + "?runs=" + ",".join(ids))
    rows = page.query_selector_all("tbody[data-section='params'] tr.rg-row")
    same = {r.get_attribute("data-key"): r.get_attribute("data-same") for r in rows}
    assert same["optimizer"] == "true" and same["lr"] == "false"
    page.check("input.rg-only-differences")
    assert page.is_hidden("tr.rg-row[data-key='optimizer']") and page.is_visible("tr.rg-row[data-key='lr']")
    # deltas against the first run (loss 1.0): run 2 has 1/3
    loss_cells = page.query_selector_all("tr.rg-row[data-key='loss'] td")
    assert loss_cells[0].query_selector(".rg-delta") is None
    assert "\u22120.666667" in loss_cells[1].inner_text() and "\u221266.67%" in loss_cells[1].inner_text()
    page.select_option("select.rg-baseline-select", "1")
    loss_cells = page.query_selector_all("tr.rg-row[data-key='loss'] td")
    assert loss_cells[1].query_selector(".rg-delta") is None and "+0.666667" in loss_cells[0].inner_text()
    # overlaid histories: only the chosen runs, one line each
    loss = page.query_selector("figure.rg-chart[data-metric='loss']")
    assert loss.get_attribute("data-drawn") == "true"
    assert len(loss.query_selector_all(LINE_MARKS)) == 3
    assert page.query_selector_all(INJECTED) == []
    probe.assert_clean()


def test_compare_page_unknown_and_missing_selection(page, site):
    probe = open_page(page, (site / "compare.html").as_uri() + "?runs=nope,%3Cimg%20src%3Dx%3E")
    assert "2 requested run id(s)" in page.inner_text(".rg-compare-note")
    page.goto((site / "compare.html").as_uri())
    page.wait_for_selector("#rg-compare[data-ready='true']", state="attached")
    assert len(page.query_selector_all(".rg-compare-table th.rg-run-col")) == 6
    probe.assert_clean()


def test_history_controls_redraw(page, site):
    probe = open_page(page, (site / "experiment.html").as_uri())
    fig = "figure.rg-chart[data-spec-id='rg-spec-h6']"

    def wait_renders(n: int) -> None:
        page.wait_for_function(f"document.querySelector(\"{fig}\").dataset.renders === '{n}'")

    page.select_option(f"{fig} select.rg-x-axis", "timestamp")
    wait_renders(2)
    assert "Wall time" in page.inner_text(f"{fig} .rg-chart-view")
    page.check(f"{fig} input.rg-log-y")
    wait_renders(3)
    page.eval_on_selector(f"{fig} input.rg-smooth", "el => { el.value = '0.9'; el.dispatchEvent(new Event('change')); }")
    wait_renders(4)
    assert len(page.query_selector_all(f"{fig} {LINE_MARKS}")) == 12  # raw (faint) + smoothed per run
    probe.assert_clean()


def test_pages_readable_without_javascript(browser, site):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        probe = Probe().attach(page)
        page.goto((site / "experiment.html").as_uri())
        assert len(page.query_selector_all("table.rg-runs tbody tr")) == 6
        assert page.is_visible("p.rg-chart-note")
        assert page.query_selector("body[data-charts-drawn]") is None
        assert page.query_selector_all(INJECTED) == []
        probe.assert_clean()
    finally:
        context.close()


def test_xss_strings_are_text(page, site):
    probe = open_page(page, (site / "experiment.html").as_uri())
    text = page.inner_text("table.rg-runs")
    assert HOSTILE[0] in text and HOSTILE[1] in text  # shown, not parsed
    toggles = page.inner_text(".rg-column-toggles")
    assert HOSTILE[2] in toggles
    # the tooltip of the line of run 1, whose name is HOSTILE[1]: vega-tooltip must show it as text
    line = page.query_selector_all("figure.rg-chart[data-spec-id='rg-spec-h6'] " + LINE_MARKS)[1]
    line.scroll_into_view_if_needed()
    x, y = line.evaluate("""p => { const q = p.getPointAtLength(p.getTotalLength() / 3), m = p.getScreenCTM();
                                   return [q.x * m.a + m.e, q.y * m.d + m.f]; }""")
    page.mouse.move(x - 3, y)
    page.mouse.move(x, y)
    page.wait_for_selector("#vg-tooltip-element.visible")
    assert HOSTILE[1] in page.inner_text("#vg-tooltip-element")
    assert page.query_selector_all(INJECTED) == []
    probe.assert_clean()


def test_missing_bundle_fails_visibly(page, tmp_path, site):
    broken = tmp_path / "broken"
    broken.mkdir()
    html = (site / "experiment.html").read_text(encoding="utf-8").replace("static/", f"{site.as_uri()}/static/")
    html = html.replace(f"{site.as_uri()}/static/vendor/vega-bundle.js", "nowhere.js")
    (broken / "experiment.html").write_text(html, encoding="utf-8")
    probe = Probe().attach(page)
    page.goto((broken / "experiment.html").as_uri())
    page.wait_for_selector(DRAWN, state="attached")
    assert page.get_attribute("body", "data-charts-failed") == "11"
    assert "could not be drawn" in page.inner_text("figure.rg-chart")
    assert any("vega-bundle.js did not load" in e for e in probe.errors)


def test_large_experiment_opens_in_a_few_seconds(page, tmp_path):
    big = build_fixture_site(tmp_path / "big", n_runs=2000, n_steps=50)
    probe = Probe().attach(page)
    page.goto((big / "experiment.html").as_uri())
    page.wait_for_selector(DRAWN, state="attached", timeout=120_000)
    # Page-clock times recorded by the scripts themselves (a busy main thread delays Playwright's polling).
    ready_ms = int(page.get_attribute("table.rg-runs", "data-ready-ms"))
    drawn_ms = int(page.get_attribute("body", "data-charts-drawn-ms"))
    first_ms = ready_ms + int(page.get_attribute("figure.rg-chart", "data-draw-ms"))
    print(f"2000 runs: table usable at {ready_ms} ms, first chart at ~{first_ms} ms, all charts at {drawn_ms} ms")
    assert ready_ms < 5_000 and first_ms < 8_000 and drawn_ms < 60_000
    page.fill("input.rg-filter", "run-1998")
    assert len(visible_run_ids(page)) == 1
    probe.assert_clean()


def test_chart_export_buttons_download_images(page, site, tmp_path):
    probe = open_page(page, (site / "experiment.html").as_uri())
    fig = "figure.rg-chart[data-spec-id='rg-spec-h6']"
    with page.expect_download() as svg_download:
        page.click(f"{fig} button.rg-export-svg")
    svg = tmp_path / "chart.svg"
    svg_download.value.save_as(svg)
    assert svg_download.value.suggested_filename == "rg-spec-h6.svg"
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<svg")
    with page.expect_download() as png_download:
        page.click(f"{fig} button.rg-export-png")
    png = tmp_path / "chart.png"
    png_download.value.save_as(png)
    assert png.read_bytes().startswith(b"\x89PNG")
    probe.assert_clean()


def test_back_from_compare_keeps_the_selection_usable(page, site):
    probe = open_page(page, (site / "experiment.html").as_uri())
    ids = [r["run_id"] for r in fixture_runs()[0]]
    page.check(f"input.rg-pick[value='{ids[0]}']")
    page.check(f"input.rg-pick[value='{ids[1]}']")
    page.click("button.rg-compare")
    page.wait_for_url("**/compare.html?runs=*")
    page.go_back()
    page.wait_for_selector("table.rg-runs[data-ready='true']", state="attached")
    ticked = page.eval_on_selector_all("input.rg-pick:checked", "boxes => boxes.map(b => b.value)")
    assert ticked == ids[:2]  # Chromium restores the ticks, without change events
    assert page.is_enabled("button.rg-compare") and page.inner_text(".rg-pick-count") == "2"
    probe.assert_clean()
