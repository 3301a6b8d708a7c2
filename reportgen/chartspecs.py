"""The Vega-Lite dicts of the charts drawn most often (metric histories, parallel coordinates, the param
scatter), without their data, written out: Altair's to_dict took most of an experiment's chart time, and
importing Altair alone 0.5-0.7 s of every build. Each is the dict Altair
gives for the chart (tests/test_chartspecs.py builds both and compares); reportgen.charts adds the
data, config and meta.
"""
from __future__ import annotations

from reportgen.chartdata import clean_text, json_safe


def history_spec(*, title: str, height: int, x_axis: dict, log_y: bool, robust: tuple[float, float] | None,
                 clamp: list[float] | None, y_title: str, legend: bool, points: bool) -> dict:
    """The history chart without data. Wall time (t) and relative time (r) are derived in Vega from one
    array of small offsets: writing three arrays per series made most of a run page's bytes and of its
    JSON encoding time."""
    transform: list[dict] = [{"flatten": ["x", "dt", "y"]}, {"calculate": "datum.t0 + datum.dt", "as": "t"},
                             {"calculate": "datum.dt / 1000", "as": "r"}]
    if clamp is not None:
        transform.append({"calculate": f"isValid(datum.y) ? clamp(datum.y, {clamp[0]!r}, {clamp[1]!r}) : null",
                          "as": "yc"})
    # like TensorBoard: fit the values, not zero (an accuracy near 0.9 is not a flat line)
    y_scale = {"type": "log"} if log_y else {"zero": False, "domain": list(robust)} if robust else {"zero": False}
    # JSON-safe as written (texts cleaned, numbers finite), not walked by json_safe: every run page's chart
    # is one of these.
    return {
        "title": clean_text(title), "width": "container", "height": height, "transform": transform,
        # a metric logged a few times (or once) is invisible as a bare line: mark its points
        "mark": {"type": "line", "invalid": "break-paths-filter-domains", "strokeWidth": 1.5, "clip": True,
                 "point": {"filled": True, "size": 24} if points else False},
        "encoding": {
            "x": dict(x_axis),
            "y": {"field": "yc" if robust and not log_y else "y", "type": "quantitative", "title": clean_text(y_title),
                  "scale": y_scale},
            # The scale's domain (and range) go in with the data.
            "color": {"field": "c", "type": "nominal", "title": "Run",
                      "legend": {"title": "Run", "symbolType": "stroke"} if legend else None},
            "tooltip": [{"field": "c", "type": "nominal", "title": "Run"},
                        {"field": "k", "type": "nominal", "title": "Metric"}],
        },
    }


def parallel_spec(*, title: str, height: int, color_by: str, numeric_colour: bool) -> dict:
    """The parallel-coordinates chart without data; a run's line turns grey (nc) when it lacks the colour
    metric."""
    # Axis order by the dim's index field: a sort array of names would be copied into a Vega expression.
    x = {"field": "d", "type": "nominal", "sort": {"field": "di", "op": "min"}, "title": None,
         "axis": {"labelAngle": 0, "domain": False, "ticks": False, "labelLimit": 160}}
    y = {"field": "v", "type": "quantitative", "axis": None, "scale": {"domain": [0, 1]}}
    colour = {"field": "c", "type": "quantitative" if numeric_colour else "nominal", "title": color_by,
              **({"scale": {"scheme": "viridis"}} if numeric_colour else {}),
              "condition": {"test": "datum.nc", "value": "#999999"}}
    return json_safe({"title": title, "width": "container", "height": height, "layer": [
        {"mark": {"type": "rule", "opacity": 0.5, "color": "#888"},
         "encoding": {"x": x, "y": y, "y2": {"field": "v2"}}},
        {"mark": {"type": "line", "opacity": 0.6, "strokeWidth": 1.2, "invalid": "break-paths-filter-domains"},
         "encoding": {"x": x, "y": y, "color": colour, "detail": {"field": "i", "type": "nominal"},
                      "tooltip": [{"field": "label", "type": "nominal", "title": "Run"},
                                  {"field": "cs", "type": "nominal", "title": color_by}]}},
        {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 10},
         "encoding": {"x": x, "y": y, "text": {"field": "txt", "type": "nominal"}}},
    ]})


def scatter_spec(*, title: str, height: int, x_title: str, y_title: str, x_numeric: bool, log_x: bool,
                 log_y: bool, grouped: bool) -> dict:
    """One point per run, y a metric against x a param (a nominal axis when x is not numeric)."""
    x = ({"field": "x", "type": "quantitative", "title": x_title, "scale": {"type": "log"} if log_x else {"zero": False}}
         if x_numeric else {"field": "x", "type": "nominal", "title": x_title, "sort": "ascending"})
    encoding = {
        "x": x,
        "y": {"field": "y", "type": "quantitative", "title": y_title,
              "scale": {"type": "log"} if log_y else {"zero": False}},
        "tooltip": [{"field": "label", "type": "nominal", "title": "Run"},
                    {"field": "x", "type": "quantitative" if x_numeric else "nominal", "title": x_title},
                    {"field": "y", "type": "quantitative", "title": y_title}],
        "href": {"field": "href", "type": "nominal"},
    }
    if grouped:
        encoding["color"] = {"field": "g", "type": "nominal", "title": "Group"}
    return json_safe({"title": title, "width": "container", "height": height,
                      "mark": {"type": "point", "filled": True, "size": 60, "opacity": 0.8}, "encoding": encoding})
