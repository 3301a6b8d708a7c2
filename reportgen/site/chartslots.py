"""Chart slots of each page: which charts a page gets and their specs (from reportgen.charts), plus the
static SVG images shown when JavaScript is off.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from reportgen import charts
from reportgen.chartdata import clean_text
from reportgen.model import Run
from reportgen.site.collect import ExperimentData
from reportgen.site.jsonblock import RawJSON, json_text
from reportgen.site.pages import key_metrics, run_href, run_label, varying_params
from reportgen.site.summary import direction

try:  # optional, only to format numbers faster (see _numbers_json)
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

if TYPE_CHECKING:
    from reportgen.site.static_images import ImageMaker

MAX_HISTORY_CHARTS = 12
# Static images (for pages read without JavaScript) cost ~0.1-0.4 s each in vl-convert.
MAX_STATIC_IMAGES = 3
MAX_RUNS_PER_CHART = 30  # the best runs of each metric; more lines are noise and weight
MAX_SCATTER_RUNS = 1000
MAX_PARALLEL_RUNS = 200  # one line per run: beyond a few hundred it is a blur and a megabyte of JSON
SEED_PARAMS = ("seed", "random_seed", "random_state", "rng_seed")


class ChartSlots:
    """Collects the charts of one page; a static image is made for the first `max_images` of them when
    asked (out_dir and image_dir given), by `render_images`: the build runs it while worker processes
    render run pages, and renders the page afterwards."""

    def __init__(self, prefix: str, *, out_dir: Path | None, image_dir: str | None, root: str,
                 warn: Callable[[str, str], None], max_images: int = MAX_STATIC_IMAGES) -> None:
        self.prefix = prefix
        self.max_images = max_images
        self.out_dir = out_dir
        self.image_dir = image_dir  # relative to the site root; None: no static images
        self.root = root
        self.warn = warn
        self.items: list[dict[str, Any]] = []
        self.images = 0
        self.pending: list[dict[str, Any]] = []  # items whose static image is still to be made

    def add(self, title: str, build: Callable[[], dict]) -> None:
        try:
            spec = build()
        except Exception as exc:  # noqa: BLE001 - one odd series must not cost the whole report
            self.warn(f"chart {title!r}", f"not drawn: {type(exc).__name__}: {exc}")
            return
        chart_id = f"{self.prefix}-{len(self.items) + 1}"
        item = {"id": chart_id, "title": title, "spec": spec, "fallback": None}
        if self.out_dir is not None and self.image_dir is not None and self.images < self.max_images:
            self.images += 1
            self.pending.append(item)
        self.items.append(item)

    def render_images(self, maker: "ImageMaker | None" = None) -> None:
        """Writes the pending static images (0.1-0.4 s each in vl-convert) and sets their items' fallback."""
        if not self.pending:
            return
        assert self.out_dir is not None and self.image_dir is not None
        from reportgen.site.static_images import ImageMaker

        results = (maker or ImageMaker(helper=False)).draw([item["spec"] for item in self.pending])
        for item, image in zip(self.pending, results):
            if isinstance(image, str):
                self.warn(f"chart {item['title']!r}", f"no static image: {image}")
                continue
            relative = f"{self.image_dir}/{item['id']}.svg"
            target = self.out_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_stable_ids(image))
            item["fallback"] = self.root + relative
        self.pending = []


_COUNTER_ID_RE = re.compile(rb"\b(clip|gradient_|pattern_|marker_)(\d+)\b")


def _stable_ids(svg: bytes) -> bytes:
    """vl-convert numbers clip paths and gradients with per-process counters; renumber them per image
    so that rebuilds are byte-identical."""
    numbers: dict[bytes, bytes] = {}

    def renumber(match: re.Match[bytes]) -> bytes:
        key = match.group(0)
        return numbers.setdefault(key, match.group(1) + str(len(numbers) + 1).encode())

    return _COUNTER_ID_RE.sub(renumber, svg)


def _top_runs(exp: ExperimentData, key: str, limit: int) -> list[str]:
    """The `limit` best runs of a metric, in the order repeated best_run calls would pick them (one
    sort, not one scan per pick: that was quadratic in the runs of big experiments)."""
    way = direction(key)
    logged = [(run.data.metrics[key], run.info.run_id) for run in exp.runs if key in run.data.metrics]
    ranked = [] if way is None else sorted((value if way == "min" else -value, run_id) for value, run_id in logged
                                           if isinstance(value, float) and math.isfinite(value))
    picked = [run_id for _, run_id in ranked[:limit]]
    if len(picked) < limit:  # runs whose value is NaN or inf still have a history worth drawing
        rest = [run.info.run_id for run in exp.runs if key in run.data.metrics and run.info.run_id not in picked]
        picked.extend(rest[: limit - len(picked)])
    return picked


