"""reportgen.chartspecs: charts.history_chart, parallel_coordinates and scatter_chart write their Vega-Lite
dicts directly; each must be the dict Altair gives for the chart it used to build (the references below are
that Altair code), for every shape of input."""
from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
import pytest
from altair.utils.schemapi import debug_mode

from reportgen import charts

HOSTILE = 'loss.[val]"\u2028\u202e<x>\x00'


def altair_history_spec(spec: dict, *, title: str, x: str, log_y: bool, height: int) -> dict:
    """The spec charts.history_chart made with Altair (its code before the direct dict), for the series,
    labels, palette and meta that `spec` holds."""
    meta = spec["usermeta"]["reportgen"]
    series = spec["data"]["values"]
    keys, robust, clamp = meta["keys"], meta["robust_y"], meta["clamp_y"]
    longest = max((len(one["x"]) for one in series), default=0)
    legend = alt.Legend(title="Run", symbolType="stroke") if len(series) <= charts.LEGEND_LIMIT else None
    with debug_mode(False):
        base = (alt.Chart(alt.NamedData(name="series"), title=title, width="container", height=height)
                .transform_flatten(["x", "dt", "y"])
                .transform_calculate(t="datum.t0 + datum.dt").transform_calculate(r="datum.dt / 1000"))
        if robust:
            base = base.transform_calculate(
                yc=f"isValid(datum.y) ? clamp(datum.y, {clamp[0]!r}, {clamp[1]!r}) : null")
        chart = (
            base
            .mark_line(invalid="break-paths-filter-domains", strokeWidth=1.5, clip=True,
                       point=alt.OverlayMarkDef(filled=True, size=24) if longest <= charts.POINTS_UP_TO else False)
            .encode(
                x=alt.X(**charts.X_AXES[x]),
                y=alt.Y(field="yc" if robust and not log_y else "y", type="quantitative",
                        title=keys[0] if len(keys) == 1 else "value",
                        scale=alt.Scale(type="log") if log_y else alt.Scale(zero=False, domain=list(robust))
                        if robust else alt.Scale(zero=False)),
                color=alt.Color(field="c", type="nominal", title="Run", scale=alt.Scale(type="ordinal"),
                                legend=legend),
                tooltip=[alt.Tooltip(field="c", type="nominal", title="Run"),
                         alt.Tooltip(field="k", type="nominal", title="Metric")],
            )
        )
        meta_in = {**meta, "robust_y": robust and tuple(robust)}
        reference = charts._finish(chart, meta_in, {"series": series}, data_is_safe=True)
    reference["encoding"]["color"]["scale"] = charts.json_safe(spec["encoding"]["color"]["scale"])
    return reference


def frame(n_runs: int, n_steps: int, *, keys=("loss",), outlier: bool = False, nan_every: int = 0,
          seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_runs):
        for key in keys:
            for s in range(n_steps):
                value = float(rng.normal(1.0 / (s + 1), 0.1))
                if outlier and r == 0 and s == n_steps // 2:
                    value = 1e299
                if nan_every and s % nan_every == 3:
                    value = math.nan
                rows.append({"run_id": f"run{r:04d}", "key": key, "step": s, "timestamp": 1_000 * s + 7 * r,
                             "value": value})
    return pd.DataFrame(rows, columns=["run_id", "key", "step", "timestamp", "value"])


CASES = [
    # (frame, keyword arguments)
    (frame(3, 100), {}),
    (frame(3, 100, outlier=True), {}),  # robust y range and the clamp transform
    (frame(3, 100, outlier=True), {"log_y": True}),
    (frame(2, 10), {"x": "timestamp"}),  # short: point marks
    (frame(2, 60, nan_every=5), {"x": "relative", "height": 180}),
    (frame(25, 30, outlier=True), {}),  # more series than a legend shows
    (frame(2, 50, keys=("loss", HOSTILE)), {}),  # several keys: y title "value"
    (frame(3, 50, keys=(HOSTILE,)), {"colors": {"run0001": "#ff0000"}}),
    (frame(2, 50), {"colors": ["#111111", "#222222"]}),
    (frame(0, 0), {}),
]


