"""Chart slots of each page: which charts a page gets and their specs (from reportgen.charts), plus the
static SVG images shown when JavaScript is off.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from reportgen import charts, rollups
from reportgen.analysis import is_seed
from reportgen.chartdata import Series
from reportgen.model import Run
from reportgen.numbers import mean_std
from reportgen.site import fmt
from reportgen.site.gather import ExperimentData
from reportgen.site.pages.common import experiment_varying, key_metrics, run_href, run_label, varying_params
from reportgen.site.summary import direction
from reportgen.static_charts import stable_svg_ids as _stable_ids

if TYPE_CHECKING:
    from reportgen.site.static_images import ImageMaker

MAX_HISTORY_CHARTS = 12
# Static images (for pages read without JavaScript) cost ~0.1-0.4 s each in vl-convert.
MAX_STATIC_IMAGES = 3
MAX_RUNS_PER_CHART = 30  # the best runs of each metric; more lines are noise and weight
MAX_SCATTER_RUNS = 1000
MAX_PARALLEL_RUNS = 200  # one line per run: beyond a few hundred it is a blur and a megabyte of JSON
RUN_CHART_HEIGHT = 180


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
        self._drawing: Callable[[], list[bytes | str]] | None = None  # images started, not written yet

    def add(self, title: str, build: Callable[[], dict]) -> None:
        try:
            spec = build()
        except Exception as exc:  # noqa: BLE001 - one odd series must not cost the whole report
            self.warn(f"chart {title!r}", f"not drawn: {type(exc).__name__}: {exc}")
            return
        if spec is None:  # nothing worth drawing (build decided)
            return
        chart_id = f"{self.prefix}-{len(self.items) + 1}"
        item = {"id": chart_id, "title": title, "spec": spec, "fallback": None}
        if self.out_dir is not None and self.image_dir is not None and self.images < self.max_images:
            self.images += 1
            self.pending.append(item)
        self.items.append(item)

    def render_images(self, maker: "ImageMaker | None" = None) -> None:
        """Writes the pending static images (0.1-0.4 s each in vl-convert) and sets their items' fallback."""
        self.start_images(maker)
        self.finish_images()

    def start_images(self, maker: "ImageMaker | None" = None) -> None:
        """Starts drawing the pending static images (in the maker's helper process, if it has one) so that
        other work overlaps them; finish_images writes them. The items' specs must not change meanwhile."""
        if not self.pending:
            return
        from reportgen.site.static_images import ImageMaker

        self._drawing = (maker or ImageMaker(helper=False)).start([item["spec"] for item in self.pending])

    def finish_images(self) -> None:
        """Waits for the images start_images began, writes them and sets their items' fallback."""
        if not self.pending:
            return
        assert self.out_dir is not None and self.image_dir is not None
        if self._drawing is None:
            self.start_images()
        assert self._drawing is not None
        results, self._drawing = self._drawing(), None
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


def _top_runs(exp: ExperimentData, key: str, limit: int) -> list[str]:
    """The `limit` best runs of a metric, in the order repeated best_run calls would pick them (one
    sort, not one scan per pick: that was quadratic in the runs of big experiments)."""
    way = direction(key)
    logged = _logged(exp).get(key, [])
    ranked = [] if way is None else sorted((value if way == "min" else -value, run_id) for value, run_id in logged
                                           if isinstance(value, float) and math.isfinite(value))
    picked = [run_id for _, run_id in ranked[:limit]]
    if len(picked) < limit:  # runs whose value is NaN or inf still have a history worth drawing
        chosen = set(picked)
        rest = [run_id for _, run_id in logged if run_id not in chosen]
        picked.extend(rest[: limit - len(picked)])
    return picked


def _logged(exp: ExperimentData) -> dict[str, list[tuple[Any, str]]]:
    """Metric key -> (latest value, run id) of the runs that have it, in the experiment's run order
    (made once: every chart of the page asks)."""
    if "logged" not in exp.derived:
        found: dict[str, list[tuple[Any, str]]] = {}
        for run in exp.runs:
            run_id = run.info.run_id
            for key, value in run.data.metrics.items():
                found.setdefault(key, []).append((value, run_id))
        exp.derived["logged"] = found
    return exp.derived["logged"]


