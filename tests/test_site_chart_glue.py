"""The site's chart glue: run-page specs made from a cached template equal what reportgen.charts makes."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd

from reportgen import charts
from reportgen.site import runspecs
from reportgen.site.chartslots import _HistoryRows, _stable_ids, _top_runs
from reportgen.site.runspecs import RunHistorySpecs, Series, split_history
from reportgen.site.summary import best_run
from reportgen.site.jsonblock import json_text


def _series(n: int, seed: int) -> Series:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=n)
    values[n // 3] = math.nan
    return Series(np.arange(n, dtype="int64"), 1_700_000_000_000 + 1000 * np.arange(n, dtype="int64"), values)


def _direct(run_id, label, key, series, max_points):
    frame = pd.DataFrame({"run_id": run_id, "key": key, "step": series.step, "timestamp": series.timestamp,
                          "value": series.value})
    return charts.history_chart(frame, title=key, run_labels={run_id: label}, max_points=max_points, height=180)


def test_cached_specs_equal_direct_specs():
    specs = RunHistorySpecs(max_points=50)
    first = specs.spec("a" * 32, "first", "val/loss", _series(10, 1))
    assert first == _direct("a" * 32, "first", "val/loss", _series(10, 1), 50)
    for n, seed, label in [(5, 2, "short <b>"), (400, 3, "long"), (300, 5, "long \u2028 run\u202e"), (2, 4, "two")]:
        cached = specs.spec(f"{seed:032x}", label, "val/loss", _series(n, seed))
        expected = _direct(f"{seed:032x}", label, "val/loss", _series(n, seed), 50)
        assert json.loads(json_text(cached)) == json.loads(json_text(expected))
        assert json_text(cached) == json_text(expected)


def test_a_run_with_far_outliers_gets_its_own_y_range():
    """A diverged run's chart is scaled to its values without the outliers (robust_range); no template
    made from a normal run fits it, and a template is never made from it."""
    def series(values):
        n = len(values)
        return Series(np.arange(n, dtype="int64"), 1_700_000_000_000 + 1000 * np.arange(n, dtype="int64"),
                      np.array(values, dtype=float))

    normal = [1.0 + 0.01 * i for i in range(40)]
    diverged = normal[:39] + [1e12]
    specs = RunHistorySpecs(max_points=200)
    for index, values in enumerate([normal, diverged, [2.0 * v for v in normal], diverged, normal]):
        run_id = f"{index:032x}"
        made = specs.spec(run_id, f"run {index}", "loss", series(values))
        expected = _direct(run_id, f"run {index}", "loss", series(values), 200)
        assert json_text(made) == json_text(expected), index
        assert (expected["usermeta"]["reportgen"]["robust_y"] is not None) == (values is diverged)


def test_the_quick_outlier_test_agrees_with_robust_range():
    from reportgen.chartdata import robust_range

    rng = np.random.default_rng(11)
    for _ in range(3000):
        n = int(rng.integers(0, 60))
        values = rng.normal(size=n) * 10.0 ** int(rng.integers(-6, 6))
        if n and rng.random() < 0.4:
            values[rng.integers(0, n)] = rng.choice([1e12, -1e9, math.nan, math.inf, 60.0 * (values.std() + 1)])
        if rng.random() < 0.2:
            values = np.round(values)
        assert runspecs._no_far_outliers(values) == (robust_range(values) is None)


def test_numbers_json_is_what_json_writes(monkeypatch):
    """Run-page series may be formatted by orjson (when installed): the bytes must not depend on it."""
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**64, 20_000, dtype=np.uint64).view(np.float64)
    edges = [0.0, -0.0, 1.0, 1e-5, 1.5e-5, 1e-4, 2.5e-7, 1e15, 1e16, 1e22, 5e-324, 1.7976931348623157e308, 10.00001]
    arrays = [bits[np.isfinite(bits)].tolist(), edges, [None, 1.5, None], list(range(-5, 5)),
              [1_700_000_000_000, 2**62], *(np.round(rng.normal(size=500) * scale, 6).tolist()
                                            for scale in (1e-5, 1e-3, 1, 1e6, 1e17))]
    for use_orjson in (True, False):
        if not use_orjson:
            monkeypatch.setattr(runspecs, "_orjson", None)
        for array in arrays:
            for i in range(0, len(array), 100):
                chunk = array[i:i + 100]
                assert runspecs._numbers_json(chunk) == json.dumps(chunk, separators=(",", ":")), chunk


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


def test_split_history_groups_and_orders():
    frame = pd.DataFrame({"run_id": ["b", "a", "a", "b", "a"], "key": ["x", "y", "x", "x", "x"],
                          "step": [1, 0, 2, 0, 1], "timestamp": [5, 4, 3, 2, 1], "value": [1.0, 2.0, 3.0, 4.0, 5.0]})
    parts = split_history(frame)
    assert sorted(parts) == ["a", "b"] and sorted(parts["a"]) == ["x", "y"]
    assert parts["a"]["x"].step.tolist() == [1, 2] and parts["a"]["x"].value.tolist() == [5.0, 3.0]
    assert parts["b"]["x"].step.tolist() == [0, 1]


def test_stable_ids_renumber_per_image():
    svg = b'<clipPath id="clip7"/><g clip-path="url(#clip7)"/><linearGradient id="gradient_3"/>'
    assert _stable_ids(svg) == b'<clipPath id="clip1"/><g clip-path="url(#clip1)"/><linearGradient id="gradient_2"/>'


def test_split_history_of_sorted_and_shuffled_frames_agree():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"run_id": np.repeat(["r1", "r2", "r3"], 40), "key": np.tile(np.repeat(["a", "b"], 20), 3),
                          "step": np.tile(np.arange(20) // 2, 6), "timestamp": np.tile(np.arange(20), 6),
                          "value": rng.normal(size=120)})
    ordered = split_history(frame)
    shuffled = split_history(frame.sample(frac=1.0, random_state=3).reset_index(drop=True))
    assert sorted(ordered) == sorted(shuffled) == ["r1", "r2", "r3"]
    for run_id, by_key in ordered.items():
        for key, series in by_key.items():
            other = shuffled[run_id][key]
            assert series.step.tolist() == other.step.tolist() == sorted(series.step.tolist())
            assert series.timestamp.tolist() == other.timestamp.tolist()
            assert series.value.tolist() == other.value.tolist()


def _point_spec(n: int) -> dict:
    return {"mark": "point", "data": {"values": [{"a": i} for i in range(n)]},
            "encoding": {"x": {"field": "a", "type": "quantitative"}}}


def test_static_images_drawn_by_the_helper_equal_in_process_ones(tmp_path):
    from reportgen.site.chartslots import ChartSlots
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

    import pytest

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
