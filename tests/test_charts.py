"""Chart specs as data: marks, encodings, data size, JSON safety, and no metric/param key as a Vega field."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import vl_convert

from reportgen import charts, static_charts
from reportgen.errors import ReportgenError
from reportgen.site import assets

HOSTILE_KEY = 'loss.[val]"\u2028\u202e<x>'
SYNTHETIC = {"x", "t", "r", "t0", "dt", "y", "ys", "yc", "c", "k", "id", "run", "label", "href", "g", "i", "d", "di", "v", "v2",
             "raw", "txt", "m", "lo", "hi", "nc", "cs"}


def history(n_runs: int = 3, n_steps: int = 100, key: str = "loss", nan_at: int | None = None) -> pd.DataFrame:
    rows = []
    for r in range(n_runs):
        for s in range(n_steps):
            value = math.nan if s == nan_at else 1.0 / (s + 1) + r
            rows.append({"run_id": f"run{r:04d}", "key": key, "step": s, "timestamp": 1_000 * s + 5 * r, "value": value})
    return pd.DataFrame(rows)


def fields_of(spec) -> set[str]:
    """Every field name a spec refers to: encodings, transforms, sort fields."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("field", "y2", "x2", "as") and isinstance(value, str):
                    found.add(value)
                elif key == "flatten" and isinstance(value, list):
                    found.update(value)
                elif key != "data":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec)
    return found


def strict_json(spec: dict) -> str:
    return json.dumps(spec, allow_nan=False)


def compiles(spec: dict) -> dict:
    """Vega-Lite's own compiler accepts the spec (the same version the page bundle runs)."""
    return vl_convert.vegalite_to_vega(spec, vl_version=static_charts.VL_VERSION)


def test_history_chart_one_line_per_run_with_synthetic_fields():
    spec = charts.history_chart(history(key=HOSTILE_KEY), title=HOSTILE_KEY, run_labels={"run0000": "a"})
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"]["field"] == "x" and spec["encoding"]["y"]["field"] == "y"
    assert spec["encoding"]["color"]["field"] == "c"
    assert spec["encoding"]["y"]["scale"] == {"zero": False}
    assert [s["id"] for s in spec["data"]["values"]] == ["run0000", "run0001", "run0002"]
    assert [s["c"] for s in spec["data"]["values"]] == ["a", "run0001", "run0002"]
    assert fields_of(spec) <= SYNTHETIC
    assert "$schema" not in spec  # the only remote URL a spec would carry
    text = strict_json(spec)
    assert "\u2028" not in text and "\u202e" not in text and "[U+202E]" in text
    compiles(spec)


def test_history_chart_nan_is_a_gap_not_a_token():
    spec = charts.history_chart(history(n_runs=1, nan_at=10), title="loss", run_labels={})
    ys = spec["data"]["values"][0]["y"]
    assert ys[10] is None and ys[9] is not None
    assert spec["mark"]["invalid"] == "break-paths-filter-domains"
    strict_json(spec)


def test_history_chart_infinities_become_null():
    frame = history(n_runs=1, n_steps=5)
    frame.loc[2, "value"] = math.inf
    frame.loc[3, "value"] = -math.inf
    ys = charts.history_chart(frame, title="t", run_labels={})["data"]["values"][0]["y"]
    assert ys[2] is None and ys[3] is None and ys[4] is not None


def test_history_chart_downsamples_and_keeps_extremes():
    frame = history(n_runs=2, n_steps=10_000)
    frame.loc[5_000, "value"] = 99.0  # a spike in run 0 must survive
    frame.loc[6_000, "value"] = -99.0
    spec = charts.history_chart(frame, title="t", run_labels={}, max_points=300)
    first = spec["data"]["values"][0]
    assert len(first["x"]) <= 300
    assert 99.0 in first["y"] and -99.0 in first["y"]
    assert first["x"][0] == 0 and first["x"][-1] == 9_999
    assert first["x"] == sorted(first["x"])
    assert spec["usermeta"]["reportgen"]["rows"] == sum(len(s["x"]) for s in spec["data"]["values"])


