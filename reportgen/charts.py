"""Chart specs: pure functions from pandas frames to Vega-Lite dicts (built with Altair, or written out in
reportgen.chartspecs for the hot kinds), no I/O.

Metric and param keys never become Vega field names ('.' and '[' mean nesting there): every spec uses
fixed synthetic fields and carries real names only as data values, titles, legends and tooltips.
Data is inline, downsampled and JSON-safe (NaN and infinities become null, drawn as gaps).
"""
from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar

import numpy as np
import pandas as pd

from reportgen.chartdata import (
    Series, clean_text, downsample_indices, finite_or_none, json_safe, normalise_axis, numeric, robust_range,
    safe_href, short_number, split_history, unique_labels,
)
from reportgen.chartspecs import history_spec, parallel_spec, scatter_spec

if TYPE_CHECKING:
    import altair as alt

# Altair is imported by the kind built with it (the seed band), when first drawn: it takes ~0.5 s, a
# third of a rebuild that draws none (history, parallel and scatter charts are written out in chartspecs).

__all__ = ["history_chart", "scatter_chart", "parallel_coordinates", "seed_band_chart", "theme_config",
           "register_altair_theme", "clean_text", "downsample_indices", "unique_labels", "X_AXES"]

# Per-series and per-chart point budgets: a 2000-run page must stay a few MB at most.
MAX_POINTS = 500
MAX_ROWS = 20_000
MIN_POINTS = 8
POINTS_UP_TO = 40  # series this short get point marks on their lines
LEGEND_LIMIT = 20  # above this many series a legend is noise; tooltips name the line instead

LIGHT_PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b",
                 "#ff9da6", "#9d755d", "#bab0ac"]
DARK_PALETTE = ["#7aa6d6", "#ffa64d", "#7bd36f", "#ff7b7b", "#8fd9d2", "#d6a2cb", "#f5dc6b",
                "#ffb8bf", "#c49a82", "#d0c8c3"]

X_AXES = {
    "step": {"field": "x", "type": "quantitative", "title": "Step"},
    "timestamp": {"field": "t", "type": "temporal", "title": "Wall time"},
    "relative": {"field": "r", "type": "quantitative", "title": "Relative time (s)"},
}


def theme_config(*, dark: bool = False) -> dict:
    """Vega-Lite config matching the default theme; the page JS overrides it from CSS variables."""
    fg, grid, bg = ("#e6e6e6", "#3a3f47", "#1b1e23") if dark else ("#1f2328", "#e3e6ea", "#ffffff")
    return {
        "background": bg,
        "view": {"stroke": None, "continuousWidth": 560, "continuousHeight": 240},
        "range": {"category": DARK_PALETTE if dark else LIGHT_PALETTE},
        "axis": {"labelColor": fg, "titleColor": fg, "gridColor": grid, "domainColor": grid,
                 "tickColor": grid, "labelFontSize": 11, "titleFontSize": 12},
        "legend": {"labelColor": fg, "titleColor": fg, "labelLimit": 260},
        "title": {"color": fg, "anchor": "start"},
        "text": {"color": fg},
        "font": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
    }


def register_altair_theme() -> None:
    """Make "reportgen" an Altair theme, for users building their own charts in the same style."""
    import altair as alt

    @alt.theme.register("reportgen", enable=False)
    def _reportgen_theme() -> alt.theme.ThemeConfig:
        return alt.theme.ThemeConfig(config=theme_config())  # type: ignore[typeddict-item]


_Builder = TypeVar("_Builder", bound=Callable[..., dict])


def _unvalidated(build: _Builder) -> _Builder:
    """The chart function without Altair's schema validation, which checks every object it creates and
    then the whole spec (about half the time of an experiment's charts). The specs have a fixed
    structure: tests validate one of every kind against the Vega-Lite schema."""

    @functools.wraps(build)
    def unvalidated(*args: Any, **kwargs: Any) -> dict:
        from altair.utils.schemapi import debug_mode

        with debug_mode(False):
            return build(*args, **kwargs)

    return unvalidated  # type: ignore[return-value]