@pytest.mark.parametrize("history, options", CASES)
@pytest.mark.parametrize("title", ["loss", HOSTILE])
def test_history_chart_is_the_spec_altair_makes(history, options, title):
    spec = charts.history_chart(history, title=title, run_labels={"run0000": "first \u202e"}, **options)
    reference = altair_history_spec(spec, title=title, x=options.get("x", "step"), log_y=options.get("log_y", False),
                                    height=options.get("height", 240))
    assert spec == reference


def test_the_cases_cover_every_branch_of_the_spec():
    specs = [charts.history_chart(history, title="t", run_labels={}, **options) for history, options in CASES]
    assert {spec["encoding"]["y"]["field"] for spec in specs} == {"y", "yc"}
    assert {str(spec["encoding"]["y"]["scale"].get("type")) for spec in specs} == {"log", "None"}
    assert any("domain" in spec["encoding"]["y"]["scale"] for spec in specs)
    assert {spec["mark"]["point"] is False for spec in specs} == {True, False}
    assert {spec["encoding"]["color"]["legend"] is None for spec in specs} == {True, False}
    assert {spec["encoding"]["x"]["field"] for spec in specs} == {"x", "t", "r"}
    assert {"range" in spec["encoding"]["color"]["scale"] for spec in specs} == {True, False}
    assert {spec["encoding"]["y"]["title"] for spec in specs} >= {"value", "loss"}


def test_series_follow_the_order_sort_values_gives_categorical_columns():
    # The stores' frames are categorical: pandas sorts those by category order, not by text.
    plain = frame(4, 12, keys=("b", "a"), seed=3).sample(frac=1.0, random_state=1)
    runs = ["run0002", "run0000", "run0003", "run0001"]
    categorical = plain.assign(run_id=pd.Categorical(plain["run_id"], categories=runs),
                               key=pd.Categorical(plain["key"], categories=["b", "a"]))
    spec = charts.history_chart(categorical, title="t", run_labels={})
    ordered = categorical.sort_values(["run_id", "key", "step", "timestamp"], kind="stable")
    expected = list(dict.fromkeys(zip(ordered["run_id"].astype(str), ordered["key"].astype(str))))
    assert [(one["id"], one["k"]) for one in spec["data"]["values"]] == expected
    first = ordered[(ordered["run_id"] == "run0002") & (ordered["key"] == "b")]
    assert spec["data"]["values"][0]["x"] == first["step"].tolist()
    assert spec["data"]["values"][0]["y"] == first["value"].tolist()


def altair_parallel_spec(spec: dict, *, title: str, color_by: str, height: int) -> dict:
    """The spec charts.parallel_coordinates made with Altair (its code before the direct dict)."""
    numeric_colour = spec["layer"][1]["encoding"]["color"]["type"] == "quantitative"
    with debug_mode(False):
        x = alt.X(field="d", type="nominal", sort=alt.EncodingSortField(field="di", op="min"), title=None,
                  axis=alt.Axis(labelAngle=0, domain=False, ticks=False, labelLimit=160))
        y = alt.Y(field="v", type="quantitative", axis=None, scale=alt.Scale(domain=[0, 1]))
        colour = (alt.Color(field="c", type="quantitative", title=color_by, scale=alt.Scale(scheme="viridis"))
                  if numeric_colour else alt.Color(field="c", type="nominal", title=color_by))
        colour = alt.condition("datum.nc", alt.value("#999999"), colour)
        rule_layer = alt.Chart(alt.NamedData(name="rules")).mark_rule(opacity=0.5, color="#888").encode(
            x=x, y=y, y2="v2:Q")
        line_layer = alt.Chart(alt.NamedData(name="lines")).mark_line(
            opacity=0.6, strokeWidth=1.2, invalid="break-paths-filter-domains").encode(
            x=x, y=y, color=colour, detail=alt.Detail(field="i", type="nominal"),
            tooltip=[alt.Tooltip(field="label", type="nominal", title="Run"),
                     alt.Tooltip(field="cs", type="nominal", title=color_by)])
        tick_layer = alt.Chart(alt.NamedData(name="ticks")).mark_text(align="left", dx=4, fontSize=10).encode(
            x=x, y=y, text=alt.Text(field="txt", type="nominal"))
        chart = alt.layer(rule_layer, line_layer, tick_layer, title=title or f"Parameters against {color_by}",
                          width="container", height=height)
        data = {name: layer["data"]["values"] for name, layer in zip(("rules", "lines", "ticks"), spec["layer"])}
        return charts._finish(chart, spec["usermeta"]["reportgen"], data, data_is_safe=True)


