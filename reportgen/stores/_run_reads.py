"""What a read makes of one run folder, shared by the file reader (stores.file), its read cache
(stores.file_cache) and the cache's history frames (stores._cache_frames): the cache's Entry, and the
rule that one run id is one run (repeated_ids). Kept apart so that those three import it, not each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reportgen.model import Run, RunInfo
from reportgen.stores._read_sign import Signature

Problems = list[tuple[str, str]]


@dataclass
class Entry:
    """What a read made of one run folder."""

    signature: Signature | None  # None: not trusted next time (changed too recently)
    info: RunInfo | None  # None: the run was skipped (meta_problems say why)
    meta_problems: Problems = field(default_factory=list)
    run: Run | None = None  # None until a read admitted the run and built it
    metric_problems: Problems = field(default_factory=list)
    input_problems: Problems = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # metric files, in key order
    counts: np.ndarray | None = None  # points per file
    timestamp: np.ndarray | None = None
    value: np.ndarray | None = None
    step: np.ndarray | None = None
    read_digest: bytes | None = None  # ReadDigests' digest of its signature, once made (kept with it)


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
