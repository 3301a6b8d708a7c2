"""Hostile strings in every field a page shows: nothing runs, nothing is injected, nothing is evaluated."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

import mlruns_builder as mb
from reportgen import mlruns
from model_stores import write_model
from site_stores import assert_safe_page, build, html_pages, points

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")  # skipped items are asserted on

# Strings that are also valid file names (no "/"), so they can be keys in an mlruns/ folder.
HOSTILE_KEYS = [
    '<img src=x data-pwned=1 onerror="alert(1)">',
    '"><svg data-pwned=1 onload=alert(3)>',
    "javascript:alert(4)",
    "a.b[0].c",
    "{{7*7}}\u2028\u202eevil",
]
HOSTILE_VALUES = HOSTILE_KEYS + ["</script><script>alert(2)</script><b data-pwned=1>", "<!--", "]]>", "&lt;x&gt;"]
PAYLOAD = " | ".join(HOSTILE_VALUES)
# Keys of per-step images (log_image with a key; "/" is "~" in the file name), on the run, compare and experiment pages.
IMAGE_KEYS = HOSTILE_KEYS + ["</script><script>alert(2)</script><b data-pwned=1>"]


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("xss")
    store = root / "mlruns"
    exp = mb.experiment(store, "1", "exp " + PAYLOAD, tags={"mlflow.note.content": "desc " + PAYLOAD,
                                                            HOSTILE_KEYS[0]: PAYLOAD})
    params = {key: PAYLOAD for key in HOSTILE_KEYS}
    tags = {key: PAYLOAD for key in HOSTILE_KEYS}
    tags.update({
        "mlflow.note.content": "# note\n" + PAYLOAD + "\n[link](javascript:alert(5)) <a href='JaVaScRiPt:alert(6)'>x</a>"
                               "\n<iframe src='https://evil.example'></iframe><form action=x><input></form>",
        "mlflow.source.name": "javascript:alert(7)",
        "mlflow.source.git.repoURL": "javascript:alert(8)",
        "mlflow.source.git.commit": PAYLOAD,
        "mlflow.user": PAYLOAD,
    })
    metrics = {key: points([1.0, float("nan"), float("inf"), 0.5]) for key in HOSTILE_KEYS}
    parent = mb.run(exp, 1, name="run " + PAYLOAD, params=params, tags=tags, metrics=metrics)
    mb.run(exp, 2, name=PAYLOAD, params={HOSTILE_KEYS[0]: "other"}, metrics={HOSTILE_KEYS[0]: points([2.0, 1.0])},
           tags={"mlflow.parentRunId": parent})
    # a user id straight in meta.yaml
    folder = exp / f"{2:032x}"
    meta = mlruns.load_meta((folder / "meta.yaml").read_text())
    meta["user_id"] = PAYLOAD
    (folder / "meta.yaml").write_text(mlruns.dump_meta(meta))
    artifacts = exp / f"{1:032x}" / "artifacts"
    for index, key in enumerate(HOSTILE_KEYS):
        mb.write(artifacts / f"{key}.txt", PAYLOAD)
        mb.write(artifacts / f"{index}-{key}.md", PAYLOAD + "\n<script>alert(9)</script>")
        mb.write(artifacts / f"{index}-{key}.csv", f"h,{key}\n1,{PAYLOAD}\n")
    mb.write(artifacts / "evil.html", "<script>alert(10)</script><img src=x onerror=alert(11)>")
    mb.write(artifacts / "evil.svg", '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(12)"><script>alert(13)</script></svg>')
    mb.write(artifacts / "data.json", json.dumps({"k": PAYLOAD}))
    # An MLflow 3 logged model of the first run: name, flavor, signature, params, tags, metric, file names.
    write_model(exp, run_id=parent, name="model " + PAYLOAD, params={key: PAYLOAD for key in HOSTILE_KEYS},
                tags={key: PAYLOAD for key in HOSTILE_KEYS}, metrics={HOSTILE_KEYS[0]: "0.5"}, flavor=HOSTILE_KEYS[0],
                inputs=[{"type": PAYLOAD, "name": key} for key in HOSTILE_KEYS],
                files={f"{key}.txt": PAYLOAD for key in HOSTILE_KEYS})
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(png, format="PNG")
    for step, key in enumerate(IMAGE_KEYS):
        mb.write(artifacts / "images" / f"{key.replace('/', '~')}+step+{step}+timestamp+1+u{step}.png", png.getvalue())
    result = build(store, root / "site", static_charts=True)
    return result, root / "site", html_pages(root / "site")


def test_no_page_runs_or_injects_anything(hostile_site):
    _, out, pages = hostile_site
    assert len(pages) == 6  # index, experiment, compare, two runs, problems
    for name, soup in pages.items():
        assert_safe_page(name, soup, out)
        assert soup.find(attrs={"data-pwned": True}) is None, name
        assert not soup.find_all(["form", "input"], attrs={"action": True}), name
        for iframe in soup.find_all("iframe"):
            assert iframe.has_attr("sandbox") and "allow" not in " ".join(iframe["sandbox"]), name
            assert not iframe.get("src"), "artifacts render through srcdoc only"


def test_hostile_text_is_shown_as_text(hostile_site):
    _, _, pages = hostile_site
    run_page = pages[f"r/{1:032x}.html"]
    text = run_page.get_text()
    assert "</script><script>alert(2)</script>" in text  # shown, escaped
    assert "{{7*7}}" in text, "data is never evaluated as a template"
    assert "[U+202E]" in text, "bidi overrides are made visible"
    params = run_page.select("#rg-params tbody th")
    assert sorted(th.get_text() for th in params) == sorted(key.replace("\u202e", "[U+202E]").replace("\u2028", "[U+2028]")
                                                             for key in HOSTILE_KEYS)


def test_links_from_data_are_http_only(hostile_site):
    _, _, pages = hostile_site
    run_page = pages[f"r/{1:032x}.html"]
    for a in run_page.find_all("a"):
        assert not a.get("href", "").lower().startswith("javascript"), a
    note = run_page.select_one(".rg-note")
    assert note.find("iframe") is None and note.find("form") is None and note.find("script") is None
    source = [dd for dt, dd in zip(run_page.select(".rg-attributes dt"), run_page.select(".rg-attributes dd"))
              if dt.get_text() == "Source"][0]
    assert source.find("a") is None and "javascript:alert(7)" in source.get_text()


def test_json_blocks_round_trip_the_hostile_strings(hostile_site):
    _, _, pages = hostile_site
    compare = pages["e/1/compare.html"]
    block = compare.select_one("script#rg-compare-data").string
    assert "</" not in block and "<!--" not in block and "\u2028" not in block
    data = json.loads(block)
    run = next(r for r in data["runs"] if r["run_id"] == f"{1:032x}")
    assert run["params"][HOSTILE_KEYS[0]] == PAYLOAD
    assert sorted(run["metrics"]) == sorted(HOSTILE_KEYS)
    assert run["metrics"][HOSTILE_KEYS[0]] == 0.5


def test_chart_specs_never_use_keys_as_field_names(hostile_site):
    _, _, pages = hostile_site
    for name, soup in pages.items():
        for tag in soup.find_all("script", type="application/json"):
            data = json.loads(tag.string)
            specs = data.get("histories", {}).values() if "histories" in data else [data]
            for spec in specs:
                text = json.dumps({k: v for k, v in spec.items() if k not in ("data", "title", "usermeta")})
                for key in HOSTILE_KEYS:
                    assert f'"field": {json.dumps(key)}' not in text, (name, key)


def test_active_artifacts_are_neutralised(hostile_site):
    _, out, pages = hostile_site
    files = list((out / f"r/{1:032x}/files").iterdir())
    assert files and all(path.parent == out / f"r/{1:032x}/files" for path in files)
    assert not [p for p in files if p.suffix in (".html", ".svg", ".htm", ".js")]
    run_page = pages[f"r/{1:032x}.html"]
    svg = [img for img in run_page.select(".rg-preview-image img") if img["src"].startswith("data:image/svg+xml")]
    assert len(svg) == 1, "an SVG shows only through <img>, where it cannot run script"
    for md in run_page.select(".rg-preview-markdown"):
        assert md.find("script") is None


def test_image_keys_are_text_on_every_page(hostile_site):
    _, _, pages = hostile_site
    strips = pages[f"r/{1:032x}.html"].select("figure.rg-image-strip")
    assert sorted(strip["data-key"] for strip in strips) == sorted(IMAGE_KEYS)
    assert IMAGE_KEYS[-1] in {strip.select_one(".rg-image-key").get_text() for strip in strips}
    for name in ("e/1/index.html", "e/1/compare.html"):
        rows = pages[name].select("section.rg-step-grid tbody tr")
        assert sorted(row["data-key"] for row in rows) == sorted(IMAGE_KEYS), name
        assert IMAGE_KEYS[-1] in {row.th.get_text() for row in rows}, name
    block = pages["e/1/index.html"].select_one("script.rg-image-grid-data").string
    assert "</" not in block and "\u2028" not in block
    assert sorted(json.loads(block)["runs"][0]["image_steps"]["keys"]) == sorted(IMAGE_KEYS)


@pytest.mark.browser
def test_url_fragments_naming_hostile_keys_apply_as_data(page, hostile_site):
    """A view link (static/js/viewstate.js) whose values are the hostile column and metric keys of the page, and
    hostile values besides: the real keys still sort, hide and set chart options; nothing runs or is injected."""
    from urllib.parse import urlencode

    from browser_pages import INJECTED, Probe

    _, out, _ = hostile_site
    probe = Probe().attach(page)
    key = HOSTILE_KEYS[0]
    fragment = urlencode([("q", PAYLOAD[:40]), ("sort", f"param:{key}"), ("dir", "desc"), ("hide", f"metric:{key}"),
                          ("show", HOSTILE_VALUES[5]), ("pick", f"{1:032x},{HOSTILE_VALUES[0]}"), ("sum", HOSTILE_VALUES[1]),
                          (f"x.{key}", "timestamp"), (f"log.{key}", "1"), (f"smooth.{HOSTILE_KEYS[1]}", HOSTILE_VALUES[2])])
    page.goto((out / "e" / "1" / "index.html").as_uri() + "#" + fragment)
    page.wait_for_selector("body[data-charts-drawn='true']", state="attached", timeout=30_000)
    state = page.evaluate("""key => {
        const th = col => [...document.querySelectorAll('th[data-col]')].find(t => t.dataset.col === col);
        const fig = [...document.querySelectorAll('figure.rg-chart')].find(f => f.querySelector('.rg-chart-title').textContent === key);
        return {filter: document.querySelector('input.rg-filter').value, sort: th('param:' + key).getAttribute('aria-sort'),
                hidden: th('metric:' + key).hidden, picked: [...document.querySelectorAll('input.rg-pick:checked')].map(b => b.value),
                summary: document.querySelector('select.rg-metric-summary').value,
                x: fig && fig.querySelector('select.rg-x-axis').value, log: fig && fig.querySelector('input.rg-log-y').checked};
    }""", key)
    assert state == {"filter": PAYLOAD[:40], "sort": "descending", "hidden": True, "picked": [f"{1:032x}"],
                     "summary": "last", "x": "timestamp", "log": True}
    assert page.query_selector_all(INJECTED) == [] and page.query_selector("[data-pwned]") is None
    probe.assert_clean()


def test_model_fields_are_shown_as_text(hostile_site):
    _, out, pages = hostile_site
    article = pages[f"r/{1:032x}.html"].select_one("article.rg-model")
    seen = {text.replace("\u202e", "[U+202E]").replace("\u2028", "[U+2028]") for text in HOSTILE_VALUES}
    assert article.h3.get_text().startswith("model " + PAYLOAD.replace("\u202e", "[U+202E]").replace("\u2028", "[U+2028]"))
    assert [chip.get_text() for chip in article.select(".rg-flavor")] == [HOSTILE_KEYS[0]]
    inputs = next(row for row in article.select("table.rg-signature tr") if row.th.get_text() == "Inputs")
    lines = [li.get_text() for li in inputs.select("li")]
    assert len(lines) == len(HOSTILE_KEYS) and all(line.split(": ", 1)[0] in seen for line in lines)
    for caption in ("Model parameters", "Model tags"):
        table = next(t for t in article.select("table.rg-kv") if t.caption.get_text().startswith(caption))
        assert {th.get_text() for th in table.select("tbody th")} <= seen
    assert article.select_one(".rg-model-metrics tbody th").get_text() == HOSTILE_KEYS[0]
    names = {a.get_text() for a in article.select(".rg-file-node a")}
    assert names == {"MLmodel"} | {f"{key}.txt".replace("\u202e", "[U+202E]").replace("\u2028", "[U+2028]") for key in HOSTILE_KEYS}
    copies = list((out / "e" / "1" / "models").rglob("*"))
    assert copies and not [p for p in copies if p.suffix in (".html", ".svg", ".htm", ".js")]
    row = pages["e/1/index.html"].select_one("#rg-models-table tbody tr")
    assert row.td.a.get_text().startswith("model ") and row.select_one(".rg-flavor").get_text() == HOSTILE_KEYS[0]
    mark = pages["e/1/index.html"].select_one(".rg-model-mark")
    assert mark["title"].startswith("Logged model: model ") and not mark.find(True)