PARALLEL_FRAME = pd.DataFrame({"lr": ["0.1", "0.01", "0.001", None], "opt": ["adam", "sgd", "adam", "sgd"],
                               HOSTILE: [1, 2, 3, 4], "acc": [0.5, 0.7, math.nan, 0.9],
                               "name": ["r1", "r2", "r3", HOSTILE]})


@pytest.mark.parametrize("dims, color_by", [(["lr", "opt"], "acc"), (["lr", HOSTILE], "opt"),
                                            ([HOSTILE], HOSTILE), (["lr", "missing"], "missing")])
@pytest.mark.parametrize("title, height", [(None, 300), (HOSTILE, 200)])
def test_parallel_coordinates_is_the_spec_altair_makes(dims, color_by, title, height):
    spec = charts.parallel_coordinates(PARALLEL_FRAME, dims, color_by, title=title, label_col="name", height=height)
    assert spec == altair_parallel_spec(spec, title=title, color_by=color_by, height=height)


def test_parallel_coordinates_raw_values_and_missing_ones():
    frame = pd.DataFrame({"p": ["a", None, math.nan, pd.NA, "b"], "acc": [1.0, 2.0, 3.0, 4.0, math.nan]},
                         dtype=object)
    spec = charts.parallel_coordinates(frame, ["p"], "acc")
    raw = {(row["i"], row["d"]): row["raw"] for row in spec["layer"][1]["data"]["values"]}
    assert [raw[(i, "p")] for i in range(5)] == ["a", None, None, None, "b"]
    assert [raw[(i, "acc")] for i in range(5)] == ["1.0", "2.0", "3.0", "4.0", None]



def test_parallel_coordinates_runs_without_a_param_have_no_point_on_its_axis():
    # As the experiment page makes the frame (pandas infers its string dtype, whose missing value is NaN):
    # the axis must not get a "nan" category.
    frame = pd.DataFrame({"p": ["a", None, "b"], "acc": [1.0, 2.0, 3.0]})
    spec = charts.parallel_coordinates(frame, ["p"], "acc")
    pos = {(row["i"], row["d"]): row["v"] for row in spec["layer"][1]["data"]["values"]}
    assert [pos[(i, "p")] for i in range(3)] == [0.0, None, 1.0]
    assert [tick["txt"] for tick in spec["layer"][2]["data"]["values"] if tick["d"] == "p"] == ["a", "b"]


def reference_series(history: pd.DataFrame, budget: int) -> list[dict]:
    """The series history_chart made before it sorted by codes and sliced whole-frame lists: sort_values,
    then per series its kept points (ids, keys and labels left out: the Altair tests cover those)."""
    frame = history.sort_values(["run_id", "key", "step", "timestamp"], kind="stable")
    out = []
    for _, part in frame.groupby(["run_id", "key"], sort=False, observed=True):
        values = part["value"].to_numpy(dtype=float)
        keep = charts.downsample_indices(values, budget)
        stamps = part["timestamp"].to_numpy(dtype="int64")
        start = int(stamps.min())
        out.append({"x": part["step"].to_numpy(dtype="int64")[keep].tolist(), "t0": start,
                    "dt": (stamps[keep] - start).tolist(),
                    "y": [v if math.isfinite(v) else None for v in values[keep].tolist()]})
    return out


