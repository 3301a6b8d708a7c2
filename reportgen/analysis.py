"""The rules of the analysis layer that both the frames (aggregate, rollups: `reportgen summary`) and the
site (lists of Run objects) apply: which params are seeds, which params vary, and the order of the run
tree. Plain Python over plain values, so each side feeds them from what it holds and they cannot disagree.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

# Param names that only pick a random seed: runs differing in these alone are repeats.
SEED_PARAMS = frozenset({"seed", "random_seed", "random_state", "rng_seed", "seed_value", "np_seed",
                         "torch_seed", "global_seed", "data_seed", "init_seed"})


def is_seed(key: str, seed_params: Iterable[str] = SEED_PARAMS) -> bool:
    """Whether a param key names a seed: its last path or dotted part ("trainer/seed", "cfg.torch_seed"),
    any case, is one of seed_params."""
    name = key.lower().rsplit("/", 1)[-1].rsplit(".", 1)[-1]
    return name in ({s.lower() for s in seed_params} if seed_params is not SEED_PARAMS else SEED_PARAMS)


def varies(n_values: int) -> bool:
    """Whether runs differ in a param: the runs that have it hold two values or more. Runs without it
    do not count: child runs that lack their parent's params (or a sweep parent lacking its children's)
    do not make those params vary."""
    return n_values > 1


def split_params(params: Sequence[Mapping[str, str]]) -> tuple[list[str], list[str]]:
    """(keys that vary, keys that do not), each sorted, over the runs' param dicts."""
    values: dict[str, set[str]] = {}
    for run_params in params:
        for key, value in run_params.items():
            values.setdefault(key, set()).add(value)
    keys = sorted(values)
    return [key for key in keys if varies(len(values[key]))], [key for key in keys if not varies(len(values[key]))]


def tree_order(ids: Sequence[str], parents: Sequence[str | None]) -> tuple[list[tuple[int, int, int]], list[int]]:
    """The runs in tree order: each root (no parent, or a parent not among the runs) followed by its
    children depth-first, siblings in input order. Returns (position, depth, root position) per run in
    that order, and each run's number of children (by position). A parent cycle is broken at the first
    run of the cycle met in input order. A stack, not recursion: chains thousands deep are fine."""
    position = {run_id: i for i, run_id in enumerate(ids)}
    children: list[list[int]] = [[] for _ in ids]
    roots = []
    for i, (run_id, parent) in enumerate(zip(ids, parents)):
        if parent is not None and parent in position and parent != run_id:
            children[position[parent]].append(i)
        else:
            roots.append(i)
    ordered: list[tuple[int, int, int]] = []
    seen = [False] * len(ids)
    for root in [*roots, *range(len(ids))]:  # then runs caught in a cycle with no root
        stack = [(root, 0)]
        while stack:
            i, depth = stack.pop()
            if seen[i]:
                continue
            seen[i] = True
            ordered.append((i, depth, root))
            stack.extend((child, depth + 1) for child in reversed(children[i]))
    return ordered, [len(c) for c in children]
