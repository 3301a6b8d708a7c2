"""Tables from log_table and datasets from log_input on the run page, on a store written by real MLflow
(BeautifulSoup): the table's cells and column names stay text, long tables page, the schema is listed;
in headless Chromium a header click sorts and the pager pages, and without JavaScript the first page shows."""
from __future__ import annotations

import json
import os

import pytest

from reportgen.site.artifacts.preview import TABLE_PAGE_ROWS, preview_for
from reportgen.site.pages.run import schema_columns
from browser_pages import INJECTED, Probe
from site_stores import assert_safe_page, build, html_pages

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
LONG_ROWS = 1234
pytestmark = pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer:UserWarning")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    mlflow = pytest.importorskip("mlflow")
    import pandas as pd

    root = tmp_path_factory.mktemp("tables")
    previous = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        mlflow.set_tracking_uri((root / "mlruns").as_uri())
        mlflow.set_experiment("tables")
        with mlflow.start_run(run_name="tabled") as run:
            mlflow.log_table({"question": ["2+2?", XSS, "pi?"], XSS: [4, 5, 3.14], "n": [10, 9, None]},
                             artifact_file="eval/results.json")
            mlflow.log_table(pd.DataFrame({"step": list(range(LONG_ROWS)),
                                           "word": [f"w{i:05d}" for i in range(LONG_ROWS)]}),
                             artifact_file="long.json")
            frame = pd.DataFrame({"x": [1.5, 2.5], XSS: ["a", "b"], "label": [0, 1]})
            mlflow.log_input(mlflow.data.from_pandas(frame, name=f"train {XSS}"), context="training")
    finally:
        mlflow.set_tracking_uri(None)
        if previous is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = previous
    build(root / "mlruns", root / "site")
    return root / "site", html_pages(root / "site"), f"r/{run.info.run_id}.html"


def _table(soup, path_end: str):
    for node in soup.select("li.rg-file-node"):
        if node.select_one(".rg-file-line").get_text(" ", strip=True).startswith(path_end):
            return node.select_one("table.rg-logged-table"), node
    raise AssertionError(f"no artifact {path_end} on the page")


def test_logged_table_shows_as_a_table_with_cells_as_text(site):
    out, pages, name = site
    soup = pages[name]
    assert_safe_page(name, soup, out)
    table, _ = _table(soup, "results.json")
    assert [th.get_text() for th in table.select("thead th")] == ["question", XSS, "n"]
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in table.select("tbody tr")]
    assert rows == [["2+2?", "4.0", "10.0"], [XSS, "5.0", "9.0"], ["pi?", "3.14", ""]]
    assert not table.find("script") and not table.find("img"), "cells are text, never markup"
    assert table["data-page-rows"] == str(TABLE_PAGE_ROWS)


def test_long_table_pages_past_500_rows(site):
    _, pages, name = site
    table, node = _table(pages[name], "long.json")
    rows = table.select("tbody tr")
    assert len(rows) == LONG_ROWS, "every row is in the page for the script to page through"
    shown = [row for row in rows if not row.has_attr("hidden")]
    assert len(shown) == TABLE_PAGE_ROWS and shown[-1].td.get_text() == str(TABLE_PAGE_ROWS - 1)
    note = node.select_one(".rg-table-note").get_text(" ", strip=True)
    assert f"1–{TABLE_PAGE_ROWS} of {LONG_ROWS}" in note


def test_datasets_list_name_digest_source_and_schema(site):
    _, pages, name = site
    row = pages[name].select_one("#rg-datasets tbody tr")
    cells = row.find_all("td")
    assert cells[0].get_text() == f"train {XSS}" and not row.find("script")
    assert cells[1].get_text() == "training"
    assert cells[2].get_text().strip()
    assert [li.get_text() for li in cells[4].select("li")] == ["x: double", f"{XSS}: string", "label: long"]


LONG = "li.rg-file-node:has(a[download='long.json']) table.rg-logged-table"


def _shown(page, column: int) -> list[str]:
    return page.eval_on_selector(LONG, f"""t => Array.from(t.tBodies[0].rows).filter(r => !r.hidden)
        .map(r => r.cells[{column}].textContent)""")


