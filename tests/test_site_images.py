"""Images per step (MLflow 3's log_image with key and step): the files recognised by name, the run page's
strips, the compare and experiment pages' grid without JavaScript, thumbnails made at build time (their
budget, their cache, and the images that cannot have one)."""
from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

import image_stores
from reportgen.site.artifacts.plan import Budget, compare_images, plan_run
from reportgen.site.artifacts.steps import frames_by_key, is_step_file, step_image
from reportgen.site.artifacts.thumbnails import (
    THUMB_MAX_BYTES, THUMB_MIN_BYTES, THUMB_SIDE, ThumbnailError, make_thumbnail, reservation,
)
from reportgen.site.pages.image_steps import MAX_PAGE_FRAMES, _thin, per_key_budget
from reportgen.stores.base import FileInfo
from site_stores import assert_safe_page, build, html_pages

UUID = "0f6f6a3e-7e8a-4f3e-9d7b-1c2d3e4f5a6b"


# -- names ----------------------------------------------------------------------------------------------

def test_mlflow_3_and_2_names_give_key_step_and_timestamp():
    image = step_image(f"images/train~samples+step+12+timestamp+1700000000123+{UUID}.png")
    assert (image.key, image.step, image.timestamp) == ("train/samples", 12, 1700000000123)
    old = step_image(f"images/train#samples%step%3%timestamp%17%{UUID}.png")  # MLflow 2's separators
    assert (old.key, old.step) == ("train/samples", 3)
    assert step_image(f"images/a+step+-2+timestamp+1+{UUID}.png").step == -2


@pytest.mark.parametrize("path", [
    f"images/k+step+1+timestamp+2+{UUID}+compressed.webp",  # MLflow's own preview: the site makes its own
    f"images/k+step+1+timestamp+2+{UUID}.txt",
    f"plots/k+step+1+timestamp+2+{UUID}.png",
    f"images/sub/k+step+1+timestamp+2+{UUID}.png",
    "images/k.png",
    f"images/k+step+x+timestamp+2+{UUID}.png",
    f"images/k%step+1+timestamp+2+{UUID}.png",  # mixed separators
])
def test_other_files_are_not_step_images(path):
    assert step_image(path) is None


def test_frames_are_in_step_order_one_per_step_the_last_logged_winning():
    paths = [f"images/k+step+{step}+timestamp+{ts}+u{n}.png" for n, (step, ts) in enumerate([(10, 5), (2, 1), (10, 9), (2, 0)])]
    paths.append(f"images/k+step+10+timestamp+99+u9+compressed.webp")
    frames = frames_by_key(paths)
    assert [(f.step, f.timestamp) for f in frames["k"]] == [(2, 1), (10, 9)]
    assert is_step_file(paths[-1]) and not step_image(paths[-1])


def test_step_images_leave_the_compare_pages_other_images_table():
    planned = plan_run(_Listing({f"images/k+step+1+timestamp+2+{UUID}.png": 100, "plot.png": 100,
                                 f"images/k+step+1+timestamp+2+{UUID}+compressed.webp": 50}),
                       "r", Budget(10**6, 10**6), lambda *_: None)
    assert compare_images(planned) == ["plot.png"]


# -- thumbnails -----------------------------------------------------------------------------------------

def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), "teal").save(out, format="PNG")
    return out.getvalue()


