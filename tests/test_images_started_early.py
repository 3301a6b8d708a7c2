"""ChartSlots.start_images / finish_images: the static images drawn while other work goes on are the files,
fallbacks and warnings render_images gives."""
from __future__ import annotations

import threading

from reportgen.site.pages.chart_slots import ChartSlots
from reportgen.site.static_images import ImageMaker


def _point_spec(n: int) -> dict:
    return {"mark": "point", "data": {"values": [{"a": i} for i in range(n)]},
            "encoding": {"x": {"field": "a", "type": "quantitative"}}}


def _slots(folder, warnings) -> ChartSlots:
    slots = ChartSlots("c", out_dir=folder, image_dir="charts", root="../", max_images=3,
                       warn=lambda path, message: warnings.append((path, message)))
    slots.add("good", lambda: _point_spec(4))
    slots.add("bad", lambda: {"mark": "nonsense"})
    slots.add("other", lambda: _point_spec(6))
    return slots


def _outcome(slots: ChartSlots, folder) -> tuple:
    files = {path.name: path.read_bytes() for path in sorted((folder / "charts").glob("*.svg"))}
    return [item["fallback"] for item in slots.items], files


def test_images_started_early_are_those_render_images_writes(tmp_path):
    helper = ImageMaker(helper=True)  # no helper when this process started vl-convert (pytest order)
    try:
        for maker in (helper, ImageMaker(helper=False)):
            early_warnings: list = []
            early = _slots(tmp_path / "early", early_warnings)
            early.start_images(maker)
            assert [item["fallback"] for item in early.items] == [None, None, None]  # nothing written yet
            assert early_warnings == []
            early.finish_images()
            plain_warnings: list = []
            plain = _slots(tmp_path / "plain", plain_warnings)
            plain.render_images(maker)
            assert _outcome(early, tmp_path / "early") == _outcome(plain, tmp_path / "plain")
            assert early_warnings == plain_warnings and [path for path, _ in early_warnings] == ["chart 'bad'"]
            assert _outcome(early, tmp_path / "early")[0] == ["../charts/c-1.svg", None, "../charts/c-3.svg"]
    finally:
        helper.close()


def test_with_a_helper_the_drawing_runs_while_this_thread_goes_on(tmp_path):
    maker = ImageMaker(helper=True)
    try:
        if maker.pool is None:  # this process started vl-convert already: images are drawn at finish
            assert maker.start([_point_spec(2)]).__name__ == "<lambda>"
            return
        with maker.lock:  # a draw in progress elsewhere: start() must not wait for it
            finish = maker.start([_point_spec(2)])
            assert any(thread.name == "reportgen-images" for thread in threading.enumerate())
        assert finish()[0].startswith(b"<svg")
    finally:
        maker.close()


def test_finish_without_start_draws_the_images(tmp_path):
    warnings: list = []
    slots = _slots(tmp_path, warnings)
    slots.finish_images()
    assert _outcome(slots, tmp_path)[0] == ["../charts/c-1.svg", None, "../charts/c-3.svg"]