@pytest.mark.browser
def test_sort_and_pages_in_chromium(page, site):
    out, _, name = site
    probe = Probe().attach(page)
    page.goto((out / name).as_uri())
    page.wait_for_selector(LONG + "[data-ready='true']", state="attached")
    pager = page.locator("li.rg-file-node:has(a[download='long.json']) nav.rg-table-pager")
    assert "of 3 (1234 rows)" in pager.inner_text()
    assert _shown(page, 0)[:2] == ["0", "1"] and len(_shown(page, 0)) == TABLE_PAGE_ROWS
    pager.locator("button[data-page='3']").click()
    assert _shown(page, 0) == [str(i) for i in range(1000, LONG_ROWS)]
    header = page.locator(LONG + " thead th").nth(1)
    header.click()  # ascending: already in order, back to the first page
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert _shown(page, 1)[:2] == [f"w{LONG_ROWS - 1:05d}", f"w{LONG_ROWS - 2:05d}"]
    step = page.locator(LONG + " thead th").nth(0)
    step.focus()
    page.keyboard.press("Enter")  # numbers sort as numbers, not as text ("10" after "9")
    assert _shown(page, 0)[8:11] == ["8", "9", "10"]
    small = "li.rg-file-node:has(a[download='results.json']) table.rg-logged-table"
    page.locator(small + " thead th").nth(2).click()
    column = page.eval_on_selector(small, "t => Array.from(t.tBodies[0].rows).map(r => r.cells[2].textContent)")
    assert column == ["9.0", "10.0", ""], "empty cells sort last"
    assert page.query_selector_all(INJECTED) == []
    probe.assert_clean()


@pytest.mark.browser
def test_first_page_without_javascript(browser, site):
    out, _, name = site
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto((out / name).as_uri())
        rows = page.locator(LONG + " tbody tr")
        assert rows.nth(TABLE_PAGE_ROWS - 1).is_visible() and not rows.nth(TABLE_PAGE_ROWS).is_visible()
        assert page.locator(".rg-table-note").is_visible()
    finally:
        context.close()


def test_split_orient_shape_is_required():
    def kind(value):
        made = preview_for("text", json.dumps(value).encode(), truncated=False, href="f.json",
                           data_uri=lambda data, mime: "")
        return made["kind"]

    assert kind({"columns": ["a"], "data": [[1], [2]]}) == "logged_table"
    assert kind({"columns": ["a"], "data": [[1]], "index": [0]}) == "logged_table"
    assert kind({"columns": ["a"], "data": [1, 2]}) == "text"
    assert kind({"columns": ["a"], "data": [[1]], "extra": 1}) == "text"
    cut = preview_for("text", b'{"columns": ["a"], "data": [[1]', truncated=True, href=None, data_uri=lambda d, m: "")
    assert cut["kind"] == "text", "a file only partly read is shown as text"


def test_schema_columns_tolerates_bad_input():
    assert schema_columns(None) is None
    assert schema_columns("{not json") is None
    assert schema_columns('{"other": 1}') is None
    tensor = '{"mlflow_tensorspec": [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}]}'
    assert schema_columns(tensor) == ["float64 [-1, 2]"]


def test_our_writer_table_and_dataset_show_the_same(tracking_root, tmp_path):
    import reportgen.tracking as rg
    from reportgen.model import Dataset

    schema = json.dumps({"mlflow_colspec": [{"type": "double", "name": "x", "required": True}]})
    with rg.start_run() as run:
        rg.log_table({"name": [XSS, "b"], "score": [1, 2]}, artifact_file="t.json")
        rg.log_input(Dataset(name="d", digest="abc", source_type="code", source="{}", schema=schema),
                     context="eval")
    build(tracking_root, tmp_path / "site")
    soup = html_pages(tmp_path / "site")[f"r/{run.info.run_id}.html"]
    table, _ = _table(soup, "t.json")
    assert [[td.get_text() for td in tr.find_all("td")] for tr in table.select("tbody tr")] == [[XSS, "1"], ["b", "2"]]
    assert [li.get_text() for li in soup.select("#rg-datasets td.rg-schema li")] == ["x: double"]
