"""Images per step in headless Chromium, on a store written by real MLflow 3 (log_image with key and step):
the run page's strips and the compare and experiment pages' grid move with their step slider (mouse-free:
the keyboard), each cell at the nearest step at or below; the compare grid follows the runs chosen; with
JavaScript off the last step's images are there; keys with markup stay text; nothing goes online."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import image_stores
from browser_pages import INJECTED, Probe

pytestmark = [pytest.mark.browser, pytest.mark.oracle]
HOSTILE_KEY = '</script><img src=x data-pwned=1 onerror="alert(1)">'


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[dict[str, str], Path, str]:
    pytest.importorskip("mlflow")
    from reportgen.site.build import build_site

    root = tmp_path_factory.mktemp("browser-images")
    ids = image_stores.write((root / "mlruns").as_uri())
    # A key MLflow would refuse, as another writer could leave it: "/" is "~" in the file name.
    beta = next((root / "mlruns").glob(f"*/{ids['beta']}/artifacts/images"))
    source = next(beta.glob("samples~digits+step+0+*[0-9a-f].png"))
    shutil.copy(source, beta / f"{HOSTILE_KEY.replace('/', '~')}+step+3+timestamp+1+0000-hostile.png")
    result = build_site([str(root / "mlruns")], root / "site", static_charts=False)
    assert result.problems == []
    folder = next(p.parent.name for p in (root / "site" / "e").glob("*/compare.html") if p.parent.name != "0")
    return ids, root / "site", folder


def cells(page, selector: str = "section.rg-step-grid") -> dict[tuple[str, str], str | None]:
    """(key, run id) -> the step the grid cell shows (None: no image at or below)."""
    return {(key, run): step for key, run, step in page.eval_on_selector_all(
        f"{selector} tbody td", "tds => tds.map(td => [td.parentElement.dataset.key, td.dataset.runId, td.dataset.step ?? null])")}


def images_loaded(page, selector: str) -> None:
    page.wait_for_function(
        f"() => [...document.querySelectorAll({json.dumps(selector)})].filter(i => !i.closest('[hidden]'))"
        ".every(i => i.complete && i.naturalWidth > 0)")


def test_run_page_strip_moves_with_its_slider(page, site):
    ids, out, _ = site
    probe = Probe().attach(page)
    page.goto((out / "r" / f"{ids['alpha']}.html").as_uri())
    strip = page.locator("figure.rg-image-strip[data-key='samples/digits']")
    page.wait_for_selector("figure.rg-image-strip[data-ready='true']", state="attached")
    frames = json.loads(strip.locator("script.rg-image-frames").text_content())["keys"]["samples/digits"]
    slider = strip.get_by_label("Step")
    assert slider.is_visible() and strip.get_attribute("data-step") == "10"
    slider.focus()
    page.keyboard.press("ArrowLeft")
    assert strip.get_attribute("data-step") == "5"
    src = strip.locator("img").get_attribute("src")
    assert src.endswith(frames[1][1] + ".webp") and "/thumbs/" in src
    assert strip.locator("a.rg-image-full").get_attribute("href").endswith("/files/" + frames[1][1])
    assert slider.get_attribute("aria-valuetext") == "step 5" and "step 5" in strip.locator("figcaption").inner_text()
    page.keyboard.press("Home")
    assert strip.get_attribute("data-step") == "0"
    images_loaded(page, "figure.rg-image-strip img")
    probe.assert_clean()


def test_compare_grid_one_slider_nearest_step_at_or_below(page, site):
    ids, out, folder = site
    probe = Probe().attach(page)
    alpha, beta = ids["alpha"], ids["beta"]
    page.goto((out / "e" / folder / "compare.html").as_uri() + f"?runs={alpha},{beta},{ids['gamma']}")
    page.wait_for_selector("#rg-compare[data-ready='true'] section.rg-step-grid[data-ready='true']", state="attached")
    grid = "#rg-compare section.rg-step-grid"
    heads = page.eval_on_selector_all(f"{grid} thead th[data-run-id]", "ths => ths.map(th => th.dataset.runId)")
    assert heads == [alpha, beta]  # in the chosen order; gamma has no images
    digits, confusion = "samples/digits", "confusion"
    assert cells(page, grid) == {(digits, alpha): "10", (digits, beta): "20", (confusion, alpha): "10",
                                 (confusion, beta): None, (HOSTILE_KEY, alpha): None, (HOSTILE_KEY, beta): "3"}
    slider = page.locator(grid).get_by_label("Step")
    slider.focus()
    page.keyboard.press("ArrowLeft")  # the steps any shown run logged: 0, 3, 5, 10, 20
    assert page.get_attribute(grid, "data-step") == "10"
    assert cells(page, grid)[(digits, beta)] == "10"
    page.keyboard.press("ArrowLeft")
    got = cells(page, grid)
    assert page.get_attribute(grid, "data-step") == "5"
    assert (got[(digits, alpha)], got[(digits, beta)], got[(confusion, alpha)], got[(HOSTILE_KEY, beta)]) == ("5", "0", "0", "3")
    page.keyboard.press("Home")
    assert set(cells(page, grid).values()) == {"0", None}
    hostile_row = page.locator(f"{grid} tbody tr").filter(has_text="data-pwned")
    assert HOSTILE_KEY in hostile_row.locator("th").inner_text()  # the key is text
    assert "first image at step 3" in hostile_row.locator("td").nth(1).inner_text()
    page.keyboard.press("End")
    assert page.get_attribute(grid, "data-step") == "20"
    images_loaded(page, f"{grid} img")
    assert page.query_selector_all(INJECTED) == []
    probe.assert_clean()


def test_compare_grid_follows_the_runs_chosen(page, site):
    ids, out, folder = site
    probe = Probe().attach(page)
    compare = (out / "e" / folder / "compare.html").as_uri()
    page.goto(compare + f"?runs={ids['beta']}")
    page.wait_for_selector("#rg-compare[data-ready='true']", state="attached")
    assert page.eval_on_selector_all("section.rg-step-grid thead th[data-run-id]",
                                     "ths => ths.map(th => th.dataset.runId)") == [ids["beta"]]
    assert sorted(key for key, _run in cells(page)) == sorted([HOSTILE_KEY, "samples/digits"])
    page.goto(compare + f"?runs={ids['gamma']}")
    page.wait_for_selector("#rg-compare[data-ready='true']", state="attached")
    assert page.query_selector("section.rg-step-grid") is None  # no chosen run has images
    probe.assert_clean()


def test_experiment_grid_moves_with_its_slider(page, site):
    ids, out, folder = site
    probe = Probe().attach(page)
    page.goto((out / "e" / folder / "index.html").as_uri())
    page.wait_for_selector("section.rg-step-grid[data-ready='true']", state="attached")
    assert page.query_selector("section.rg-step-grid script") is None  # the static grid was replaced
    slider = page.locator("section.rg-step-grid").get_by_label("Step")
    slider.focus()
    page.keyboard.press("Home")
    assert page.get_attribute("section.rg-step-grid", "data-step") == "0"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("section.rg-step-grid", "data-step") == "5"
    assert cells(page)[("samples/digits", ids["alpha"])] == "5"
    images_loaded(page, "section.rg-step-grid img")
    assert page.query_selector_all(INJECTED) == []
    probe.assert_clean()


def test_without_javascript_the_last_steps_are_a_static_grid(browser, site):
    ids, out, folder = site
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        probe = Probe().attach(page)
        for rel in (f"e/{folder}/compare.html", f"e/{folder}/index.html"):
            page.goto((out / rel).as_uri())
            grid = page.locator("section.rg-step-grid")
            assert grid.get_attribute("data-step") == "20", rel
            got = cells(page)
            assert got[("samples/digits", ids["alpha"])] == "10" and got[("samples/digits", ids["beta"])] == "20", rel
            assert got[("confusion", ids["beta"])] is None, rel
            assert HOSTILE_KEY in grid.inner_text(), rel
            images_loaded(page, "section.rg-step-grid img")
            assert page.query_selector_all("section.rg-step-grid input") == [], rel
        page.goto((out / "r" / f"{ids['alpha']}.html").as_uri())
        strips = page.locator("figure.rg-image-strip")
        assert strips.count() == 2
        assert not page.locator("figure.rg-image-strip input[type=range]").first.is_visible()  # useless without JS
        images_loaded(page, "figure.rg-image-strip img")
        assert page.query_selector_all(INJECTED) == []
        probe.assert_clean()
    finally:
        context.close()
