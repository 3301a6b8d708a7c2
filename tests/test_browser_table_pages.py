"""A runs table split over pages (600 runs, 250 a page) in headless Chromium: sorting and filtering reach every
run of the experiment, ticks on several pages reach the compare page, and the static pages still read with
JavaScript off. Also the rows script itself: every row, inert as a script.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import mlruns_builder as mb
from browser_pages import INJECTED, Probe
from reportgen.site.pages.common import ROWS_PER_PAGE
from reportgen.site.pages.runs_table import ROWS_SCRIPT, rows_script

RUNS = 600
HOSTILE_NAME = '</script><script>alert(1)</script>\u2028<b data-pwned=1>'
READY = "table.rg-runs[data-ready='true']"
ALL = "table.rg-runs[data-all-rows='true']"


def score(index: int) -> float:
    """Scattered scores; the highest belongs to run 10, on the third page of the table (newest first); the
    next to run 598, the parent of runs 3 and 4."""
    return {10: 99.5, 598: 99.0}.get(index, float((index * 37) % 500) / 10)


@pytest.fixture(scope="module")
def big_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("big") / "mlruns"
    folder = mb.experiment(root, "1", "big")
    for i in range(RUNS):
        tags = {"mlflow.parentRunId": f"{598:032x}"} if i in (3, 4) else {}
        mb.run(folder, i, name=HOSTILE_NAME if i == 20 else f"run-{i:03d}",
               metrics={"score": [(mb.T0, score(i), 0)]}, params={"lr": str(i % 7), "seed": str(i)}, tags=tags)
    return root


@pytest.fixture(scope="module")
def big_site(tmp_path_factory, big_store) -> Path:
    from reportgen.site.build import build_site

    out = tmp_path_factory.mktemp("bigsite") / "site"
    build_site([str(big_store)], out, workers=2)
    return out / "e" / "1"


def table_ids(page) -> list[str]:
    return page.eval_on_selector_all("table.rg-runs tbody tr[data-run-id]", "rows => rows.map(r => r.dataset.runId)")


def column(page, col: str) -> list[str]:
    index = page.eval_on_selector(f"th[data-col='{col}']", "th => th.cellIndex")
    return page.eval_on_selector_all("table.rg-runs tbody tr[data-run-id]",
                                     f"rows => rows.map(r => r.cells[{index}].dataset.value)")


def test_rows_script_holds_every_row_and_cannot_be_broken(big_site):
    text = (big_site / ROWS_SCRIPT).read_text(encoding="utf-8")
    assert text.startswith("reportgenRunsRows(") and text.endswith(");\n")
    assert "</" not in text and "\u2028" not in text
    data = json.loads(text[len("reportgenRunsRows("):-len(");\n")])
    assert data["pageSize"] == ROWS_PER_PAGE and len(data["rows"]) == RUNS
    pages = [big_site / "index.html"] + [big_site / f"runs-{n}.html" for n in (2, 3)]
    static = [row for path in pages for row in re.findall(r"<tr data-run-id=.*?</tr>", path.read_text(encoding="utf-8"), re.S)]
    assert data["rows"] == static  # the same markup, in the same order as the static pages
    assert not (big_site / "runs-4.html").exists()


def test_rows_script_is_the_same_from_one_process(tmp_path, big_store, big_site):
    from reportgen.site.build import build_site

    build_site([str(big_store)], tmp_path / "site", workers=1)
    for name in (ROWS_SCRIPT, "index.html", "runs-3.html"):
        assert (tmp_path / "site" / "e" / "1" / name).read_bytes() == (big_site / name).read_bytes()


def test_rows_script_escapes_what_would_end_a_script():
    row = '<tr data-run-id="x"><td>\u2028</script><!--\u2029&amp;"\\</td></tr>'
    text = rows_script([row], page_size=3)
    assert re.search(r"</|[\u2028\u2029]", text) is None
    assert json.loads(text[len("reportgenRunsRows("):-len(");\n")])["rows"] == [row]


def test_one_page_table_has_no_rows_script(tmp_path):
    from reportgen.site.build import build_site

    root = tmp_path / "mlruns"
    folder = mb.experiment(root, "1", "small")
    for i in range(3):
        mb.run(folder, i)
    build_site([str(root)], tmp_path / "site")
    assert not (tmp_path / "site" / "e" / "1" / ROWS_SCRIPT).exists()
    assert "data-rows-src" not in (tmp_path / "site" / "e" / "1" / "index.html").read_text(encoding="utf-8")


def test_sort_puts_the_global_max_first_and_keeps_children_under_their_parent(page, big_site):
    probe = Probe().attach(page)
    page.goto((big_site / "index.html").as_uri())
    page.wait_for_selector(READY, state="attached")
    assert f"{10:032x}" not in table_ids(page)  # the best run is not on the first static page
    page.click("th[data-col='metric:score']")
    page.wait_for_selector(ALL, state="attached")
    ascending = [float(v) for v in column(page, "metric:score")]
    assert len(ascending) == ROWS_PER_PAGE and ascending[0] == min(score(i) for i in range(RUNS))
    page.click("th[data-col='metric:score']")
    ids = table_ids(page)
    values = [float(v) for v in column(page, "metric:score")]
    assert ids[0] == f"{10:032x}" and values[0] == 99.5 and len(ids) == ROWS_PER_PAGE
    # the nested runs follow their parent, sorted among themselves, shown as children
    assert ids[1:4] == [f"{598:032x}", f"{4:032x}", f"{3:032x}"]
    assert page.eval_on_selector(f"tr[data-run-id='{4:032x}']", "r => r.className") == "rg-depth-1"
    top = [v for i, v in zip(ids, values) if i not in (f"{3:032x}", f"{4:032x}")]
    expected_top = sorted((score(i) for i in range(RUNS) if i not in (3, 4)), reverse=True)
    assert top == expected_top[:len(top)]  # the best of all 600 runs, not of one page
    # the last page holds the rest: 100 rows, the lowest scores
    page.click("nav.rg-js-pager >> nth=0 >> button[data-page='3']")
    assert len(table_ids(page)) == RUNS - 2 * ROWS_PER_PAGE
    assert page.is_visible("nav.rg-js-pager") and page.query_selector("nav.rg-pager:not(.rg-js-pager)") is None
    assert page.query_selector_all(INJECTED) == []
    probe.assert_clean()


def test_filter_finds_a_run_on_the_third_page_and_hostile_names_stay_text(page, big_site):
    probe = Probe().attach(page)
    page.goto((big_site / "index.html").as_uri())
    page.wait_for_selector(READY, state="attached")
    page.fill("input.rg-filter", "run-007")
    page.wait_for_selector(ALL, state="attached")
    page.wait_for_selector("table.rg-runs[data-shown-rows='1']", state="attached")
    assert table_ids(page) == [f"{7:032x}"]
    assert "1 of 600 runs match" in page.inner_text("nav.rg-js-pager >> nth=0")
    page.fill("input.rg-filter", "alert(1)")
    page.wait_for_selector("table.rg-runs[data-shown-rows='1']", state="attached")
    assert table_ids(page) == [f"{20:032x}"]
    assert "</script><script>alert(1)</script>" in page.inner_text("table.rg-runs tbody")
    page.fill("input.rg-filter", "")
    page.wait_for_selector(f"table.rg-runs[data-shown-rows='{RUNS}']", state="attached")
    assert len(table_ids(page)) == ROWS_PER_PAGE
    assert page.query_selector_all(INJECTED) == []
    probe.assert_clean()


def test_column_toggles_reach_rows_brought_in_later(page, big_site):
    page.goto((big_site / "runs-2.html").as_uri())
    page.wait_for_selector(READY, state="attached")
    page.click(".rg-columns summary")
    page.uncheck(".rg-col-toggle[data-col='attr:status']")
    page.check(".rg-col-toggle[data-col='metric:score:min']")
    page.click("th[data-col='metric:score']")
    page.wait_for_selector(ALL, state="attached")
    hidden = page.eval_on_selector_all("table.rg-runs tbody tr[data-run-id]", """rows => rows.map(r => [
        r.cells[document.querySelector("th[data-col='attr:status']").cellIndex].hidden,
        r.cells[document.querySelector("th[data-col='metric:score:min']").cellIndex].hidden])""")
    assert len(hidden) == ROWS_PER_PAGE and all(h == [True, False] for h in hidden)


def test_ticks_on_two_pages_reach_the_compare_page(page, big_site):
    probe = Probe().attach(page)
    page.goto((big_site / "index.html").as_uri())
    page.wait_for_selector(READY, state="attached")
    first = table_ids(page)[5]
    page.check(f"input.rg-pick[value='{first}']")
    page.click("nav.rg-pager >> nth=0 >> a:text-is('3')")  # a static link, shown in place: the tick stays
    page.wait_for_selector(ALL, state="attached")
    assert page.url.split("#")[0].endswith("/index.html")  # the fragment holds the view (viewstate.js)
    third = table_ids(page)
    assert f"{7:032x}" in third and first not in third
    page.check(f"input.rg-pick[value='{7:032x}']")
    assert page.inner_text(".rg-pick-count") == "2"
    page.click("nav.rg-js-pager >> nth=0 >> button[data-page='1']")
    assert page.is_checked(f"input.rg-pick[value='{first}']")
    page.click("a.rg-compare")
    page.wait_for_url("**/compare.html?runs=*")
    assert page.url.split("?runs=")[1].split(",") == [first, f"{7:032x}"]
    page.wait_for_selector("#rg-compare[data-ready='true']", state="attached")
    heads = page.eval_on_selector_all(".rg-compare-table th.rg-run-col", "ths => ths.map(t => t.dataset.runId)")
    assert heads == [first, f"{7:032x}"]
    probe.assert_clean()


def test_static_pages_without_javascript(browser, big_site):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        probe = Probe().attach(page)
        seen = []
        for name, count in (("index.html", 250), ("runs-2.html", 250), ("runs-3.html", 100)):
            page.goto((big_site / name).as_uri())
            rows = page.query_selector_all("table.rg-runs tbody tr[data-run-id]")
            assert len(rows) == count and all(row.is_visible() for row in rows)
            seen += table_ids(page)
            assert page.is_visible("nav.rg-pager") and page.query_selector("nav.rg-js-pager") is None
        assert len(set(seen)) == RUNS
        page.click("nav.rg-pager >> nth=0 >> a:text-is('1')")
        page.wait_for_url("**/index.html")
        probe.assert_clean()
    finally:
        context.close()


def test_tick_all_ticks_the_shown_page_of_the_whole_table(page, big_site):
    page.goto((big_site / "index.html").as_uri())
    page.wait_for_selector(READY, state="attached")
    page.fill("input.rg-filter", "run-")  # every run but the one with a hostile name
    page.wait_for_selector(ALL, state="attached")
    page.check("input.rg-pick-all")
    assert page.inner_text(".rg-pick-count") == str(ROWS_PER_PAGE)
    page.click("nav.rg-js-pager >> nth=1 >> button[data-page='3']")  # the pager below the table
    assert not page.is_checked("input.rg-pick-all")
    page.check("input.rg-pick-all")
    assert page.inner_text(".rg-pick-count") == str(ROWS_PER_PAGE + RUNS - 1 - 2 * ROWS_PER_PAGE)
    assert "599 of 600 runs match" in page.inner_text("nav.rg-js-pager >> nth=0")


def test_without_the_rows_script_the_page_sorts_its_own_rows_and_links_still_go(page, big_site, tmp_path):
    import shutil

    site = tmp_path / "site"
    shutil.copytree(big_site.parents[1], site)
    (site / "e" / "1" / ROWS_SCRIPT).unlink()
    warnings = []
    page.on("console", lambda msg: msg.type == "warning" and warnings.append(msg.text))
    page.on("pageerror", lambda exc: warnings.append(f"pageerror: {exc}"))
    page.goto((site / "e" / "1" / "index.html").as_uri())
    page.wait_for_selector(READY, state="attached")
    before = set(table_ids(page))
    page.click("th[data-col='metric:score']")
    page.click("th[data-col='metric:score']")
    best = max(before, key=lambda run_id: score(int(run_id, 16)))  # the first page's best, after the failed load
    page.wait_for_selector(f"table.rg-runs tbody tr[data-run-id='{best}']:first-child", state="attached")
    assert set(table_ids(page)) == before  # this page's rows, sorted
    roots = [float(v) for i, v in zip(table_ids(page), column(page, "metric:score")) if i not in (f"{3:032x}", f"{4:032x}")]
    assert roots == sorted(roots, reverse=True)
    assert [w for w in warnings if ROWS_SCRIPT in w] and not [w for w in warnings if w.startswith("pageerror")]
    page.click("nav.rg-pager >> nth=0 >> a:text-is('2')")
    page.wait_for_url("**/runs-2.html#sort=metric:score&dir=desc")  # the link carries the view
