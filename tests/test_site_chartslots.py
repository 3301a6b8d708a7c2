"""The site's chart glue: which charts a page gets (run pages draw reportgen.charts' history chart of
the run's series), the history rows picked for them, and their static images."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd

from reportgen import charts
from reportgen.chartdata import split_history
from reportgen.site.pages.chart_slots import ChartSlots, _HistoryRows, _stable_ids, _top_runs, run_charts
from reportgen.site.summary import best_run


def test_run_charts_are_the_history_charts_of_the_runs_frame():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"run_id": "r" * 32, "key": np.repeat(["loss", "acc", "once"], [300, 20, 1]),
                          "step": np.r_[np.arange(300), np.arange(20), [0]], "timestamp": np.arange(321) * 1000,
                          "value": rng.normal(size=321)})
    frame.loc[5, "value"] = 1e12  # a far outlier: the chart gets its own y range
    run = SimpleNamespace(info=SimpleNamespace(run_id="r" * 32, run_name="a <run>"), data=SimpleNamespace(tags={}))
    slots = ChartSlots("chart", out_dir=None, image_dir=None, root="../../", warn=lambda *args: None)
    run_charts(run, split_history(frame)["r" * 32], slots, 50)
    assert [item["title"] for item in slots.items] == ["acc", "loss"]  # a single value draws no chart
    for item in slots.items:
        key = item["title"]
        expected = charts.history_chart(frame[frame["key"] == key], title=key, run_labels={"r" * 32: "a <run>"},
                                        max_points=50, height=180)
        assert item["spec"] == expected
    assert slots.items[1]["spec"]["usermeta"]["reportgen"]["robust_y"] is not None


def test_history_rows_are_what_a_mask_selects():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"run_id": rng.choice(["a", "b", "c", "d"], 400), "key": rng.choice(["x", "y", "z"], 400),
                          "step": np.arange(400), "timestamp": np.arange(400), "value": rng.normal(size=400)})
    for history in (frame, frame.astype({"run_id": "category", "key": "category"})):
        rows = _HistoryRows(history)
        for key, run_ids in (("x", ["a", "c"]), ("z", ["d", "missing"]), ("y", []), ("absent", ["a"])):
            expected = history[(history["key"] == key) & history["run_id"].isin(run_ids)]
            picked = rows.of(key, run_ids)
            assert picked.equals(expected) and list(picked.index) == list(expected.index), (key, run_ids)


def test_history_rows_of_a_frame_in_blocks_are_what_a_mask_selects():
    rng = np.random.default_rng(11)
    blocks = []
    for run in ["a", "b", "c", "d", "e"]:
        for key in rng.permutation(["x", "y", "z"]).tolist():
            size = int(rng.integers(8, 40))
            blocks.append(pd.DataFrame({"run_id": run, "key": key, "step": np.arange(size), "timestamp": np.arange(size),
                                        "value": rng.normal(size=size)}))
    blocks.append(blocks[0].assign(step=blocks[0]["step"] + 100))  # a run's key met again, later in the frame
    frame = pd.concat(blocks, ignore_index=True)
    for history in (frame, frame.astype({"run_id": "category", "key": "category"}),
                    frame.iloc[:0], frame.iloc[::-1]):
        rows = _HistoryRows(history)
        assert rows.keys() == sorted(history["key"].astype(str).unique().tolist())
        for key, run_ids in (("x", ["a", "c"]), ("z", ["e", "missing"]), ("y", []), ("absent", ["a"]),
                             (str(frame["key"][0]), ["a", "b", "c", "d", "e"])):
            expected = history[(history["key"] == key) & history["run_id"].isin(run_ids)]
            picked = rows.of(key, run_ids)
            assert picked.equals(expected) and list(picked.index) == list(expected.index), (key, run_ids)
    assert _HistoryRows(frame).blocks is not None  # the case this test is for


def test_top_runs_are_the_picks_of_repeated_best_run():
    rng = np.random.default_rng(7)
    values = rng.choice([0.1, 0.2, 0.3, math.nan, math.inf, -math.inf, -0.0, 0.0], size=300).tolist()
    runs = [SimpleNamespace(info=SimpleNamespace(run_id=f"{(i * 7919) % 1000:04d}"),
                            data=SimpleNamespace(metrics={} if i % 10 == 0 else {key: values[i] for key in
                                                                                  ("val_loss", "accuracy", "foo")}))
            for i in range(300)]
    exp = SimpleNamespace(runs=runs, derived={})
    for key in ("val_loss", "accuracy", "foo"):
        for limit in (1, 30, 200, 300):
            left = {run.info.run_id: run.data.metrics[key] for run in runs if key in run.data.metrics}
            expected = []
            while left and len(expected) < limit and (winner := best_run(left, key)) is not None:
                expected.append(winner)
                left.pop(winner)
            expected += [run.info.run_id for run in runs
                         if key in run.data.metrics and run.info.run_id not in expected][:limit - len(expected)]
            assert _top_runs(exp, key, limit) == expected, (key, limit)


def test_stable_ids_renumber_per_image():
    svg = b'<clipPath id="clip7"/><g clip-path="url(#clip7)"/><linearGradient id="gradient_3"/>'
    assert _stable_ids(svg) == b'<clipPath id="clip1"/><g clip-path="url(#clip1)"/><linearGradient id="gradient_2"/>'


def _point_spec(n: int) -> dict:
    return {"mark": "point", "data": {"values": [{"a": i} for i in range(n)]},
            "encoding": {"x": {"field": "a", "type": "quantitative"}}}


def test_static_images_drawn_by_the_helper_equal_in_process_ones(tmp_path):
    from reportgen.site.pages.chart_slots import ChartSlots
    from reportgen.site.static_images import ImageMaker

    helper, here = ImageMaker(helper=True), ImageMaker(helper=False)
    try:
        specs = [_point_spec(3), {"mark": "nonsense"}]
        forked = helper.pool is not None  # not when this process already started vl-convert (pytest order)
        drawn, local = helper.draw(specs), here.draw(specs)
        assert helper.pool is not None or not forked  # the helper survived its work
        assert isinstance(drawn[0], bytes) and _stable_ids(drawn[0]) == _stable_ids(local[0])
        assert isinstance(drawn[1], str) and drawn[1] == local[1]  # a bad spec comes back as a message

        warnings = []
        slots = ChartSlots("c", out_dir=tmp_path, image_dir="charts", root="../",
                           warn=lambda path, message: warnings.append((path, message)), max_images=2)
        slots.add("good", lambda: _point_spec(4))
        slots.add("bad", lambda: {"mark": "nonsense"})
        slots.add("third", lambda: _point_spec(5))  # beyond max_images: no image
        slots.render_images(helper)
        assert [item["fallback"] for item in slots.items] == ["../charts/c-1.svg", None, None]
        assert (tmp_path / "charts" / "c-1.svg").read_bytes().startswith(b"<svg")
        assert [path for path, _ in warnings] == ["chart 'bad'"] and "no static image" in warnings[0][1]
    finally:
        helper.close()


def test_no_image_helper_is_forked_once_this_process_started_vl_convert():
    # A forked child drawing with an engine whose threads stayed in the parent hangs (it did, in pytest).
    from reportgen import static_charts
    from reportgen.site.static_images import ImageMaker

    static_charts.render_static(_point_spec(2))
    maker = ImageMaker(helper=True)
    assert maker.pool is None
    assert isinstance(maker.draw([_point_spec(2)])[0], bytes)


_PARENT_PID: list[int] = []


def _hang_in_child(spec):
    """Stands in for static_images._draw: hangs in the forked helper, draws in the parent."""
    import os
    import time

    from reportgen.static_charts import render_static

    if os.getpid() not in _PARENT_PID:
        time.sleep(600)
    return render_static(spec, "svg")


def test_a_hung_image_helper_is_killed_and_images_are_drawn_here(monkeypatch):
    import os
    import time

    from reportgen.site import static_images

    if not static_images._safe_to_fork():
        # This process already started vl-convert (an earlier test), so it forks no helper: run the test
        # in a fresh process instead.
        import subprocess
        import sys

        test_id = f"{__file__}::test_a_hung_image_helper_is_killed_and_images_are_drawn_here"
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_id],
                              capture_output=True, text=True, timeout=240)
        assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-2000:]
        return
    _PARENT_PID[:] = [os.getpid()]
    monkeypatch.setattr(static_images, "_draw", _hang_in_child)
    monkeypatch.setattr(static_images, "HELPER_TIMEOUT_S", 1.0)
    monkeypatch.setattr(static_images, "HELPER_TIMEOUT_PER_SPEC_S", 0.0)
    maker = static_images.ImageMaker(helper=True)
    assert maker.pool is not None
    began = time.monotonic()
    drawn = maker.draw([_point_spec(2)])
    assert time.monotonic() - began < 30
    assert isinstance(drawn[0], bytes) and drawn[0].startswith(b"<svg")
    assert maker.pool is None