def test_history_chart_rows_bounded_for_2000_runs():
    frame = history(n_runs=2000, n_steps=200)
    spec = charts.history_chart(frame, title="t", run_labels={})
    rows = spec["usermeta"]["reportgen"]["rows"]
    assert rows <= charts.MAX_ROWS
    assert len(spec["data"]["values"]) == 2000
    assert spec["encoding"]["color"]["legend"] is None  # 2000 legend entries would be noise
    assert len(strict_json(spec)) < 1_500_000


def test_history_chart_ignores_far_outliers_in_its_y_range():
    frame = history(n_runs=3, n_steps=100)
    assert charts.history_chart(frame, title="t", run_labels={})["usermeta"]["reportgen"]["robust_y"] is None
    frame.loc[50, "value"] = 1e299  # one diverged point
    spec = charts.history_chart(frame, title="t", run_labels={})
    lo, hi = spec["usermeta"]["reportgen"]["robust_y"]
    assert spec["encoding"]["y"]["scale"] == {"zero": False, "domain": [lo, hi]}
    assert spec["encoding"]["y"]["field"] == "yc"  # y pinned near the range, so SVG paths stay parseable
    low, high = spec["usermeta"]["reportgen"]["clamp_y"]
    assert spec["transform"][-1] == {"calculate": f"isValid(datum.y) ? clamp(datum.y, {low!r}, {high!r}) : null",
                                    "as": "yc"}
    assert -0.5 < lo < 0.1 and 2 < hi < 3.5  # the bulk of the values (0.01 .. 3) padded 5%, not 1e299
    assert 1e299 in spec["data"]["values"][0]["y"]  # the point is kept, only clipped
    # a steep but normal curve (loss from 1000 to 0.01) is not an outlier
    steep = history(n_runs=1, n_steps=200)
    steep["value"] = 1000.0 * np.exp(-steep["step"] / 17.0)
    assert charts.history_chart(steep, title="t", run_labels={})["usermeta"]["reportgen"]["robust_y"] is None
    # a diverged run that is a good share of the points (here 10%) is still left out
    many = history(n_runs=10, n_steps=100)
    many.loc[many["run_id"] == "run0009", "value"] = 1e30
    assert charts.history_chart(many, title="t", run_labels={})["usermeta"]["reportgen"]["robust_y"][1] < 20
    assert spec["mark"]["clip"] is True
    compiles(spec)


def test_history_chart_x_axes_and_log_scale():
    spec = charts.history_chart(history(), title="t", run_labels={}, x="relative", log_y=True)
    assert spec["encoding"]["x"]["field"] == "r"
    assert spec["encoding"]["y"]["scale"]["type"] == "log"
    assert set(spec["usermeta"]["reportgen"]["x_axes"]) == {"step", "timestamp", "relative"}
    second = spec["data"]["values"][1]
    assert second["t0"] == 5 and second["dt"][:2] == [0, 1000]  # ms since that run's first point
    wall = charts.history_chart(history(), title="t", run_labels={}, x="timestamp")
    assert wall["encoding"]["x"] == {"field": "t", "type": "temporal", "title": "Wall time"}
    with pytest.raises(ValueError):
        charts.history_chart(history(), title="t", run_labels={}, x="epoch")