class _HistoryRows:
    """Picks the rows of some runs and one key out of a long history frame. Codes are found once: masking
    a million-row frame per chart cost more than drawing a big experiment's history charts."""

    def __init__(self, history: pd.DataFrame) -> None:
        self.history = history
        self.run_codes, run_names = _codes(history["run_id"])
        self.run_position = {str(name): i for i, name in enumerate(run_names)}
        key_codes, key_names = _codes(history["key"])
        self.key_position = {str(name): i for i, name in enumerate(key_names)}
        size = len(history)
        # Stores give the rows of a run's key together: such blocks are picked whole (a scan, no sort).
        starts = np.flatnonzero(np.r_[True, (self.run_codes[1:] != self.run_codes[:-1])
                                      | (key_codes[1:] != key_codes[:-1])]) if size else np.array([], dtype=np.intp)
        self.blocks: tuple[np.ndarray, ...] | None = None
        self.key_rows: dict[str, np.ndarray] = {}
        if len(starts) * 8 <= size:
            self.blocks = (starts, np.r_[starts[1:], size].astype(np.intp), self.run_codes[starts], key_codes[starts])
            return
        # A stable sort gives each key's rows in frame order; 16-bit codes sort by radix, in milliseconds.
        small = key_codes.astype(np.int16) if len(key_names) < 2**15 else key_codes
        order = np.argsort(small, kind="stable")
        bounds = np.searchsorted(small[order], np.arange(len(key_names) + 1)).tolist()
        self.key_rows = {str(name): order[bounds[i]:bounds[i + 1]] for i, name in enumerate(key_names)}

    def keys(self) -> list[str]:
        """The keys that have rows, sorted."""
        if self.blocks is not None:
            present = set(np.unique(self.blocks[3]).tolist())
            return sorted(name for name, code in self.key_position.items() if code in present)
        return sorted(key for key, found in self.key_rows.items() if len(found))

    def of(self, key: str, run_ids: Sequence[str]) -> pd.DataFrame:
        """The frame's rows of `key` and `run_ids`, in frame order (what a boolean mask would select)."""
        wanted = np.zeros(len(self.run_position) + 1, dtype=bool)  # the last slot: code -1, never wanted
        wanted[[self.run_position[run_id] for run_id in run_ids if run_id in self.run_position]] = True
        if self.blocks is None:
            rows = self.key_rows.get(key, np.array([], dtype=np.intp))
            return self.history.take(rows[wanted[self.run_codes[rows]]])
        starts, ends, block_runs, block_keys = self.blocks
        code = self.key_position.get(key, -2)
        chosen = np.flatnonzero((block_keys == code) & wanted[block_runs])
        lengths = ends[chosen] - starts[chosen]
        # Each chosen block's row numbers, concatenated: one arange shifted block by block.
        shift = np.repeat(starts[chosen] - (np.cumsum(lengths) - lengths), lengths)
        return self.history.take(np.arange(int(lengths.sum()), dtype=np.intp) + shift)


def _codes(column: pd.Series) -> tuple[np.ndarray, Sequence[Any]]:
    """Integer codes of a column's values (-1 for missing) and the values they stand for."""
    if isinstance(column.dtype, pd.CategoricalDtype):  # the stores' frames: the codes are there already
        return column.cat.codes.to_numpy(), list(column.cat.categories)
    codes, names = pd.factorize(column)
    return codes, list(names)


def _most_points(part: pd.DataFrame) -> int:
    """The most rows one run has in the frame (groupby("run_id").size().max(), without a groupby)."""
    codes, _ = _codes(part["run_id"])
    codes = codes[codes >= 0]
    return int(np.bincount(codes).max()) if len(codes) else 0


def experiment_charts(exp: ExperimentData, slots: ChartSlots, *, max_points: int) -> None:
    """The experiment page's charts."""
    labels = {run.info.run_id: run_label(run) for run in exp.runs}
    keys = key_metrics(exp)
    rows = _HistoryRows(exp.history)
    for key in keys[:MAX_HISTORY_CHARTS]:
        run_ids = _top_runs(exp, key, MAX_RUNS_PER_CHART)
        shown = "" if len(run_ids) >= len(_logged(exp).get(key, ())) else f" (best {len(run_ids)} runs)"

        def history(key: str = key, run_ids: list[str] = run_ids, shown: str = shown) -> dict | None:
            part = rows.of(key, run_ids)
            if part.empty or _most_points(part) < 2:
                return None  # values logged once are in the table; a chart of single points says nothing
            return charts.history_chart(part, title=key + shown, run_labels=labels, max_points=max_points)

        slots.add(key + shown, history)
    _param_charts(exp, slots, keys)
    _seed_chart(exp, slots, keys, rows, max_points=max_points)


def _param_charts(exp: ExperimentData, slots: ChartSlots, keys: list[str]) -> None:
    varying, _ = experiment_varying(exp)
    if not keys or not varying:
        return
    metric = keys[0]
    runs = [run for run in exp.runs if metric in run.data.metrics][:MAX_SCATTER_RUNS]
    if len(runs) < 2:
        return
    dims = [key for key in varying if not is_seed(key)][:8] or varying[:8]
    # Values clipped as pages show them: a 64 KB value as an axis label would take vl-convert minutes.
    frame = pd.DataFrame({
        **{key: [_clipped(run.data.params.get(key)) for run in runs] for key in dims},
        metric: [run.data.metrics[metric] for run in runs],
        "__label": [run_label(run) for run in runs],
    })
    best = set(_top_runs(exp, metric, MAX_PARALLEL_RUNS))
    kept = [run.info.run_id in best for run in runs]
    shown = sum(kept)
    title = f"Parameters against {fmt.cut(metric)}" + (f" (best {shown} runs)" if shown < len(runs) else "")
    slots.add(title, lambda: charts.parallel_coordinates(frame[kept].reset_index(drop=True), dims, metric,
                                                         title=title, label_col="__label"))
    points = pd.DataFrame({"run": [run.info.run_id for run in runs], "x": frame[dims[0]], "y": frame[metric],
                           "label": frame["__label"],
                           "href": ["../../" + run_href(exp, run.info.run_id) for run in runs]})
    slots.add(f"{metric} against {dims[0]}", lambda: charts.scatter_chart(
        points, x_title=fmt.cut(dims[0]), y_title=fmt.cut(metric)))