def experiment_charts(exp: ExperimentData, slots: ChartSlots, *, max_points: int) -> None:
    labels = {run.info.run_id: run_label(run) for run in exp.runs}
    history = exp.history
    keys = key_metrics(exp)
    for key in keys[:MAX_HISTORY_CHARTS]:
        run_ids = _top_runs(exp, key, MAX_RUNS_PER_CHART)
        of_key = history[history["key"] == key]  # isin over one key's rows, not the whole history
        part = of_key[of_key["run_id"].isin(run_ids)]
        if part.empty or part.groupby("run_id").size().max() < 2:
            continue  # values logged once are in the table; a chart of single points says nothing
        shown = "" if len(run_ids) >= sum(1 for r in exp.runs if key in r.data.metrics) else f" (best {len(run_ids)} runs)"
        slots.add(key + shown, lambda part=part, key=key, shown=shown: charts.history_chart(
            part, title=key + shown, run_labels=labels, max_points=max_points))
    _param_charts(exp, slots, keys)
    _seed_chart(exp, slots, keys, max_points=max_points)


def _param_charts(exp: ExperimentData, slots: ChartSlots, keys: list[str]) -> None:
    varying, _ = varying_params(exp.runs)
    if not keys or not varying:
        return
    metric = keys[0]
    runs = [run for run in exp.runs if metric in run.data.metrics][:MAX_SCATTER_RUNS]
    dims = [key for key in varying if key not in SEED_PARAMS][:8] or varying[:8]
    frame = pd.DataFrame({
        **{key: [run.data.params.get(key) for run in runs] for key in dims},
        metric: [run.data.metrics[metric] for run in runs],
        "__label": [run_label(run) for run in runs],
    })
    if len(runs) >= 2:
        best = set(_top_runs(exp, metric, MAX_PARALLEL_RUNS))
        lines = frame[[run.info.run_id in best for run in runs]].reset_index(drop=True)
        title = f"Parameters against {metric}" + (f" (best {len(lines)} runs)" if len(lines) < len(frame) else "")
        slots.add(title, lambda: charts.parallel_coordinates(lines, dims, metric, title=title, label_col="__label"))
    points = pd.DataFrame({
        "run": [run.info.run_id for run in runs],
        "x": [run.data.params.get(dims[0]) for run in runs],
        "y": [run.data.metrics[metric] for run in runs],
        "label": [run_label(run) for run in runs],
        "href": ["../../" + run_href(exp, run.info.run_id) for run in runs],
    })
    if len(runs) >= 2:
        slots.add(f"{metric} against {dims[0]}", lambda: charts.scatter_chart(
            points, x_title=dims[0], y_title=metric))


def seed_groups(runs: Sequence[Run]) -> tuple[str | None, dict[str, list[Run]]]:
    """(seed param, runs grouped by all their other varying params); only groups of two runs or more."""
    varying, _ = varying_params(runs)
    seed = next((key for key in SEED_PARAMS if key in varying), None)
    if seed is None:
        return None, {}
    others = [key for key in varying if key != seed]
    groups: dict[str, list[Run]] = {}
    for run in runs:
        if seed not in run.data.params:
            continue
        label = ", ".join(f"{key}={run.data.params.get(key, '')}" for key in others) or "all runs"
        groups.setdefault(label, []).append(run)
    return seed, {label: members for label, members in sorted(groups.items()) if len(members) >= 2}


def _seed_chart(exp: ExperimentData, slots: ChartSlots, keys: list[str], *, max_points: int) -> None:
    seed, groups = seed_groups(exp.runs)
    if not groups or not keys:
        return
    metric = keys[0]
    history = exp.history[exp.history["key"] == metric]
    frames = []
    for label, members in list(groups.items())[:20]:
        part = history[history["run_id"].isin([run.info.run_id for run in members])]
        if part.empty:
            continue
        stats = part.groupby("step")["value"].agg(["mean", "std"]).reset_index()
        stats["group"] = label
        frames.append(stats)
    if not frames:
        return
    band = pd.concat(frames, ignore_index=True)
    band = band[band["mean"].map(lambda v: math.isfinite(v))]
    title = f"{metric}: mean ± std over {seed}"
    slots.add(title, lambda: charts.seed_band_chart(band, title=title, y_title=metric, max_points=max_points))


