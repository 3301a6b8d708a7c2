"""Structure of each page kind (BeautifulSoup), on a small store written file by file."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from site_stores import assert_safe_page, build, demo_store, html_pages, json_blocks

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")  # skipped items are asserted on


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    store = demo_store(root / "mlruns")
    result = build(store, root / "site")
    return result, root / "site", html_pages(root / "site")


def test_every_page_is_safe_and_links_resolve(site):
    result, out, pages = site
    assert result.pages == len(pages) == 1 + 2 * 2 + 6 + 1  # index, 2x (experiment + compare), runs, problems
    for name, soup in pages.items():
        assert_safe_page(name, soup, out)


def test_index_lists_experiments_with_counts_and_best_values(site):
    _, _, pages = site
    cards = pages["index.html"].select(".rg-experiment-card")
    assert [card.h2.get_text(strip=True) for card in cards] == ["vision", "empty"]
    assert "6 runs" in cards[0].get_text()
    best = {row.th.get_text(" ", strip=True).split()[0]: row.find("a").get_text() for row in cards[0].select(".rg-best tr")}
    assert best["loss"] == "lr0.1-s1"  # fastest decay, smallest seed offset
    assert best["accuracy"] in ("lr0.1-s1", "lr0.1-s2")
    assert cards[0].select_one(".rg-description strong").get_text() == "models"


def test_experiment_table_columns_rows_and_tree(site):
    _, _, pages = site
    soup = pages["e/1/index.html"]
    table = soup.select_one("table.rg-runs[data-table]")
    heads = {th["data-col"]: th for th in table.select("thead th[data-col]")}
    assert {"attr:name", "attr:status", "param:lr", "param:seed", "param:optimizer", "metric:loss", "tag:team"} <= set(heads)
    assert heads["param:lr"]["data-varies"] == "true"
    assert heads["param:optimizer"]["data-varies"] == "false"  # the child's missing params do not count
    rows = table.select("tbody tr[data-run-id]")
    assert len(rows) == 6
    ids = [row["data-run-id"] for row in rows]
    parent, child = f"{5:032x}", f"{6:032x}"
    assert ids.index(child) == ids.index(parent) + 1, "a child run follows its parent"
    child_row = rows[ids.index(child)]
    assert child_row["data-parent"] == parent and "rg-depth-1" in child_row["class"]
    assert all(row.select_one("td input.rg-pick")["value"] == row["data-run-id"] for row in rows)
    # every row has one cell per header cell
    assert all(len(row.find_all("td")) == len(table.select("thead th")) for row in rows)
    loss_index = list(table.select("thead th")).index(heads["metric:loss"])
    first = rows[ids.index(f"{1:032x}")].find_all("td")[loss_index]
    assert float(first["data-value"]) == pytest.approx(0.01 + 2.718281828 ** (-1 * 19 / 5), rel=1e-6)
    assert soup.select_one("input.rg-filter") and soup.select_one(".rg-column-toggles") is not None
    assert soup.select_one("a.rg-compare")["href"] == "compare.html"
    assert soup.select_one("input.rg-only-varying") is not None
    chips = [chip.get_text() for chip in soup.select(".rg-constants .rg-chip")]
    assert chips == ["optimizer = adam"]


def test_experiment_downloads_are_csv_and_json(site):
    _, out, _ = site
    rows = list(csv.DictReader(io.StringIO((out / "e/1/runs.csv").read_text())))
    assert len(rows) == 6 and {"run_id", "params.lr", "metrics.loss", "tags.team"} <= set(rows[0])
    records = json.loads((out / "e/1/runs.json").read_text())
    assert sorted(r["run_id"] for r in records) == sorted(row["run_id"] for row in rows)


def test_run_page_sections(site):
    _, out, pages = site
    soup = pages[f"r/{1:032x}.html"]
    assert soup.h1.get_text(" ", strip=True).startswith("lr0.1-s1")
    attributes = dict(zip([dt.get_text() for dt in soup.select(".rg-attributes dt")],
                          [dd.get_text(" ", strip=True) for dd in soup.select(".rg-attributes dd")]))
    assert attributes["Git commit"] == "abc123" and attributes["Source"] == "train.py"
    assert attributes["Duration"] == "0.1s"
    params = {tr.th.get_text(): tr.td.get_text(strip=True) for tr in soup.select("#rg-params tbody tr")}
    assert params == {"lr": "0.1", "optimizer": "adam", "seed": "1"}
    metrics = {tr.th.get_text(" ", strip=True).split()[0]: [td.get_text() for td in tr.find_all("td")]
               for tr in soup.select("#rg-metrics tbody tr")}
    assert metrics["accuracy"][3] == "19"  # best step of a rising accuracy is the last one
    assert metrics["loss"][1] == metrics["loss"][0]  # loss falls: min is the last value
    specs = json_blocks(soup)
    assert sorted(spec["title"] for spec in specs) == ["accuracy", "loss"]
    assert all(spec["data"]["values"][0]["id"] == f"{1:032x}" for spec in specs)


def test_run_page_artifact_previews(site):
    _, out, pages = site
    soup = pages[f"r/{1:032x}.html"]
    names = [a.get_text() for a in soup.select(".rg-file-line a, .rg-file-line span:first-child")]
    assert {"notes.txt", "table.csv", "curve.png", "report.html", "README.md", "config.json", "model.bin"} <= set(names)
    assert soup.select_one(".rg-folder").get_text() == "plots/"
    assert soup.select_one(".rg-preview-text pre").get_text().startswith("{\n  \"a\"")  # pretty JSON, sorted
    assert [td.get_text() for td in soup.select(".rg-csv tbody tr")[0].find_all("td")] == ["1", "2"]
    assert soup.select_one(".rg-preview-markdown h1").get_text() == "Readme"
    iframe = soup.select_one(".rg-preview-html iframe")
    assert iframe.has_attr("sandbox") and list(iframe["sandbox"]) == [], "sandbox with no allowances at all"
    assert "<script>" in iframe["srcdoc"]  # kept as inert text inside the sandbox
    img = soup.select_one(".rg-preview-image img")
    assert img["src"].startswith(f"../r/{1:032x}/files/") and img["src"].endswith("-curve.png")
    copied = {path.name for path in (out / f"r/{1:032x}/files").iterdir()}
    assert any(name.endswith("-report.html.txt") for name in copied), "active types are kept as text"
    assert not any(name.endswith(".html") for name in copied)


def test_compare_page_has_every_run_and_a_static_diff(site):
    _, _, pages = site
    soup = pages["e/1/compare.html"]
    data = json.loads(soup.select_one("script#rg-compare-data").string)
    assert len(data["runs"]) == 6 and {"run_id", "name", "url", "params", "metrics", "tags"} <= set(data["runs"][0])
    assert set(data["histories"]) == {"loss", "accuracy"}
    diff_heads = [th.get_text() for th in soup.select("table.rg-diff[data-section=params] thead th")]
    assert diff_heads[0] == "Key" and len(diff_heads) >= 3
    assert data["runs"][0]["name"] == diff_heads[1], "the default selection comes first in the data"
    params = soup.select("table.rg-diff[data-section=params] tbody tr")
    for tr in params:
        texts = {td.get_text(strip=True) for td in tr.find_all("td")}
        assert tr["class"][0] == ("rg-same" if len(texts) == 1 else "rg-differs"), tr.th.get_text()
    assert {tr.th.get_text() for tr in params} == {"lr", "seed", "optimizer"}


def test_problems_page_lists_skipped_runs(tmp_path):
    store = demo_store(tmp_path / "mlruns")
    (store / "1" / f"{3:032x}" / "meta.yaml").write_text("{not yaml: [")
    result = build(store, tmp_path / "site")
    soup = html_pages(tmp_path / "site")["problems.html"]
    rows = soup.select("#rg-problems tbody tr")
    assert len(rows) == len(result.problems) >= 1
    assert any(f"{3:032x}" in row.get_text() for row in rows)
    assert result.runs == 5


def test_compare_page_shows_image_artifacts_side_by_side(site):
    _, out, pages = site
    soup = pages["e/1/compare.html"]
    data = json.loads(soup.select_one("script#rg-compare-data").string)
    first = next(run for run in data["runs"] if run["run_id"] == f"{1:032x}")
    assert [image["path"] for image in first["images"]] == ["plots/curve.png"]
    assert (out / "e" / "1" / first["images"][0]["url"]).resolve().is_file()
    assert f"{1:032x}" in [th.get("data-run-id") for th in soup.select("table.rg-diff thead th")]
    grid = soup.select_one("table.rg-image-grid")
    assert grid.select_one("tbody th").get_text() == "plots/curve.png"
    assert len(grid.select("img")) == 1, "only run 1 has the image; the other cells stay empty"


def test_a_slice_of_the_runs_table_is_those_rows_of_the_whole():
    from reportgen.site.gather import gather, open_stores
    from reportgen.site.pages.experiment import experiment_columns, experiment_rows
    from reportgen.redaction import Redactor
    from reportgen.site.summary import summarize

    uris = [str(Path(__file__).resolve().parents[1] / "sample_mlruns")]
    stores = open_stores(uris, strict=False)
    try:
        site = gather(stores, uris, experiments=(), filter_string=None, redactor=Redactor.from_options(()),
                      read_cache=None)
        checked = 0
        for exp in site.experiments:
            site.load(exp)  # experiments are read when the builder comes to them
            summaries, columns = summarize(exp.history), experiment_columns(exp)
            whole = experiment_rows(exp, summaries, columns)
            for part in (slice(0, 2), slice(1, None), slice(0, 0)):
                assert experiment_rows(exp, summaries, columns, rows=part) == whole[part]
            checked += len(whole) > 2
        assert checked
    finally:
        for store in stores:
            store.close()