def _finish(chart: alt.TopLevelMixin, meta: dict, data: Mapping[str, list], *, data_is_safe: bool = False) -> dict:
    """The spec dict, with each named placeholder dataset replaced by its inline rows.

    Altair walks everything it serialises; rows go in afterwards, which keeps a 2000-run
    chart in tens of milliseconds instead of seconds. data_is_safe: the rows are json_safe already
    (cleaned strings, finite numbers or None), so the deep walk over every point is skipped.
    """
    spec = json_safe(chart.to_dict(validate=False))

    def fill(node: Any) -> None:
        if isinstance(node, dict):
            source = node.get("data")
            if isinstance(source, dict) and source.get("name") in data:
                rows = data[source["name"]]
                node["data"] = {"values": rows if data_is_safe else json_safe(rows)}
            for key, value in node.items():
                if key != "data":
                    fill(value)
        elif isinstance(node, list):
            for item in node:
                fill(item)

    fill(spec)
    spec.pop("datasets", None)
    # The $schema URL is the only remote URL a spec would carry; the JS passes mode "vega-lite".
    spec.pop("$schema", None)
    spec["config"] = theme_config()
    spec["usermeta"] = {"reportgen": json_safe(meta)}
    return spec


def _series_budget(n_series: int, max_points: int, max_rows: int) -> int:
    return max(MIN_POINTS, min(max_points, max_rows // max(1, n_series)))


def _palette_for(ids: Sequence[str], colors: Sequence[str] | Mapping[str, str] | None) -> list[str] | None:
    if colors is None:
        return None
    if isinstance(colors, Mapping):
        fallback = LIGHT_PALETTE
        return [colors.get(i, fallback[n % len(fallback)]) for n, i in enumerate(ids)]
    return list(colors) or None


def history_chart(
    history: pd.DataFrame | Sequence[Series],
    *,
    title: str,
    run_labels: Mapping[str, str],
    x: str = "step",
    log_y: bool = False,
    colors: Sequence[str] | Mapping[str, str] | None = None,
    max_points: int = MAX_POINTS,
    max_rows: int = MAX_ROWS,
    height: int = 240,
) -> dict:
    """Metric history: one line per run (per run and key when the frame holds several keys).

    history: long frame with columns run_id, key, step, timestamp (ms), value; or the frame's series as
    chartdata.split_history gives them (run pages split the whole experiment's frame once). Data is
    columnar (one object per series: steps x, values y, ms offsets dt from the series' earliest stamp t0;
    flattened by Vega) so the page JS can filter series and smooth them.
    """
    if x not in X_AXES:
        raise ValueError(f"x must be one of {sorted(X_AXES)}, not {x!r}")
    if isinstance(history, pd.DataFrame):
        history = [one for by_key in split_history(history).values() for one in by_key.values()]
    keys = sorted({one.key for one in history})
    labels = unique_labels(list(dict.fromkeys(one.run_id for one in history)), run_labels)
    budget = _series_budget(len(history), max_points, max_rows)
    series, domain, kept_values = [], [], []
    for one in history:
        steps, stamps, values = one.step, one.timestamp, one.value
        first = int(stamps.min())
        if len(values) > budget:
            keep = downsample_indices(values, budget)
            steps, stamps, values = steps[keep], stamps[keep], values[keep]
        label = clean_text(labels[one.run_id] if len(keys) <= 1 else f"{labels[one.run_id]} · {one.key}")
        ys = values.tolist()
        if not np.isfinite(values).all():
            ys = [v if math.isfinite(v) else None for v in ys]
        # Cleaned strings and finite numbers or None: the spec is json_safe without walking every point.
        series.append({"id": clean_text(one.run_id), "k": clean_text(one.key), "c": label, "x": steps.tolist(),
                       "t0": first, "dt": (stamps - first).tolist(), "y": ys})
        domain.append(label)
        kept_values.append(values)
    longest = max((len(one["x"]) for one in series), default=0)
    robust = robust_range(kept_values[0] if len(kept_values) == 1 else
                          np.concatenate(kept_values) if kept_values else np.array([], dtype=float))
    palette = _palette_for([one.run_id for one in history], colors)
    clamp = None
    if robust:
        # Clipped points still become SVG coordinates; 1e299 in pixels breaks the path, so values far
        # off the shown range are pinned just outside it (field yc). The expression holds numbers only.
        span = robust[1] - robust[0]
        clamp = [robust[0] - 10 * span, robust[1] + 10 * span]
    meta = {"kind": "history", "x": x, "x_axes": X_AXES, "log_y": log_y, "series": len(series),
            "rows": sum(len(one["x"]) for one in series), "keys": [clean_text(key) for key in keys],
            "robust_y": list(robust) if robust else None, "clamp_y": clamp}
    spec = history_spec(title=title, height=height, x_axis=X_AXES[x], log_y=log_y, robust=robust,
                        clamp=clamp, y_title=keys[0] if len(keys) == 1 else "value",
                        legend=len(series) <= LEGEND_LIMIT, points=longest <= POINTS_UP_TO)
    spec["data"] = {"values": series}
    spec["config"] = theme_config()
    spec["usermeta"] = {"reportgen": meta}
    spec["encoding"]["color"]["scale"] = {"domain": domain, **({"range": json_safe(palette)} if palette else {})}
    return spec


def scatter_chart(
    points: pd.DataFrame,
    *,
    x_title: str,
    y_title: str,
    title: str | None = None,
    log_y: bool = False,
    height: int = 260,
) -> dict:
    """Param (or metric) against metric, one point per run.

    points: columns run, x, y, label, and optionally href (a relative link to the run page) and group.
    A non-numeric x (a categorical param) becomes a nominal axis.
    """
    x_num = numeric(points["x"]) if len(points) else None
    y = pd.to_numeric(points["y"], errors="coerce") if len(points) else points.get("y")
    # Column lists, not points.iloc[i]: a pandas row per point cost more than the rest of the chart.
    column = {name: points[name].tolist() for name in ("run", "label", "x", "href", "group") if name in points.columns}
    x_values = x_num.tolist() if x_num is not None else None
    y_values = y.tolist() if len(points) else []
    rows = []
    # Rows are made JSON-safe here (json_safe walking thousands of row dicts cost more than the chart).
    for i in range(len(points)):
        raw_x = column["x"][i]
        xv = finite_or_none(x_values[i]) if x_values is not None else ("" if pd.isna(raw_x) else clean_text(str(raw_x)))
        group = column["group"][i] if "group" in column else None
        href = safe_href(column["href"][i]) if "href" in column else None
        rows.append({
            "run": clean_text(str(column["run"][i])), "label": clean_text(str(column["label"][i])), "x": xv,
            "y": finite_or_none(float(y_values[i])), "href": clean_text(href) if href else None,
            "g": clean_text(str(group)) if "group" in column and pd.notna(group) else None,
        })
    positive = x_num[np.isfinite(x_num) & (x_num > 0)] if x_num is not None else None
    log_x = bool(positive is not None and len(positive) == x_num.notna().sum() and len(positive) > 1
                 and positive.max() / positive.min() >= 100)  # learning rates span decades
    spec = scatter_spec(title=title or f"{y_title} vs {x_title}", height=height, x_title=x_title, y_title=y_title,
                        x_numeric=x_num is not None, log_x=log_x, log_y=log_y, grouped="group" in points.columns)
    spec["data"] = {"values": rows}
    spec["config"] = theme_config()
    spec["usermeta"] = {"reportgen": {"kind": "scatter", "rows": len(rows), "x_numeric": x_num is not None,
                                      "log_x": log_x}}
    return spec


def parallel_coordinates(
    frame: pd.DataFrame,
    dims: list[str],
    color_by: str,
    *,
    title: str | None = None,
    label_col: str | None = None,
    height: int = 300,
) -> dict:
    """Parallel coordinates: one line per row (run) across dims and then color_by, coloured by color_by.

    frame: one row per run; dims and color_by name its columns (display names, never Vega fields).
    Each axis is scaled to [0, 1] (categorical axes evenly spaced); min and max are printed on it.
    """
    # The coloured-by metric is also the last axis, so its value can be read off, not guessed from a hue.
    axes = list(dict.fromkeys([d for d in dims if d in frame.columns]
                              + ([color_by] if color_by in frame.columns else [])))
    # Rows are made JSON-safe here, column by column (strings cleaned once per cell): json_safe walking
    # 200 runs x 9 axes of row dicts cost more than the rest of the chart.
    n_rows = len(frame)
    labels = ([clean_text(label) for label in frame[label_col].astype(str).tolist()]
              if label_col and label_col in frame.columns else [str(i) for i in range(n_rows)])
    color_numeric = numeric(frame[color_by]) if color_by in frame.columns else None
    colour_values = [clean_text(v) if isinstance(v, str) else v for v in map(finite_or_none, (
        color_numeric.tolist() if color_numeric is not None
        else frame[color_by].astype(str).tolist() if color_by in frame.columns else [None] * n_rows))]
    present = [v for v in colour_values if v is not None]
    stand_in = min(present) if present else 0
    # Vega-Lite drops every point whose colour field is null, so the whole line would vanish: a run
    # without the colour metric keeps a stand-in value, drawn grey (nc) and shown as "-" (cs).
    colour_cells = [{"c": stand_in, "nc": True, "cs": "-"} if colour is None else
                    {"c": colour, "nc": False, "cs": short_number(colour) if isinstance(colour, float) else str(colour)}
                    for colour in colour_values]
    lines, ticks, rules = [], [], []
    for n, dim in enumerate(axes):
        pos, dim_ticks = normalise_axis(frame[dim])
        name = clean_text(str(dim))
        # Series.isna tests each value as pd.isna does, in one call (pd.isna per value cost ~2 us).
        raw = [None if missing else clean_text(str(value))
               for value, missing in zip(frame[dim].tolist(), frame[dim].isna().tolist())]
        for i, p in enumerate(pos):
            lines.append({"i": i, "d": name, "di": n, "v": finite_or_none(p), "raw": raw[i], "label": labels[i],
                          **colour_cells[i]})
        ticks.extend({"d": dim, "di": n, "v": p, "txt": txt} for p, txt in dim_ticks)
        rules.append({"d": dim, "di": n, "v": 0, "v2": 1})
    spec = parallel_spec(title=title or f"Parameters against {color_by}", height=height, color_by=color_by,
                          numeric_colour=color_numeric is not None)
    for layer, rows in zip(spec["layer"], (json_safe(rules), lines, json_safe(ticks))):
        layer["data"] = {"values": rows}
    spec["config"] = theme_config()
    spec["usermeta"] = {"reportgen": json_safe({"kind": "parallel", "rows": len(lines), "dims": axes})}
    return spec


@_unvalidated
def seed_band_chart(
    frame: pd.DataFrame,
    *,
    title: str = "Mean over seeds",
    y_title: str = "value",
    x_title: str = "Step",
    max_points: int = MAX_POINTS,
    height: int = 240,
) -> dict:
    """Groups of seeds: mean line with a ±1 std band per group. frame: columns step, mean, std, group."""
    import altair as alt

    rows = []
    groups = list(frame.sort_values(["group", "step"], kind="stable").groupby("group", sort=True))
    budget = _series_budget(len(groups), max_points, MAX_ROWS)
    for group, part in groups:
        mean = part["mean"].to_numpy(dtype=float)
        std = np.nan_to_num(part["std"].to_numpy(dtype=float), nan=0.0)
        steps = part["step"].to_numpy()
        for i in downsample_indices(mean, budget):
            rows.append({"g": str(group), "x": finite_or_none(steps[i]), "m": finite_or_none(mean[i]),
                         "lo": finite_or_none(mean[i] - std[i]), "hi": finite_or_none(mean[i] + std[i])})
    base = alt.Chart(alt.NamedData(name="bands")).encode(
        x=alt.X(field="x", type="quantitative", title=x_title),
        color=alt.Color(field="g", type="nominal", title="Group"),
    )
    band = base.mark_area(opacity=0.2, invalid="break-paths-filter-domains").encode(
        y=alt.Y(field="lo", type="quantitative", title=y_title), y2="hi")
    line = base.mark_line(invalid="break-paths-filter-domains").encode(
        y=alt.Y(field="m", type="quantitative", title=y_title),
        tooltip=[alt.Tooltip(field="g", type="nominal", title="Group"),
                 alt.Tooltip(field="x", type="quantitative", title=x_title),
                 alt.Tooltip(field="m", type="quantitative", title="mean", format=".4g")])
    chart = alt.layer(band, line, title=title, width="container", height=height)
    return _finish(chart, {"kind": "seed_band", "rows": len(rows), "groups": len(groups)}, {"bands": rows})