class RunHistorySpecs:
    """Single-run history specs for many run pages at the cost of one Altair call per metric key.

    Building a spec through Altair takes ~25 ms (schema validation); 2000 runs x a few metrics would
    take minutes. The first run's spec of each key is the template; later runs get its JSON text with
    their own series filled in, built exactly as charts.history_chart builds one (tests compare both).
    """

    def __init__(self, *, max_points: int, height: int = 180) -> None:
        self.max_points = max_points
        self.height = height
        self.templates: dict[tuple[str, bool], list[str]] = {}
        self.budget = max(charts.MIN_POINTS, min(max_points, charts.MAX_ROWS))
        # Runs logged at the same cadence share their step and time-offset arrays: the JSON text of each
        # distinct array is made once (keyed by its bytes), half of the run pages' chart encoding otherwise.
        self._numbers: dict[tuple[str, bytes], str] = {}
        self._texts: dict[str, str] = {}

    def spec(self, run_id: str, label: str, key: str, series: "Series") -> dict | RawJSON:
        n = len(series.value)
        keep = None if n <= self.budget else charts.downsample_indices(series.value, self.budget)
        kept_rows = n if keep is None else len(keep)
        # The spec's shape depends on the key and on whether the line is short enough for point marks.
        shape = (key, kept_rows <= charts.POINTS_UP_TO)
        template = self.templates.get(shape)
        if template is None:
            frame = pd.DataFrame({"run_id": run_id, "key": key, "step": series.step,
                                  "timestamp": series.timestamp, "value": series.value})
            spec = charts.history_chart(frame, title=key, run_labels={run_id: label},
                                        max_points=self.max_points, height=self.height)
            self.templates[shape] = _SENTINEL_RE.split(_placeholder_text(spec))
            return spec
        fills = {_DATA_JSON: self._series_json(run_id, label, key, series, keep),
                 _LABEL_JSON: self._text(label), _ROWS_JSON: str(kept_rows)}
        return RawJSON("".join(fills.get(part, part) if n % 2 else part for n, part in enumerate(template)))

    def _text(self, text: str) -> str:
        """json_text of the cleaned text (cached: keys and ids repeat across charts)."""
        found = self._texts.get(text)
        if found is None:
            found = json_text(clean_text(str(text)))
            if len(self._texts) < 100_000:
                self._texts[text] = found
        return found

    def _shared(self, kind: str, array: np.ndarray) -> str:
        cache_key = (kind, array.tobytes())
        found = self._numbers.get(cache_key)
        if found is None:
            found = _numbers_json(array.tolist())
            if len(self._numbers) >= 3_000:  # bounded memory; a recent run's arrays are the likely hits
                self._numbers.clear()
            self._numbers[cache_key] = found
        return found

    def _series_json(self, run_id: str, label: str, key: str, series: "Series", keep: np.ndarray | None) -> str:
        """json_text of the series object charts.history_chart makes (sorted keys, compact): numbers
        through the C encoder, strings cleaned and escaped for HTML."""
        stamps, steps, values = series.timestamp, series.step, series.value
        start = int(stamps.min()) if len(stamps) else 0
        if keep is not None:
            stamps, steps, values = stamps[keep], steps[keep], values[keep]
        if np.isfinite(values).all():
            ys = _numbers_json(values.tolist())
        else:
            ys = _numbers_json([v if math.isfinite(v) else None for v in values.tolist()])
        return (f'{{"c":{self._text(label)},"dt":{self._shared("dt", stamps - start)},"id":{self._text(run_id)},'
                f'"k":{self._text(key)},"t0":{start},"x":{self._shared("x", steps)},"y":{ys}}}')


