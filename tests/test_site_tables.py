"""Tables from log_table and datasets from log_input on the run page, on a store written by real MLflow
(BeautifulSoup): the table's cells and column names stay text, long tables page, the schema is listed."""
from __future__ import annotations

import json
import os

import pytest

from reportgen.site.artifacts.preview import TABLE_PAGE_ROWS, preview_for
from reportgen.site.pages.run import schema_columns
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
