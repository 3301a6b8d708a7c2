"""Runs built from the run folders of an mlruns/ store: their RunInfo (meta.yaml), then params, tags,
inputs and latest metrics, every metric file read and parsed once. Used by the reader (stores.file)
and by its read cache (stores.file_cache), which keeps each run's part of the parse.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from reportgen import mlruns
from reportgen.model import Metric, Run, RunData, RunInfo
from reportgen.stores import _metrics_parse as mp
from reportgen.stores._file_parts import (
    DatasetReader, Report, Skip, join, key_files, parse_metric_files, read_key_values, run_info, safe_key,
)
from reportgen.stores._io import Inline, read_many

# (run folder, RunInfo) of one readable run
RunRef = tuple[str, RunInfo]


def read_infos(folders: list[str], report: Report) -> list[RunInfo | None]:
    """The RunInfo of each run folder, None (and a problem) for an unreadable one."""
    metas = read_many([join(f, mlruns.META_FILE) for f in folders], cap=mlruns.MAX_META_BYTES)
    infos: list[RunInfo | None] = []
    for index, (folder, data) in enumerate(zip(folders, metas)):
        try:
            infos.append(run_info(join(folder, mlruns.META_FILE), data, os.path.basename(folder),
                                  os.path.basename(os.path.dirname(folder))))
        except Skip as skip:
            report(index, skip.path, skip.message)
            infos.append(None)
    return infos


def repeated_ids(folders: list[str], infos: list[RunInfo | None]) -> dict[int, str]:
    """index -> problem of each run folder whose run id an earlier folder has: the same run folder in
    two experiments (a copy, a merge). One id must mean one run (pages, charts and artifacts are keyed
    by it): the first in folder order is kept, whatever the lifecycle view."""
    first: dict[str, str] = {}
    repeats = {}
    for index, (folder, info) in enumerate(zip(folders, infos)):
        if info is None:
            continue
        if info.run_id in first:
            repeats[index] = f"run id {info.run_id} repeats the run at {first[info.run_id]}; run skipped"
        else:
            first[info.run_id] = folder
    return repeats


def metric_files(refs: list[RunRef], keys: list[str] | None = None,
                 problems: list[list[tuple[str, str]]] | None = None) -> list[tuple[int, str, str]]:
    """(run index, key, path) of the runs' metric files, sorted by (run_id, key); with `problems`
    (a list per run), what key_files leaves out is named there."""
    files = []
    for index, (folder, _) in enumerate(refs):
        metrics_dir = join(folder, mlruns.METRICS_DIR)
        if keys is None:
            found = key_files(metrics_dir, None if problems is None else problems[index])
        else:
            found = [(k, join(metrics_dir, k)) for k in keys if safe_key(k) and os.path.isfile(join(metrics_dir, k))]
        files.extend((index, key, path) for key, path in found)
    files.sort(key=lambda f: (refs[f[0]][1].run_id, f[1]))
    return files


def build_runs(
    refs: list[RunRef], report_metrics: Report, report_inputs: Report
) -> tuple[list[Run | None], list[tuple[int, str, str]], mp.ParsedMetrics]:
    """The runs, their metric files in (run_id, key) order and the parsed points of those files.
    None for a run whose folder is gone once read (deleted, or moved to .trash, meanwhile): what was
    read of it may be part of it, so it is skipped with a problem (to report_inputs).

    What is left out of a run's metrics/, params/ and tags/ (a folder that is a file, a symlink or
    FIFO, a value over its cap, a file gone meanwhile) goes to report_inputs with the run's other
    problems of that phase, in run order, so that a cached read (file_cache) reports them alike."""
    skipped: list[list[tuple[str, str]]] = [[] for _ in refs]
    files = metric_files(refs, problems=skipped)
    with ThreadPoolExecutor(max_workers=1) if len(refs) > 1 else Inline() as aside:
        # params and tags are read meanwhile (their reads overlap the parse of the metrics)
        kv_skipped: list[list[list[tuple[str, str]]]] = [[[] for _ in refs], [[] for _ in refs]]
        key_values = aside.submit(lambda: [read_key_values([join(folder, kind) for folder, _ in refs], found)
                                           for kind, found in zip((mlruns.PARAMS_DIR, mlruns.TAGS_DIR), kv_skipped)])
        parsed = parse_metric_files(files, report_metrics)
        params, tags = key_values.result()
    latest: list[list[Metric]] = [[] for _ in refs]
    rows = mp.latest_rows(parsed)
    found = np.flatnonzero(rows >= 0)
    rows = rows[found]
    # Python numbers from whole arrays at once: per-element numpy indexing costs ~1 us a value.
    for i, value, stamp, step in zip(found.tolist(), parsed.value[rows].tolist(),
                                     parsed.timestamp[rows].tolist(), parsed.step[rows].tolist()):
        index, key, _ = files[i]
        latest[index].append(Metric(key, value, stamp, step))
    datasets = DatasetReader()
    runs: list[Run | None] = []
    for index, ((folder, info), run_params, run_tags, metrics) in enumerate(zip(refs, params, tags, latest)):
        if not os.path.isdir(folder):
            report_inputs(index, folder, "run folder vanished while read (deleted or moved); run skipped")
            runs.append(None)
            continue
        if not info.run_name and run_tags.get("mlflow.runName"):
            info = RunInfo(**{**info.__dict__, "run_name": run_tags["mlflow.runName"]})
        objs = tuple(sorted(metrics, key=lambda m: m.key))
        data = RunData(metrics={m.key: m.value for m in objs}, params=run_params, tags=run_tags, metric_objs=objs)
        for path, message in (*skipped[index], *kv_skipped[0][index], *kv_skipped[1][index]):
            report_inputs(index, path, message)
        inputs = datasets.inputs(folder, lambda path, message: report_inputs(index, path, message))
        runs.append(Run(info=info, data=data, inputs=inputs))
    return runs, files, parsed