def _clipped(value: str | None) -> str | None:
    return None if value is None else fmt.cut(value)


def seed_groups(runs: Sequence[Run], varying: list[str] | None = None) -> tuple[str | None, dict[str, list[Run]]]:
    """(the seed params that vary, joined; label -> runs), the groups of two runs or more that
    rollups.seed_groups makes (`reportgen summary` too): runs with the same value of every param but
    the seeds (analysis.is_seed), labelled by their other varying params, sorted by label.
    varying: the runs' varying params, when known."""
    if varying is None:
        varying, _ = varying_params(runs)
    seeds = [key for key in varying if is_seed(key)]
    if not seeds:
        return None, {}
    others = [key for key in varying if not is_seed(key)]
    found = rollups.seed_groups(_params_frame(runs), metrics=[])
    by_id = {run.info.run_id: run for run in runs}
    groups: dict[str, list[Run]] = {}
    for run_ids in found.loc[found["n_runs"] >= 2, "run_ids"]:
        members = [by_id[run_id] for run_id in run_ids]
        label = ", ".join(f"{key}={members[0].data.params.get(key, '')}" for key in others) or "all runs"
        while label in groups:  # a missing param and an empty value look alike
            label += " "
        groups[label] = members
    return ", ".join(seeds), dict(sorted(groups.items()))


def _params_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """The columns of a runs frame that seed groups read (run_id, experiment_id, params.*), made from
    the runs without the rest of runs_frame."""
    keys = sorted({key for run in runs for key in run.data.params})
    return pd.DataFrame({"run_id": [run.info.run_id for run in runs],
                         "experiment_id": [run.info.experiment_id for run in runs],
                         **{f"params.{key}": [run.data.params.get(key) for run in runs] for key in keys}})


def _seed_chart(exp: ExperimentData, slots: ChartSlots, keys: list[str], rows: _HistoryRows, *,
                max_points: int) -> None:
    seed, groups = seed_groups(exp.runs, experiment_varying(exp)[0])
    if not groups or not keys:
        return
    metric = keys[0]
    chosen = list(groups.items())[:20]
    title = f"{metric}: mean ± std over {seed}"

    def band_chart() -> dict | None:
        frames = []
        for label, members in chosen:
            part = rows.of(metric, [run.info.run_id for run in members])
            if part.empty:
                continue
            stats = pd.DataFrame([(step, *mean_std(values)) for step, values in part.groupby("step")["value"]],
                                 columns=["step", "mean", "std"])
            stats["group"] = fmt.cut(label)  # grouped by the whole values, shown clipped
            frames.append(stats)
        if not frames:
            return None
        band = pd.concat(frames, ignore_index=True)
        band = band[band["mean"].map(lambda v: math.isfinite(v))]
        return charts.seed_band_chart(band, title=title, y_title=metric, max_points=max_points)

    slots.add(title, band_chart)


def run_charts(run: Run, series_by_key: dict[str, Series], slots: ChartSlots, max_points: int) -> None:
    """One chart per metric of the run (at most MAX_HISTORY_CHARTS); series_by_key: the run's part of
    chartdata.split_history."""
    label = run_label(run)
    for key in sorted(series_by_key)[:MAX_HISTORY_CHARTS]:
        series = series_by_key[key]
        if len(series.step) < 2:
            continue  # a single value is in the table; a one-point line says nothing
        slots.add(key, lambda series=series, key=key: charts.history_chart(
            [series], title=key, run_labels={run.info.run_id: label}, max_points=max_points,
            height=RUN_CHART_HEIGHT))


COMPARE_HISTORY_RUNS = 50


def compare_histories(exp: ExperimentData, ordered_ids: Sequence[str], *, max_points: int) -> dict[str, dict]:
    """Metric key -> history spec over the runs the compare page can show (all runs of small experiments,
    else the first COMPARE_HISTORY_RUNS of the page's order); the page script filters series."""
    ids = list(ordered_ids)[:COMPARE_HISTORY_RUNS]
    labels = {run.info.run_id: run_label(run) for run in exp.runs}
    run_codes, run_names = _codes(exp.history["run_id"])
    wanted = np.zeros(len(run_names) + 1, dtype=bool)  # the last slot: code -1, never wanted
    chosen = set(ids)
    wanted[[i for i, name in enumerate(run_names) if name in chosen]] = True
    rows = _HistoryRows(exp.history.take(np.flatnonzero(wanted[run_codes])))
    specs = {}
    for key in rows.keys()[:MAX_HISTORY_CHARTS]:
        series = rows.of(key, ids)
        if _most_points(series) < 2:
            continue
        specs[key] = charts.history_chart(series, title=key, run_labels=labels, max_points=max_points)
    return specs