def _numbers_json(numbers: list) -> str:
    """JSON text of a list of finite numbers and None, byte for byte what json.dumps writes (no HTML
    escaping needed). Formatting floats is most of a run page's charts; orjson, when installed, does it
    ~20x faster. It writes exponents its own way ("1e16", "2.5e-7", "0.00001" for Python's "1e+16",
    "2.5e-07", "1e-05"), so a text holding one of those is made by json instead."""
    if _orjson is not None:
        text = _orjson.dumps(numbers)
        if b"e" not in text and b"0.0000" not in text:
            return text.decode("ascii")
    # allow_nan=False: a NaN token here would be a bug.
    return json.dumps(numbers, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Series:
    step: np.ndarray
    timestamp: np.ndarray
    value: np.ndarray


def split_history(history: pd.DataFrame) -> dict[str, dict[str, Series]]:
    """run_id -> key -> its points, ordered by step then timestamp, in one pass over the frame."""
    if history.empty:
        return {}
    # Integer codes and one lexsort: comparing a million run-id strings costs more than everything else.
    run_codes, run_names = pd.factorize(history["run_id"], sort=True)
    key_codes, key_names = pd.factorize(history["key"], sort=True)
    steps = history["step"].to_numpy(dtype="int64")
    stamps = history["timestamp"].to_numpy(dtype="int64")
    values = history["value"].to_numpy(dtype="float64")
    if not _sorted_lexically(run_codes, key_codes, steps, stamps):  # stores mostly give them in order
        order = np.lexsort((stamps, steps, key_codes, run_codes))
        run_codes, key_codes = run_codes[order], key_codes[order]
        steps, stamps, values = steps[order], stamps[order], values[order]
    change = np.flatnonzero((run_codes[1:] != run_codes[:-1]) | (key_codes[1:] != key_codes[:-1])) + 1
    bounds = np.concatenate(([0], change, [len(values)])).tolist()
    # Plain lists: indexing a pandas Index per series cost more than the sort.
    run_names, key_names = [str(name) for name in run_names], [str(name) for name in key_names]
    run_codes, key_codes = run_codes.tolist(), key_codes.tolist()
    result: dict[str, dict[str, Series]] = {}
    for start, end in zip(bounds[:-1], bounds[1:]):
        run_id, key = run_names[run_codes[start]], key_names[key_codes[start]]
        result.setdefault(run_id, {})[key] = Series(steps[start:end], stamps[start:end], values[start:end])
    return result


def _sorted_lexically(*columns: np.ndarray) -> bool:
    """Whether the rows are already in the order np.lexsort(columns[::-1]) gives (ties keep their order)."""
    undecided = np.ones(max(0, len(columns[0]) - 1), dtype=bool)  # pairs equal on every column so far
    for column in columns:
        step = np.diff(column)
        if (undecided & (step < 0)).any():
            return False
        undecided &= step == 0
    return True


_DATA, _LABEL, _ROWS = "\x00RG-DATA\x00", "\x00RG-LABEL\x00", "\x00RG-ROWS\x00"
_DATA_JSON, _LABEL_JSON, _ROWS_JSON = json_text(_DATA), json_text(_LABEL), json_text(_ROWS)
# Splitting on a capturing group keeps the sentinels at the odd positions of the parts.
_SENTINEL_RE = re.compile("(" + "|".join(re.escape(t) for t in (_DATA_JSON, _LABEL_JSON, _ROWS_JSON)) + ")")


def _placeholder_text(template: dict) -> str:
    """The template's JSON text with sentinels where each run's series, label and row count go."""
    spec = dict(template)
    spec["data"] = {"values": [_DATA]}
    encoding = dict(spec["encoding"])
    color = dict(encoding["color"])
    color["scale"] = {**color.get("scale", {}), "domain": [_LABEL]}
    encoding["color"] = color
    spec["encoding"] = encoding
    meta = dict(spec["usermeta"]["reportgen"])
    meta["rows"] = _ROWS
    spec["usermeta"] = {**spec["usermeta"], "reportgen": meta}
    return json_text(spec)


def run_charts(run: Run, series_by_key: dict[str, Series], slots: ChartSlots, specs: RunHistorySpecs) -> None:
    """One chart per metric of the run (at most MAX_HISTORY_CHARTS)."""
    label = charts.unique_labels([run.info.run_id], {run.info.run_id: run_label(run)})[run.info.run_id]
    for key in sorted(series_by_key)[:MAX_HISTORY_CHARTS]:
        series = series_by_key[key]
        if len(series.step) < 2:
            continue  # a single value is in the table; a one-point line says nothing
        slots.add(key, lambda series=series, key=key: specs.spec(run.info.run_id, label, key, series))


COMPARE_HISTORY_RUNS = 50


def compare_histories(exp: ExperimentData, ordered_ids: Sequence[str], *, max_points: int) -> dict[str, dict]:
    """Metric key -> history spec over the runs the compare page can show (all runs of small experiments,
    else the first COMPARE_HISTORY_RUNS of the page's order); the page script filters series."""
    ids = list(ordered_ids)[:COMPARE_HISTORY_RUNS]
    labels = {run.info.run_id: run_label(run) for run in exp.runs}
    part = exp.history[exp.history["run_id"].isin(ids)]
    specs = {}
    for key in sorted(part["key"].unique())[:MAX_HISTORY_CHARTS]:
        series = part[part["key"] == key]
        if series.groupby("run_id").size().max() < 2:
            continue
        specs[str(key)] = charts.history_chart(series, title=str(key), run_labels=labels, max_points=max_points)
    return specs
