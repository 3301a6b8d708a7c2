"""Run summaries for CI: per experiment the top runs by the chosen metrics, the params that vary and the
deltas against a baseline, gathered into plain dataclasses, then written as Markdown or JSON.

Output is deterministic (no times, no machine paths) so golden files can pin it.
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Sequence

from reportgen.aggregate import Directions, constant_params, metric_direction, varying_params
from reportgen.analysis import is_seed
from reportgen.rollups import seed_groups as frame_seed_groups
from reportgen.errors import BadInputError, ReportgenError
from reportgen.model import Experiment, Run
from reportgen.publish.baseline import RunSpec, find_run_anywhere, resolve_run
from reportgen.publish.summary_data import GITHUB_LIMIT, ExperimentSummary, MetricInfo, RunRow, SeedGroup, Summary
from reportgen.publish.text import delta
from reportgen.redaction import Redactor
from reportgen.selection import default_store_uris, select_experiments

DEFAULT_TOP = 5
DEFAULT_METRICS = 4  # metrics chosen per experiment when --metric is not given
_EVAL_WORDS = re.compile(r"(^|[^a-z])(val|valid|validation|test|eval|dev|holdout)([^a-z]|$)", re.IGNORECASE)


# -- choosing metrics -------------------------------------------------------------------------------
def _finite_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def _has(run: Run, key: str) -> bool:
    value = run.data.metrics.get(key)
    return value is not None and not math.isnan(value)


def choose_metrics(runs: Sequence[Run], wanted: Sequence[str], directions: Directions | None) -> list[str]:
    """The metrics asked for that these runs have; without a request, the DEFAULT_METRICS most logged
    ones whose direction is known, validation/test metrics first."""
    present = {key for run in runs for key in run.data.metrics}
    if wanted:
        return [key for key in wanted if key in present]
    counts = {key: sum(_has(run, key) for run in runs) for key in present}
    known = [key for key in present if metric_direction(key, directions)] or sorted(present)
    known.sort(key=lambda k: (-counts[k], not _EVAL_WORDS.search(k), k))
    return known[:DEFAULT_METRICS]


# -- one experiment ---------------------------------------------------------------------------------
def seed_groups(runs: Sequence[Run], varying: Sequence[str]) -> list[SeedGroup]:
    """The groups of two runs or more that differ only in seed params (analysis.is_seed), as
    rollups.seed_groups makes them (the site's seed chart shows the same groups); none when no seed
    param varies."""
    if not any(is_seed(key) for key in varying):
        return []
    others = [key for key in varying if not is_seed(key)]
    by_id = {run.info.run_id: run for run in runs}
    found = frame_seed_groups(list(runs), metrics=[])
    return [SeedGroup({key: by_id[ids[0]].data.params.get(key) for key in others}, list(ids))
            for ids in found.loc[found["n_runs"] >= 2, "run_ids"]]


def _row(run: Run, metrics: Sequence[str], params: Sequence[str], baseline: Run | None,
         directions: Directions | None, rank: int | None) -> RunRow:
    values = {key: _finite_or_none(run.data.metrics.get(key)) for key in metrics}
    deltas = {}
    if baseline is not None and rank is not None:
        deltas = {key: delta(values[key], _finite_or_none(baseline.data.metrics.get(key)),
                             metric_direction(key, directions)) for key in metrics}
    return RunRow(run.info.run_id, run.info.run_name or "", run.info.status, values,
                  {key: run.data.params.get(key) for key in params}, deltas, rank)


def rank_runs(runs: Sequence[Run], key: str | None, direction: str | None) -> list[Run]:
    """Runs with a value for `key`, best first (ties: earlier start, then run id); all runs, latest
    first, when there is no key or its direction is unknown."""
    by_start = sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))
    if key is None or direction is None:
        return list(reversed(by_start))
    scored = [r for r in by_start if _has(r, key)]
    sign = 1.0 if direction == "min" else -1.0
    return sorted(scored, key=lambda r: sign * r.data.metrics[key])  # stable: ties keep start order


def summarize_experiment(experiment: Experiment, runs: Sequence[Run], *, metrics: Sequence[str],
                         baseline: Run | None, baseline_note: str | None, top: int,
                         directions: Directions | None) -> ExperimentSummary:
    chosen = choose_metrics(runs, metrics, directions)
    infos = []
    for key in chosen:
        direction = metric_direction(key, directions)
        ranked = rank_runs(runs, key, direction) if direction else []
        best = ranked[0] if ranked else None
        infos.append(MetricInfo(key, direction, sum(_has(r, key) for r in runs),
                                best.info.run_id if best else None, best.info.run_name if best else None,
                                float(best.data.metrics[key]) if best else None))
    primary = chosen[0] if chosen else None
    primary_direction = metric_direction(primary, directions) if primary else None
    ranked = rank_runs(runs, primary, primary_direction)
    varying = varying_params(list(runs)) if runs else []
    constants = constant_params(list(runs)) if runs else {}
    notes = []
    if metrics:
        missing = [key for key in metrics if key not in chosen]
        if missing:
            notes.append("not logged here: " + ", ".join(missing))
    if primary and primary_direction is None:
        notes.append(f"cannot tell whether a higher or lower {primary} is better (pass --direction "
                     f"{primary}=max or min): runs are listed latest first")
    rows = [_row(run, chosen, varying, baseline, directions, rank) for rank, run in enumerate(ranked[:top], 1)]
    base_row = _row(baseline, chosen, varying, None, directions, None) if baseline is not None else None
    return ExperimentSummary(
        experiment_id=experiment.experiment_id, name=experiment.name, n_runs=len(runs), metrics=infos,
        ranked_by=primary if primary_direction else None, top=rows, baseline=base_row,
        baseline_note=baseline_note, varying_params=varying, constant_params=dict(sorted(constants.items())),
        notes=notes, seed_groups=seed_groups(runs, varying) if runs else [],
    )


def _baseline_for(spec: RunSpec | None, runs: Sequence[Run], primary: str | None, anywhere: Run | None,
                  directions: Directions | None) -> tuple[Run | None, str | None]:
    if spec is None:
        return None, None
    if spec.kind == "id":
        if anywhere is not None and any(r.info.run_id == anywhere.info.run_id for r in runs):
            return anywhere, None
        return None, f"the baseline run {spec.key} is in another experiment"
    if spec.kind == "best" and spec.key is None and primary is None:
        return None, "no baseline here: none of the chosen metrics is logged"
    try:
        found = resolve_run(spec, runs, metric=primary, directions=directions)
    except BadInputError:  # `best` by a metric of unknown direction: this experiment has no baseline
        return None, f"no baseline here: {spec.text} needs a metric whose direction is known"
    return (found, None) if found is not None else (None, f"no baseline here: {spec.text} matches no finished run")


# -- redaction: the one boundary of what a summary shows ----------------------------------------------
def _redact_row(row: RunRow, redactor: Redactor) -> RunRow:
    return replace(row, run_name=redactor.text(row.run_name), params=redactor.mapping(row.params))


def redact_summary(summary: Summary, redactor: Redactor) -> Summary:
    """The summary with every data string through the redaction policy: run and experiment names, param
    values (secret keys hidden), notes and the site URL. Ranking and baselines were chosen before, on
    the values as read (a tag:KEY=VALUE baseline may name a secret tag)."""
    experiments = []
    for exp in summary.experiments:
        experiments.append(replace(
            exp, name=redactor.text(exp.name), top=[_redact_row(row, redactor) for row in exp.top],
            baseline=_redact_row(exp.baseline, redactor) if exp.baseline is not None else None,
            baseline_note=redactor.text(exp.baseline_note) if exp.baseline_note is not None else None,
            constant_params=redactor.mapping(exp.constant_params), notes=[redactor.text(n) for n in exp.notes],
            seed_groups=[replace(g, params=redactor.mapping(g.params)) for g in exp.seed_groups],
            metrics=[replace(m, best_run_name=redactor.text(m.best_run_name)) if m.best_run_name else m
                     for m in exp.metrics]))
    return replace(summary, experiments=experiments,
                   baseline_spec=redactor.text(summary.baseline_spec) if summary.baseline_spec else None,
                   site_url=redactor.text(summary.site_url) if summary.site_url else None)


# -- the whole store --------------------------------------------------------------------------------
def build_summary(store, *, experiments: Sequence[str] = (), metrics: Sequence[str] = (),
                  baseline: RunSpec | None = None, top: int = DEFAULT_TOP, site_url: str | None = None,
                  directions: Directions | None = None, redactor: Redactor | None = None) -> Summary:
    """Gather the summary of the store's active experiments (or those named by id, name or glob),
    redacted by `redactor` (default: the built-in policy)."""
    if top < 1:
        raise BadInputError("--top must be at least 1")
    try:
        found = select_experiments(store.search_experiments(), list(experiments))
    except BadInputError:
        raise
    except ReportgenError as exc:  # an --experiment that matches nothing
        raise BadInputError(exc.message) from None
    anywhere = None
    if baseline is not None and baseline.kind == "id":
        anywhere = find_run_anywhere(store, baseline.key or "", option="--baseline")
    runs = store.get_runs([exp.experiment_id for exp in found]) if found else []
    by_experiment: dict[str, list[Run]] = {}
    for run in runs:
        by_experiment.setdefault(run.info.experiment_id, []).append(run)
    if metrics:
        logged = {key for run in runs for key in run.data.metrics}
        unknown = [key for key in metrics if key not in logged]
        if unknown:
            raise BadInputError(f"--metric {unknown[0]!r} is not logged by any run of the chosen experiments")
    result = []
    for experiment in found:
        mine = by_experiment.get(experiment.experiment_id, [])
        if not mine:
            continue
        chosen = choose_metrics(mine, metrics, directions)
        base, note = _baseline_for(baseline, mine, chosen[0] if chosen else None, anywhere, directions)
        result.append(summarize_experiment(experiment, mine, metrics=metrics, baseline=base, baseline_note=note,
                                           top=top, directions=directions))
    summary = Summary(result, baseline.text if baseline else None, site_url, problems=len(store.problems))
    return redact_summary(summary, redactor if redactor is not None else Redactor.from_options())


def summary_json(summary: Summary) -> str:
    """The summary as JSON (sorted keys, no NaN tokens: NaN and infinities become null)."""
    def clean(node):
        if isinstance(node, float):
            return node if math.isfinite(node) else None
        if isinstance(node, dict):
            return {str(k): clean(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [clean(v) for v in node]
        return node

    data = clean({"version": 1, **asdict(summary)})
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_summary(store_uri: str | None, *, output: str | os.PathLike[str] | None = None, fmt: str = "md",
                  experiments: Sequence[str] = (), metrics: Sequence[str] = (), baseline: RunSpec | None = None,
                  top: int = DEFAULT_TOP, images: str | os.PathLike[str] | None = None, image_format: str = "svg",
                  site_url: str | None = None, directions: Directions | None = None,
                  max_chars: int = GITHUB_LIMIT, redact: Sequence[str] = (), default_redaction: bool = True,
                  artifacts_destination: str | os.PathLike[str] | None = None) -> str:
    """Open the store, gather, draw the optional images, render; write to `output` when given.
    Returns the text (Markdown or JSON). redact: globs of keys whose values are hidden, on top of the
    built-in rules (off when default_redaction is False). artifacts_destination: as open_store's."""
    from reportgen.publish.images import write_images
    from reportgen.publish.summary_md import render_markdown
    from reportgen.stores import open_store

    if fmt not in ("md", "json"):
        raise BadInputError(f"unknown format {fmt!r}: use md or json")
    if site_url is not None and not re.match(r"^https?://[^\s]+$", site_url):
        raise BadInputError(f"--site-url {site_url!r} must be an http or https URL")
    uri = store_uri or default_store_uris()[0]
    with warnings.catch_warnings(), open_store(uri, artifacts_destination=artifacts_destination) as store:
        warnings.simplefilter("ignore")  # skipped items are counted in the summary instead
        summary = build_summary(store, experiments=experiments, metrics=metrics, baseline=baseline, top=top,
                                site_url=site_url, directions=directions,
                                redactor=Redactor.from_options(redact, default=default_redaction))
        if images is not None:
            link_base = Path(output).resolve().parent if output is not None else Path.cwd()
            write_images(store, summary, Path(images), link_base=link_base, fmt=image_format)
    text = summary_json(summary) if fmt == "json" else render_markdown(summary, max_chars=max_chars)
    if output is not None:
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return text