def _saved(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 20), "teal").save(out, format=fmt)
    return out.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels and whose data is a few bytes: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_a_thumbnail_is_a_small_webp_within_its_reservation():
    thumb = make_thumbnail(_png(1200, 600), limit=reservation(50_000))
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.format == "WEBP" and image.size == (THUMB_SIDE, THUMB_SIDE // 2)
    assert len(thumb) <= reservation(50_000)
    tiny = make_thumbnail(_png(28, 28, "L"), limit=reservation(80))
    with Image.open(io.BytesIO(tiny)) as image:
        assert image.size == (28, 28)  # never enlarged
    assert reservation(80) == THUMB_MIN_BYTES and reservation(10**9) == THUMB_MAX_BYTES


@pytest.mark.parametrize("data, reason", [
    (_png(64, 64)[:60], "not a readable image"),  # truncated
    (b"GIF89a" + b"\x00" * 20, "not an image of a type"),
    (b"<svg onload=alert(1)>", r"not an image of a type pages show \(PNG, JPEG"),
    (_saved("TIFF"), "not an image of a type"),  # a decoder pages never need is never asked
    (_saved("EPS"), "not an image of a type"),  # (Pillow's EPS decoder runs Ghostscript)
    (_png_header_only(100_000, 100_000), "too many pixels"),  # Pillow's own guard
    (_png_header_only(7_000, 7_000), "7000x7000 is too many pixels"),  # under Pillow's, over ours
    (_png_header_only(0, 5), "not an image of a type"),  # Pillow identifies no PNG 0 pixels wide
], ids=["truncated", "gif-header", "svg", "tiff", "eps", "bomb", "huge", "zero-width"])
def test_broken_and_hostile_images_are_refused_with_a_reason(data, reason):
    with pytest.raises(ThumbnailError, match=reason):
        make_thumbnail(data, limit=THUMB_MAX_BYTES)


def test_a_thumbnail_that_cannot_fit_its_reservation_is_refused():
    noise = Image.frombytes("RGB", (256, 256), bytes(range(256)) * 768)
    out = io.BytesIO()
    noise.save(out, format="PNG")
    with pytest.raises(ThumbnailError, match="larger than the 100 bytes"):
        make_thumbnail(out.getvalue(), limit=100)


class _Listing:
    """What plan_run needs of a store: a listing of file sizes."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes

    def walk_artifacts(self, run_id, *, max_files):
        return [FileInfo(path, False, size) for path, size in self.sizes.items()]


def test_a_thumbnail_counts_toward_the_site_budget_with_its_image():
    name = f"images/k+step+1+timestamp+2+{UUID}.png"
    size = 50_000
    both = size + reservation(size)
    exact = plan_run(_Listing({name: size}), "r", Budget(10**6, both), lambda *_: None)
    assert exact[0].copy and exact[0].thumb == reservation(size)
    warnings = []
    short = plan_run(_Listing({name: size}), "r", Budget(10**6, both - 1), lambda *args: warnings.append(args))
    assert not short[0].copy and short[0].thumb == 0 and "site size limit" in warnings[0][1]
    plain = plan_run(_Listing({"plot.png": size}), "r", Budget(10**6, size), lambda *_: None)
    assert plain[0].copy and plain[0].thumb == 0  # other images take no thumbnail and no reservation


def test_pages_carry_a_bounded_number_of_frames():
    assert per_key_budget([10] * 5) > 10
    keep = per_key_budget([1000] * 100)
    assert keep * 100 <= MAX_PAGE_FRAMES
    frames = list(range(1000))
    thinned = _thin(frames, keep)
    assert len(thinned) == keep and thinned[0] == 0 and thinned[-1] == 999 and thinned == sorted(thinned)
    assert _thin(frames, 1) == [999]


# -- sites of stores written by real MLflow 3 -------------------------------------------------------------

@pytest.fixture(scope="module", params=["file", "sqlite"])
def mlflow_site(request, tmp_path_factory):
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp(f"images-{request.param}")
    uri = (root / "mlruns").as_uri() if request.param == "file" else f"sqlite:///{root / 'mlflow.db'}"
    ids = image_stores.write(uri)
    result = build(root / "mlruns" if request.param == "file" else uri, root / "site")
    return ids, root / "site", html_pages(root / "site"), result


def _exp_folder(pages) -> str:
    return next(name.rsplit("/", 1)[0] for name in pages if name.endswith("compare.html") and not name.startswith("e/0/"))


def test_run_page_shows_a_strip_per_key_at_its_last_step(mlflow_site):
    ids, out, pages, result = mlflow_site
    soup = pages[f"r/{ids['alpha']}.html"]
    strips = soup.select("figure.rg-image-strip")
    assert [s["data-key"] for s in strips] == ["confusion", "samples/digits"]
    assert [s["data-step"] for s in strips] == ["10", "10"]
    for strip in strips:
        img = strip.select_one("img.rg-image-thumb")
        thumb, full = out / "r" / img["src"], out / "r" / strip.select_one("a.rg-image-full")["href"]
        with Image.open(thumb) as image:
            assert image.format == "WEBP" and max(image.size) <= THUMB_SIDE
        with Image.open(full) as image:
            assert image.format == "PNG" and full.suffix == ".png"  # the full image keeps its type
        assert "step 10" in img["alt"]
        slider = strip.select_one("input[type=range]")
        assert slider.find_parent("label").has_attr("hidden")  # shown by the script
        data = json.loads(strip.select_one("script.rg-image-frames").string)
        assert [step for step, _ in data["keys"][strip["data-key"]]] == image_stores.RUNS["alpha"][strip["data-key"]]
        for _step, name in data["keys"][strip["data-key"]]:
            assert (out / "r" / (data["thumbs"] + name + ".webp")).is_file()
            assert (out / "r" / (data["files"] + name)).is_file()
    with Image.open(out / "r" / strips[0].select_one("img")["src"]) as image:
        assert image.size == (THUMB_SIDE, THUMB_SIDE // 2)  # the 600x300 picture, made small
    assert not pages[f"r/{ids['gamma']}.html"].select("figure.rg-image-strip")
    assert result.problems == []


def test_compare_page_without_javascript_shows_the_grid_at_the_last_step(mlflow_site):
    ids, out, pages, _ = mlflow_site
    folder = _exp_folder(pages)
    soup = pages[f"{folder}/compare.html"]
    grid = soup.select_one("#rg-compare section.rg-step-grid")
    assert grid["data-step"] == "20"
    runs = [th["data-run-id"] for th in grid.select("thead th[data-run-id]")]
    assert sorted(runs) == sorted([ids["alpha"], ids["beta"]])  # gamma has no images
    rows = {tr["data-key"]: tr for tr in grid.select("tbody tr")}
    assert sorted(rows) == ["confusion", "samples/digits"]
    steps = {key: [td.get("data-step") for td in tr.select("td")] for key, tr in rows.items()}
    order = {ids["alpha"]: "alpha", ids["beta"]: "beta"}
    expect = {key: [str(image_stores.RUNS[order[r]][key][-1]) if key in image_stores.RUNS[order[r]] else None
                    for r in runs] for key in rows}
    assert steps == expect
    for img in grid.select("img"):
        assert (out / folder / img["src"]).is_file() and img["src"].endswith(".webp")
    assert not soup.select(".rg-image-grid th[scope=row]"), "step images are not in the other images' table"
    data = json.loads(soup.select_one("#rg-compare-data").string)
    by_id = {run["run_id"]: run for run in data["runs"]}
    assert "image_steps" not in by_id[ids["gamma"]]
    assert sorted(by_id[ids["beta"]]["image_steps"]["keys"]) == ["samples/digits"]


def test_experiment_page_carries_its_grid_and_the_frames(mlflow_site):
    ids, out, pages, _ = mlflow_site
    folder = _exp_folder(pages)
    soup = pages[f"{folder}/index.html"]
    grid = soup.select_one("section.rg-step-grid")
    data = json.loads(grid.select_one("script.rg-image-grid-data").string)
    assert {run["run_id"] for run in data["runs"]} == {ids["alpha"], ids["beta"]}
    for run in data["runs"]:
        assert (out / folder / run["url"]).is_file()
        for frames in run["image_steps"]["keys"].values():
            for _step, name in frames:
                assert (out / folder / (run["image_steps"]["thumbs"] + name + ".webp")).is_file()
    for name, page in pages.items():
        assert_safe_page(name, page, out)


# -- hostile and broken files ---------------------------------------------------------------------------

def test_broken_images_are_skipped_with_a_warning_and_the_rest_shows(tmp_path):
    pytest.importorskip("mlflow")
    ids = image_stores.write((tmp_path / "mlruns").as_uri())
    images = next((tmp_path / "mlruns").glob(f"*/{ids['alpha']}/artifacts/images"))
    bad = {
        f"bomb+step+1+timestamp+1+{UUID}.png": _png_header_only(100_000, 100_000),
        f"cut+step+1+timestamp+1+{UUID}.png": _png(64, 64)[:70],
        f"text+step+1+timestamp+1+{UUID}.png": b"not an image at all",
    }
    for name, data in bad.items():
        (images / name).write_bytes(data)
    result = build(tmp_path / "mlruns", tmp_path / "site")
    messages = {p.path: p.message for p in result.problems}
    for name in bad:
        path = next(p for p in messages if name in p)
        assert messages[path].startswith("no thumbnail:") and ids["alpha"] in path
    assert "too many pixels" in next(m for p, m in messages.items() if "bomb" in p)
    pages = html_pages(tmp_path / "site")
    strips = {s["data-key"]: s for s in pages[f"r/{ids['alpha']}.html"].select("figure.rg-image-strip")}
    assert {"bomb", "cut", "text", "confusion", "samples/digits"} <= set(strips)
    assert strips["bomb"].select_one("img")["alt"] == "bomb, step 1"  # shown in place of the picture
    assert not (tmp_path / "site" / "r" / strips["bomb"].select_one("img")["src"]).exists()
    assert (tmp_path / "site" / "r" / strips["confusion"].select_one("img")["src"]).is_file()


def test_thumbnails_come_back_from_the_cache(tmp_path):
    pytest.importorskip("mlflow")
    ids = image_stores.write((tmp_path / "mlruns").as_uri())
    cache = tmp_path / "cache"
    build(tmp_path / "mlruns", tmp_path / "site", cache_dir=cache)
    thumbs = sorted(p.relative_to(tmp_path / "site") for p in (tmp_path / "site").rglob("thumbs/*.webp"))
    assert len(thumbs) == sum(len(steps) for keys in image_stores.RUNS.values() for steps in keys.values())
    again = build(tmp_path / "mlruns", tmp_path / "site", cache_dir=cache)
    assert again.reused >= len(ids)
    assert sorted(p.relative_to(tmp_path / "site") for p in (tmp_path / "site").rglob("thumbs/*.webp")) == thumbs


def test_the_site_size_limit_counts_thumbnails(tmp_path):
    pytest.importorskip("mlflow")
    ids = image_stores.write((tmp_path / "mlruns").as_uri())
    files = [p for p in (tmp_path / "mlruns").rglob("artifacts/**/*") if p.is_file()]
    need = sum(p.stat().st_size + (reservation(p.stat().st_size) if step_image(f"images/{p.name}") else 0)
               for p in files)
    limit = need - THUMB_MIN_BYTES  # one image and its thumbnail do not fit
    result = build(tmp_path / "mlruns", tmp_path / "site", max_site_size=limit)
    assert result.budget_hit and any("site size limit" in p.message for p in result.problems)
    written = [p for p in (tmp_path / "site" / "r").rglob("*") if p.is_file() and p.parent.name in ("files", "thumbs")]
    assert sum(p.stat().st_size for p in written) <= limit
    pages = html_pages(tmp_path / "site")
    for name, soup in pages.items():
        assert_safe_page(name, soup, tmp_path / "site")  # every image a page shows was written
    frames = sum(len(steps) for name in ids for strip in pages[f"r/{ids[name]}.html"].select("figure.rg-image-strip")
                 for steps in json.loads(strip.select_one("script.rg-image-frames").string)["keys"].values())
    left_out = [p for p in result.problems if "site size limit" in p.message and ".png" in p.path]
    logged = sum(len(steps) for keys in image_stores.RUNS.values() for steps in keys.values())
    assert left_out and frames == logged - len(left_out)  # a frame is shown exactly when it was copied


def test_a_tracking_servers_images_show_the_same(tmp_path):
    from mlflow_server import mlflow_missing, running

    if mlflow_missing():
        pytest.skip(mlflow_missing())
    with running(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path) as server:
        ids = image_stores.write(server.url)
        result = build(server.url, tmp_path / "site")
    assert result.problems == []
    pages = html_pages(tmp_path / "site")
    strips = pages[f"r/{ids['alpha']}.html"].select("figure.rg-image-strip")
    assert [(s["data-key"], s["data-step"]) for s in strips] == [("confusion", "10"), ("samples/digits", "10")]
    for strip in strips:
        data = json.loads(strip.select_one("script.rg-image-frames").string)
        for _step, name in data["keys"][strip["data-key"]]:
            assert (tmp_path / "site" / "r" / (data["thumbs"] + name + ".webp")).is_file()


def test_images_logged_by_reportgen_tracking_show_the_same(tmp_path):
    from reportgen.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    run = client.create_run(client.create_experiment("ours"), run_name="ours")
    for step in (0, 7):
        client.log_image(run.info.run_id, image_stores.picture("alpha", "samples/digits", step), key="samples/digits",
                         step=step)
    client.set_terminated(run.info.run_id)
    result = build(tmp_path / "mlruns", tmp_path / "site")
    strip = html_pages(tmp_path / "site")[f"r/{run.info.run_id}.html"].select_one("figure.rg-image-strip")
    assert (strip["data-key"], strip["data-step"]) == ("samples/digits", "7") and result.problems == []
    assert (tmp_path / "site" / "r" / strip.img["src"]).is_file()