def _axis_labels(spec: dict) -> list[list[str]]:
    svg = vl_convert.vegalite_to_svg(spec, vl_version=static_charts.VL_VERSION)
    groups = re.findall(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', svg, re.S)
    return [re.findall(r">([^<>]+)</text>", group) for group in groups]


def test_history_chart_derives_wall_and_relative_time_in_vega():
    """t (wall time) and r (seconds since the series' first point) come from the spec's transforms: its
    axes read as those of a plain chart of the same points with absolute stamps and seconds."""
    frame = history(n_runs=1)
    frame["timestamp"] = 1_700_000_000_000 + 2_000 * frame["step"]
    plain = {"data": {"values": [{"t": int(t), "r": (t - 1_700_000_000_000) / 1000, "y": y}
                                 for t, y in zip(frame["timestamp"], frame["value"])]},
             "mark": "line", "width": 400, "height": 240}
    for x, field, kind in (("timestamp", "t", "temporal"), ("relative", "r", "quantitative")):
        spec = charts.history_chart(frame, title="t", run_labels={}, x=x)
        spec["width"] = 400
        expected = _axis_labels({**plain, "encoding": {
            "x": {"field": field, "type": kind}, "y": {"field": "y", "type": "quantitative", "scale": {"zero": False}}}})
        assert len(expected) == 2 and all(len(labels) > 3 for labels in expected)
        assert _axis_labels(spec) == expected, x


def test_history_chart_several_keys_and_duplicate_names():
    frame = pd.concat([history(n_runs=2, key="a.b"), history(n_runs=2, key="c[0]")])
    spec = charts.history_chart(frame, title="t", run_labels={"run0000": "same", "run0001": "same"})
    labels = [s["c"] for s in spec["data"]["values"]]
    assert len(labels) == 4 and len(set(labels)) == 4
    assert spec["encoding"]["color"]["scale"]["domain"] == labels
    assert fields_of(spec) <= SYNTHETIC


def test_history_chart_colours_by_run_id():
    spec = charts.history_chart(history(n_runs=2), title="t", run_labels={},
                                colors={"run0001": "#ff0000", "run0000": "#00ff00"})
    assert spec["encoding"]["color"]["scale"]["range"] == ["#00ff00", "#ff0000"]


def test_history_chart_empty_frame():
    empty = pd.DataFrame(columns=["run_id", "key", "step", "timestamp", "value"])
    spec = charts.history_chart(empty, title="t", run_labels={})
    assert spec["data"]["values"] == []
    compiles(spec)


def test_unique_labels():
    assert charts.unique_labels(["aaaaaaaa1", "aaaaaaaa2", "b"], {"aaaaaaaa1": "x", "aaaaaaaa2": "x", "b": "y"}) == {
        "aaaaaaaa1": "x (aaaaaaaa1)", "aaaaaaaa2": "x (aaaaaaaa2)", "b": "y"}


def test_scatter_numeric_strings_and_unsafe_links():
    points = pd.DataFrame({"run": ["a", "b", "c"], "x": ["0.1", "0.001", "0.01"], "y": [1.0, math.nan, 3.0],
                           "label": ["A", "B", "C"], "href": ["r/a/index.html", "javascript:alert(1)", "//evil.com/x"]})
    spec = charts.scatter_chart(points, x_title=HOSTILE_KEY, y_title="loss")
    assert spec["mark"]["type"] == "point"
    assert spec["encoding"]["x"]["type"] == "quantitative"
    assert spec["encoding"]["x"]["scale"]["type"] == "log"  # 0.001 .. 0.1 spans two decades
    values = spec["data"]["values"]
    assert [v["x"] for v in values] == [0.1, 0.001, 0.01]
    assert values[1]["y"] is None
    assert [v["href"] for v in values] == ["r/a/index.html", None, None]
    assert fields_of(spec) <= SYNTHETIC
    strict_json(spec)
    compiles(spec)


def test_scatter_categorical_param():
    points = pd.DataFrame({"run": ["a", "b"], "x": ["adam", "sgd"], "y": [1, 2], "label": ["A", "B"]})
    spec = charts.scatter_chart(points, x_title="optimizer", y_title="loss")
    assert spec["encoding"]["x"]["type"] == "nominal"
    assert [v["x"] for v in spec["data"]["values"]] == ["adam", "sgd"]


def test_parallel_coordinates_normalises_each_axis():
    frame = pd.DataFrame({"lr": ["0.1", "0.01", "0.001"], "opt.[x]": ["adam", "sgd", "adam"],
                          "acc": [0.5, 0.7, 0.9], "name": ["r1", "r2", "r3"]})
    spec = charts.parallel_coordinates(frame, ["lr", "opt.[x]", "acc", "missing"], "acc", label_col="name")
    lines = spec["layer"][1]
    assert lines["mark"]["type"] == "line"
    rows = lines["data"]["values"]
    assert len(rows) == 9  # 3 runs x 3 present dims (color_by "acc" is already one of them)
    pos = {(r["label"], r["d"]): r["v"] for r in rows}
    assert pos[("r1", "acc")] == 0 and pos[("r3", "acc")] == 1 and pos[("r2", "acc")] == pytest.approx(0.5)
    assert pos[("r1", "lr")] == 1 and pos[("r3", "lr")] == 0 and pos[("r2", "lr")] == pytest.approx(0.5)  # log axis
    assert pos[("r1", "opt.[x]")] == 0 and pos[("r2", "opt.[x]")] == 1
    assert spec["usermeta"]["reportgen"]["dims"] == ["lr", "opt.[x]", "acc"]
    assert fields_of(spec) <= SYNTHETIC
    # Axis order comes from a field, not from a sort array of names (that would reach a Vega expression).
    assert lines["encoding"]["x"]["sort"] == {"field": "di", "op": "min"}
    compiles(spec)


def test_parallel_coordinates_keeps_runs_without_the_colour_metric():
    frame = pd.DataFrame({"lr": ["0.1", "0.01", "0.001"], "acc": [0.9, 0.8, math.nan], "name": ["a", "b", "c"]})
    spec = charts.parallel_coordinates(frame, ["lr"], "acc", label_col="name")
    rows = [r for r in spec["layer"][1]["data"]["values"] if r["label"] == "c"]
    assert [(r["c"], r["nc"], r["cs"]) for r in rows] == [(0.8, True, "-")] * 2
    assert spec["layer"][1]["encoding"]["color"]["condition"] == {"test": "datum.nc", "value": "#999999"}
    svg = static_charts.render_static(spec).decode()
    drawn = [m for m in svg.split("<path")[1:] if "Run: c" in m and "line mark" in m]
    assert drawn and ' d="M' in drawn[0] and 'stroke="#999999"' in drawn[0]


def test_parallel_coordinates_adds_the_colour_metric_as_last_axis():
    frame = pd.DataFrame({"lr": [1, 2], "loss": [0.5, 0.4]})
    spec = charts.parallel_coordinates(frame, ["lr"], "loss")
    assert spec["usermeta"]["reportgen"]["dims"] == ["lr", "loss"]


def test_history_chart_marks_points_of_short_series():
    short = charts.history_chart(history(n_steps=1), title="t", run_labels={})
    assert short["mark"]["point"]["filled"] is True
    assert charts.history_chart(history(n_steps=100), title="t", run_labels={})["mark"]["point"] is False
    compiles(short)


def test_seed_band_chart_layers_band_and_mean():
    frame = pd.DataFrame({"step": [0, 1, 2] * 2, "mean": [1.0, 2.0, 3.0, 2.0, math.nan, 4.0],
                          "std": [0.5, math.nan, 0.1, 0.1, 0.1, 0.1], "group": ["g1"] * 3 + ["g2"] * 3})
    spec = charts.seed_band_chart(frame, y_title=HOSTILE_KEY)
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["area", "line"]
    rows = spec["data"]["values"] if "data" in spec else spec["layer"][0]["data"]["values"]
    first = rows[0]
    assert (first["lo"], first["m"], first["hi"]) == (0.5, 1.0, 1.5)
    assert rows[1]["lo"] == rows[1]["hi"] == 2.0  # NaN std: no band, the mean stays
    assert rows[4]["m"] is None
    assert fields_of(spec) <= SYNTHETIC
    strict_json(spec)
    compiles(spec)


def _every_chart_kind() -> dict[str, dict]:
    diverged = history(n_runs=3)
    diverged.loc[50, "value"] = 1e299
    band = pd.DataFrame({"step": [0, 1, 2] * 2, "mean": [1.0, 2.0, 3.0, 2.0, 1.0, 4.0], "std": [0.5] * 6,
                         "group": ["g1"] * 3 + ["g2"] * 3})
    params = pd.DataFrame({"lr": ["0.1", "0.01", "0.001"], "opt": ["adam", "sgd", "adam"], "acc": [0.5, math.nan, 0.9],
                           "name": ["r1", "r2", "r3"]})
    points = pd.DataFrame({"run": ["a", "b"], "x": ["0.1", "0.001"], "y": [1.0, 2.0], "label": ["A", "B"],
                           "href": ["r/a/index.html", None], "group": ["g", None]})
    return {
        "history, points on short lines": charts.history_chart(history(n_steps=5), title="t", run_labels={}),
        "history, clamped outliers and colours": charts.history_chart(
            diverged, title="t", run_labels={}, x="timestamp", colors={"run0000": "#123456"}),
        "history, log y": charts.history_chart(history(n_runs=30), title="t", run_labels={}, x="relative", log_y=True),
        "history, empty": charts.history_chart(pd.DataFrame(columns=["run_id", "key", "step", "timestamp", "value"]),
                                               title="t", run_labels={}),
        "scatter, numeric and grouped": charts.scatter_chart(points, x_title="lr", y_title="loss", log_y=True),
        "scatter, categorical": charts.scatter_chart(points.assign(x=["adam", "sgd"]), x_title="opt", y_title="loss"),
        "parallel, numeric colour": charts.parallel_coordinates(params, ["lr", "opt"], "acc", label_col="name"),
        "parallel, nominal colour": charts.parallel_coordinates(params, ["lr", "acc"], "opt"),
        "seed band": charts.seed_band_chart(band),
    }


def test_every_chart_kind_is_valid_vega_lite():
    """Chart functions skip Altair's validation for speed: the Vega-Lite schema still accepts each kind."""
    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema import load_schema

    schema = load_schema()
    for name, spec in _every_chart_kind().items():
        assert validate_jsonschema(json.loads(strict_json(spec)), schema, raise_error=False) is None, name
    broken = {**charts.history_chart(history(), title="t", run_labels={}), "mark": {"type": "lines"}}
    assert validate_jsonschema(broken, schema, raise_error=False) is not None  # the check can fail


def test_downsample_indices_keeps_gaps():
    values = np.arange(1000, dtype=float)
    values[500] = np.nan
    keep = charts.downsample_indices(values, 60)
    assert len(keep) <= 60 and 500 in keep and keep[0] == 0 and keep[-1] == 999


def test_clean_text():
    assert charts.clean_text("a\u2028b\nc") == "a b c"
    assert charts.clean_text("x\u202ey\u200b") == "x[U+202E]y[U+200B]"
    assert charts.clean_text("plain ü") == "plain ü"


def test_theme_config_light_and_dark_differ():
    assert charts.theme_config()["range"]["category"] != charts.theme_config(dark=True)["range"]["category"]
    charts.register_altair_theme()
    import altair as alt
    assert "reportgen" in alt.theme.names()


def test_render_static_svg_and_png():
    spec = charts.history_chart(history(n_runs=2), title="t", run_labels={})
    svg = static_charts.render_static(spec, "svg")
    assert svg.startswith(b"<svg") and b"<path" in svg
    assert static_charts.render_static(spec, "png").startswith(b"\x89PNG")
    with pytest.raises(ReportgenError):
        static_charts.render_static(spec, "gif")
    with pytest.raises(ReportgenError):
        static_charts.render_static({"mark": "nonsense"}, "svg")


def test_write_assets_wraps_and_escapes_bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assets.vega_bundle_text.cache_clear()
    try:
        path = assets.write_assets(tmp_path / "site")
    finally:
        assets.vega_bundle_text.cache_clear()
    assert path == tmp_path / "site" / "static" / "vendor" / "vega-bundle.js"
    data = path.read_bytes()
    assert data.isascii()
    text = data.decode("ascii")
    assert "\n(function () {\n" in text and text.rstrip().endswith("})();")
    assert "window.vegaEmbed=" in text
    assert "\\u2212" in text  # the minus sign of axis labels, escaped
    cached = list((tmp_path / "cache" / "reportgen").glob("vega-bundle-*.js"))
    assert len(cached) == 1 and cached[0].read_bytes() == data