@pytest.mark.parametrize("max_points", [20, 1000])  # downsampled series, and none
@pytest.mark.parametrize("seed", range(4))
def test_history_series_are_those_of_the_plain_algorithm(seed, max_points):
    rng = np.random.default_rng(seed)
    n_runs, n_steps = int(rng.integers(1, 12)), int(rng.integers(30, 400))
    history = frame(n_runs, n_steps, keys=("a", "b")[: 1 + seed % 2], nan_every=seed % 3, outlier=seed % 2 == 0,
                    seed=seed)
    history.loc[history.sample(frac=0.05, random_state=seed).index, "value"] = math.inf
    history = history.sample(frac=1.0, random_state=seed)  # unsorted, as a store may give it
    history["timestamp"] = rng.permutation(history["timestamp"].to_numpy())
    spec = charts.history_chart(history, title="t", run_labels={}, max_points=max_points)
    budget = charts._series_budget(len(spec["data"]["values"]), max_points, charts.MAX_ROWS)
    got = [{key: one[key] for key in ("x", "t0", "dt", "y")} for one in spec["data"]["values"]]
    assert got == reference_series(history, budget)


# -- scatter -------------------------------------------------------------------------------------------------
def altair_scatter_spec(spec: dict, *, x_title: str, y_title: str, title: str, log_y: bool, height: int,
                        has_group: bool) -> dict:
    """The spec charts.scatter_chart made with Altair (its code before the direct dict), for the rows and meta
    that `spec` holds."""
    meta = spec["usermeta"]["reportgen"]
    x_numeric, log_x = meta["x_numeric"], meta["log_x"]
    x_scale = alt.Scale(type="log") if log_x else alt.Scale(zero=False)
    x_enc = (alt.X(field="x", type="quantitative", title=x_title, scale=x_scale)
             if x_numeric else alt.X(field="x", type="nominal", title=x_title, sort="ascending"))
    with debug_mode(False):
        chart = (
            alt.Chart(alt.NamedData(name="points"), title=title, width="container", height=height)
            .mark_point(filled=True, size=60, opacity=0.8)
            .encode(
                x=x_enc,
                y=alt.Y(field="y", type="quantitative", title=y_title,
                        scale=alt.Scale(type="log") if log_y else alt.Scale(zero=False)),
                tooltip=[alt.Tooltip(field="label", type="nominal", title="Run"),
                         alt.Tooltip(field="x", type="quantitative" if x_numeric else "nominal", title=x_title),
                         alt.Tooltip(field="y", type="quantitative", title=y_title)],
                href=alt.Href(field="href", type="nominal"),
                **({"color": alt.Color(field="g", type="nominal", title="Group")} if has_group else {}),
            )
        )
        return charts._finish(chart, meta, {"points": spec["data"]["values"]}, data_is_safe=True)


SCATTER_CASES = {
    "log-x-grouped": (pd.DataFrame({"run": ["a", "b", "c"], "x": [0.001, 0.1, 0.01], "y": [1.0, 2.0, math.nan],
                                    "label": ["A", "B", "C"], "href": ["../../r/a.html"] * 3,
                                    "group": ["g1", None, "g2"]}), {}),
    "linear-x": (pd.DataFrame({"run": ["a", "b"], "x": [1, 2], "y": [1.0, 2.0], "label": ["A", "B"]}), {}),
    "nominal-x-log-y": (pd.DataFrame({"run": ["a", "b"], "x": ["adam", HOSTILE], "y": [1.0, 2.0],
                                      "label": [HOSTILE, "B"]}), {"log_y": True, "title": HOSTILE}),
    "empty": (pd.DataFrame({"run": [], "x": [], "y": [], "label": []}), {"height": 120}),
}


@pytest.mark.parametrize("case", sorted(SCATTER_CASES))
def test_scatter_chart_is_the_spec_altair_makes(case):
    points, options = SCATTER_CASES[case]
    titles = {"x_title": "lr" if case != "nominal-x-log-y" else HOSTILE, "y_title": "acc"}
    spec = charts.scatter_chart(points, **titles, **options)
    reference = altair_scatter_spec(spec, **titles, title=options.get("title") or "acc vs " + titles["x_title"],
                                    log_y=options.get("log_y", False), height=options.get("height", 260),
                                    has_group="group" in points.columns)
    assert spec == reference
