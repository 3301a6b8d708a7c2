"""What the file store's read cache keeps of one run folder (an Entry), shared by the cached read
(stores.file_cache), its files on disk (stores._cache_shards) and its history frames (stores._cache_frames).
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
    read_digest: bytes | None = None  # stores._read_digest's digest of its signature, once made (kept with it)
