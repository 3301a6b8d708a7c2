"""Logged models in the report, from stores written by real MLflow 3.17's sklearn.log_model (file store,
SQLite, a real server): the run page's Models section (MLmodel summary, signature, params, metrics, tags,
files copied and linked), the experiment's models table, the runs table's marker; incremental builds see a
changed model; a bad model is a problem, never a broken build; models are redacted like runs."""
from __future__ import annotations

import json
import shutil

import pytest

from model_stores import log_with_mlflow, write_model
from site_stores import assert_safe_page, build, html_pages, same_as_full

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")
pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A file store and a SQLite store, each written by real MLflow (see model_stores.log_with_mlflow)."""
    root = tmp_path_factory.mktemp("site-models")
    file_ids = log_with_mlflow((root / "mlruns").as_uri())
    (root / "db").mkdir()
    sqlite_ids = log_with_mlflow(f"sqlite:///{root / 'db' / 'mlflow.db'}")
    return {"file": (root / "mlruns", file_ids), "sqlite": (f"sqlite:///{root / 'db' / 'mlflow.db'}", sqlite_ids)}


@pytest.fixture(scope="module", params=["file", "sqlite"])
def site(request, logged, tmp_path_factory):
    store, ids = logged[request.param]
    out = tmp_path_factory.mktemp(f"site-{request.param}") / "site"
    build(store, out)
    return out, html_pages(out), ids, store


def _model_files(store, ids) -> dict[str, bytes]:
    from reportgen.stores import open_store

    opened = open_store(str(store))
    model = next(m for m in opened.logged_models([ids["experiment_id"]]) if m.model_id == ids["model_id"])
    found = {}
    for info in opened.walk_model_artifacts(model):
        with opened.open_model_artifact(model, info.path) as handle:
            found[info.path] = handle.read()
    return found


def _section(page):
    section = page.select_one("section#rg-models")
    assert section is not None, "the run page has a Models section"
    return section


def test_run_page_shows_the_model_with_its_mlmodel_and_signature(site):
    out, pages, ids, _ = site
    name = f"r/{ids['run_id']}.html"
    page = pages[name]
    assert_safe_page(name, page, out)
    [article] = _section(page).select("article.rg-model")
    assert article["id"] == f"model-{ids['model_id']}"
    assert article.h3.get_text(" ", strip=True) == "clf READY"
    assert [chip.get_text() for chip in article.select(".rg-flavor")] == ["python_function", "sklearn"]
    text = article.get_text(" ", strip=True)
    assert ids["model_id"] in text and "classifier" in text and "MLflow version 3.17" in text
    signature = {row.th.get_text(): [li.get_text() for li in row.select("li")]
                 for row in article.select("table.rg-signature tr")}
    assert signature == {"Inputs": ["float64 [-1, 2]"], "Outputs": ["int64 [-1]"]}
    params = {row.th.get_text(): row.td.get_text() for row in article.select("table.rg-kv tbody tr")
              if row.find_parent("table")["id"].startswith("rg-model-params")}
    assert params == {"C": "1.0", "solver": "lbfgs"}
    metrics = [[cell.get_text() for cell in row.find_all(["th", "td"])] for row in article.select(".rg-model-metrics tbody tr")]
    assert metrics == [["acc", "0.9", "0", ""]]
    tags = article.select_one("table[id^=rg-model-tags]").get_text(" ", strip=True)
    assert "team vision" in tags
    # The run logged nothing but its model: the artifacts section says where the files are.
    empty = page.select_one("section.rg-artifacts .rg-empty")
    assert "Models" in empty.get_text() and empty.a["href"] == "#rg-models"


def test_a_strict_build_of_a_store_mlflow_wrote_finds_nothing_to_warn_about(logged, tmp_path):
    for kind, (store, _) in logged.items():
        assert build(store, tmp_path / kind, strict=True).pages > 0


def test_model_files_are_copied_and_linked(site):
    out, pages, ids, store = site
    article = pages[f"r/{ids['run_id']}.html"].select_one("article.rg-model")
    links = {a.get_text(): a["href"] for a in article.select(".rg-file-node a")}
    expected = _model_files(store, ids)
    assert set(links) == set(expected) and "MLmodel" in links
    for path, href in links.items():
        assert href.startswith(f"../e/{ids['experiment_id']}/models/{ids['model_id']}/files/")
        copied = (out / "r" / href).resolve()
        assert copied.read_bytes() == expected[path], path


def test_experiment_page_lists_the_models_and_marks_their_runs(site):
    out, pages, ids, _ = site
    page = pages[f"e/{ids['experiment_id']}/index.html"]
    rows = page.select("#rg-models-table tbody tr")
    by_name = {row.td.a.get_text() if row.td.a else row.td.contents[0].strip(): row for row in rows}
    assert set(by_name) == {"clf", "loose"}
    clf = by_name["clf"]
    target = clf.td.a["href"]
    assert target == f"../../r/{ids['run_id']}.html#model-{ids['model_id']}"
    cells = [cell.get_text(" ", strip=True) for cell in clf.find_all("td")]
    assert cells[1] == "trained" and cells[2] == "python_function sklearn" and cells[3] == "READY"
    assert cells[5] == "acc = 0.9"
    assert by_name["loose"].find_all("td")[1].get_text(strip=True) == "none", "a model of no run links no run"
    assert not (out / "e" / ids["experiment_id"] / "models" / ids["loose_model_id"]).exists(), "nor copies files"
    marks = {row["data-run-id"]: row.select_one(".rg-model-mark") for row in page.select("#rg-runs tbody tr")}
    assert marks[ids["plain_run_id"]] is None
    assert marks[ids["run_id"]]["href"] == f"../../r/{ids['run_id']}.html#rg-models"
    assert marks[ids["run_id"]]["title"] == "Logged model: clf"
    assert pages[f"r/{ids['plain_run_id']}.html"].select_one("#rg-models") is None


def test_server_models_show_with_files_fetched_through_it(logged, tmp_path):
    from mlflow_server import running

    with running(f"sqlite:///{tmp_path / 'server.db'}", tmp_path) as server:
        ids = log_with_mlflow(server.url)
        build(server.url, tmp_path / "site")
        expected = _model_files(server.url, ids)
    pages = html_pages(tmp_path / "site")
    article = pages[f"r/{ids['run_id']}.html"].select_one("article.rg-model")
    assert [chip.get_text() for chip in article.select(".rg-flavor")] == ["python_function", "sklearn"]
    links = {a.get_text(): a["href"] for a in article.select(".rg-file-node a")}
    assert set(links) == set(expected)
    for path, href in links.items():
        assert (tmp_path / "site" / "r" / href).resolve().read_bytes() == expected[path]


def test_incremental_build_sees_a_changed_model(logged, tmp_path, monkeypatch):
    from reportgen.stores import file_cache

    # The read cache trusts a run folder only once it is 2 s old; the copy below is younger (its runs would
    # be keyed once by content, then by what was read, and render twice). Model changes are what is tested.
    monkeypatch.setattr(file_cache, "RACY_NS", 0)
    source, ids = logged["file"]
    store = tmp_path / "mlruns"
    shutil.copytree(source, store)
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    assert build(store, tmp_path / "site", cache_dir=cache).reused == 4  # 2 runs, 2 experiment folders
    folder = store / ids["experiment_id"] / "models" / ids["model_id"]
    (folder / "tags" / "stage").write_text("approved")
    result = build(store, tmp_path / "site", cache_dir=cache)
    assert result.reused == 2, "the model's run and its experiment are rendered again"
    page = html_pages(tmp_path / "site")[f"r/{ids['run_id']}.html"]
    assert "stage approved" in page.select_one("article.rg-model").get_text(" ", strip=True)
    same_as_full(tmp_path, store, tmp_path / "site")
    (folder / "artifacts" / "requirements.txt").write_text("scikit-learn==0.0\n")
    assert build(store, tmp_path / "site", cache_dir=cache).reused == 2, "a changed model file too"
    copied = next((tmp_path / "site" / "e" / ids["experiment_id"] / "models" / ids["model_id"]).rglob("*requirements.txt"))
    assert copied.read_text() == "scikit-learn==0.0\n"
    # A model of no run is on the experiment's pages only: its change leaves the run pages cached.
    loose = store / ids["experiment_id"] / "models" / ids["loose_model_id"]
    (loose / "tags" / "stage").write_text("draft")
    assert build(store, tmp_path / "site", cache_dir=cache).reused == 3
    same_as_full(tmp_path, store, tmp_path / "site")


def test_a_malformed_model_is_a_problem_not_a_broken_build(logged, tmp_path):
    source, ids = logged["file"]
    store = tmp_path / "mlruns"
    shutil.copytree(source, store)
    bad = write_model(store / ids["experiment_id"], run_id=ids["run_id"], name="bad")
    (store / ids["experiment_id"] / "models" / bad / "meta.yaml").write_text("{{{{ not yaml")
    broken_card = write_model(store / ids["experiment_id"], run_id=ids["run_id"], name="no-card")
    (store / ids["experiment_id"] / "models" / broken_card / "artifacts" / "MLmodel").write_text("flavors: [x\n")
    result = build(store, tmp_path / "site")
    pages = html_pages(tmp_path / "site")
    problems = pages["problems.html"].get_text(" ", strip=True)
    assert bad in problems and "meta.yaml" in problems
    assert f"logged model {broken_card} MLmodel" in problems
    names = [a.h3.get_text(" ", strip=True) for a in pages[f"r/{ids['run_id']}.html"].select("article.rg-model")]
    assert sorted(names) == ["clf READY", "no-card READY"], "a bad MLmodel loses its summary only"
    assert result.pages > 0


def test_models_are_redacted_like_runs(tmp_path):
    import mlruns_builder as mb

    store = tmp_path / "mlruns"
    exp = mb.experiment(store, "1", "exp")
    run_id = mb.run(exp, 1, name="r")
    secret = "hunter2-very-secret"
    write_model(exp, run_id=run_id, name="https://bob:" + secret + "@host/x",
                params={"api_key": secret, "lr": "0.1"}, tags={"db_password": secret, "note": f"token={secret}"})
    build(store, tmp_path / "site")
    for path in (tmp_path / "site").rglob("*.html"):
        assert secret not in path.read_text(encoding="utf-8"), path
    article = html_pages(tmp_path / "site")[f"r/{run_id}.html"].select_one("article.rg-model")
    text = article.get_text(" ", strip=True)
    assert "api_key [redacted]" in text and "lr 0.1" in text and "db_password [redacted]" in text


def test_without_artifacts_models_show_without_files(logged, tmp_path):
    store, ids = logged["file"]
    build(store, tmp_path / "site", artifacts=False)
    article = html_pages(tmp_path / "site")[f"r/{ids['run_id']}.html"].select_one("article.rg-model")
    assert [chip.get_text() for chip in article.select(".rg-flavor")] == ["python_function", "sklearn"]
    assert article.select(".rg-file-node") == [] and not (tmp_path / "site" / "e" / ids["experiment_id"] / "models").exists()



def test_a_filtered_out_run_takes_its_models_along(logged, tmp_path):
    store, ids = logged["file"]
    build(store, tmp_path / "site", filter_string="attributes.run_name = 'plain'")
    page = html_pages(tmp_path / "site")[f"e/{ids['experiment_id']}/index.html"]
    names = [row.td.get_text(" ", strip=True).split()[0] for row in page.select("#rg-models-table tbody tr")]
    assert names == ["loose"], "the model of no run stays; the filtered-out run's model goes with it"
    assert not list((tmp_path / "site").rglob(f"{ids['model_id']}*"))


@pytest.mark.browser
def test_models_in_chromium_no_error_and_the_marker_leads_to_the_model(page, site):
    """The experiment page in Chromium: sorting by run name ignores the marker, the filter "model" keeps the
    runs that logged one, and the marker opens the run page at its Models section; no console error."""
    from browser_pages import Probe

    out, _, ids, _ = site
    probe = Probe().attach(page)
    page.goto((out / "e" / ids["experiment_id"] / "index.html").as_uri())
    page.fill("input.rg-filter", "model")
    shown = page.eval_on_selector_all("#rg-runs tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.runId)")
    assert shown == [ids["run_id"]]
    page.fill("input.rg-filter", "")
    page.click("th[data-col='attr:name']")
    names = page.eval_on_selector_all("#rg-runs tbody tr td.rg-run-name > a:first-child", "links => links.map(a => a.textContent)")
    assert names == ["plain", "trained"]
    page.click(".rg-model-mark")
    assert page.url.endswith(f"r/{ids['run_id']}.html#rg-models")
    assert page.is_visible(f"#model-{ids['model_id']} h3")
    probe.assert_clean()


def test_the_input_example_shows_on_the_run_page(logged, tmp_path):
    """An example as MLflow saves a DataFrame's (split orient) is a table, its cells text; an array's is JSON."""
    import mlruns_builder as mb

    store = tmp_path / "mlruns"
    exp = mb.experiment(store, "1", "exp")
    run_id = mb.run(exp, 1, name="r")
    hostile = '<img src=x data-pwned=1 onerror="alert(1)">'
    write_model(exp, run_id=run_id, name="frame", example={"columns": ["x", hostile], "data": [[1.5, hostile], [2.5, "b"]]})
    build(store, tmp_path / "site")
    pages = html_pages(tmp_path / "site")
    assert_safe_page(f"r/{run_id}.html", pages[f"r/{run_id}.html"], tmp_path / "site")
    example = pages[f"r/{run_id}.html"].select_one("article.rg-model .rg-model-example")
    assert example.summary.get_text() == "Input example (input_example.json)"
    assert [th.get_text() for th in example.select("thead th")] == ["x", hostile]
    assert [[td.get_text() for td in tr.find_all("td")] for tr in example.select("tbody tr")] == [["1.5", hostile], ["2.5", "b"]]
    assert example.find(attrs={"data-pwned": True}) is None
    source, ids = logged["file"]
    build(source, tmp_path / "mlflow-site")
    text = html_pages(tmp_path / "mlflow-site")[f"r/{ids['run_id']}.html"].select_one(".rg-model-example pre").get_text()
    assert [[round(x, 3) for x in row] for row in json.loads(text)] == [[0.126, -0.132], [0.64, 0.105]]
