"""Which run is the baseline or the candidate: a run id, `best`, `best:KEY`, `latest` or `tag:KEY=VALUE`.

`best`, `latest` and `tag:` pick among FINISHED runs only: a running or failed run is no baseline, and
in CI the run being judged has finished before the check runs. `latest` and `tag:` take the latest
start (then the larger run id); `best` breaks ties by the earlier start.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from reportgen.aggregate import Directions, metric_direction
from reportgen.errors import BadInputError, ReportgenError
from reportgen.model import Run, RunStatus, ViewType

SPEC_HELP = "RUN_ID (or a unique prefix), best, best:METRIC, latest or tag:KEY=VALUE"
MIN_PREFIX = 6


@dataclass(frozen=True)
class RunSpec:
    """A parsed --baseline/--candidate value. kind: id, best, latest or tag."""

    kind: str
    text: str
    key: str | None = None  # the run id (id), the metric (best:KEY) or the tag key (tag)
    value: str | None = None  # the tag value

    def describe(self) -> str:
        if self.kind == "tag":
            return f"the latest finished run tagged {self.key}={self.value}"
        if self.kind == "best":
            return f"the best finished run by {self.key}" if self.key else "the best finished run"
        if self.kind == "latest":
            return "the latest finished run"
        return f"run {self.key}"


def parse_run_spec(text: str, *, option: str = "--baseline") -> RunSpec:
    """A RunSpec for `text`; BadInputError (exit 2) for an empty or malformed value."""
    value = (text or "").strip()
    if not value:
        raise BadInputError(f"{option} is empty: give {SPEC_HELP}")
    lowered = value.lower()
    if lowered == "best":
        return RunSpec("best", value)
    if lowered.startswith("best:"):
        key = value[len("best:"):].strip()
        if not key:
            raise BadInputError(f"{option} {value!r}: name the metric after best:, e.g. best:accuracy")
        return RunSpec("best", value, key=key)
    if lowered == "latest":
        return RunSpec("latest", value)
    if lowered.startswith("tag:"):
        key, sep, tag_value = value[len("tag:"):].partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"{option} {value!r}: write tag:KEY=VALUE, e.g. tag:branch=main")
        return RunSpec("tag", value, key=key.strip(), value=tag_value)
    if any(ch.isspace() for ch in value) or ":" in value:
        raise BadInputError(f"{option} {value!r} is not {SPEC_HELP}")
    return RunSpec("id", value, key=value)


def _order(run: Run) -> tuple[int, str]:
    return (run.info.start_time or 0, run.info.run_id)


def _finished(runs: Sequence[Run]) -> list[Run]:
    return sorted((r for r in runs if r.info.status == RunStatus.FINISHED), key=_order)


def resolve_run(spec: RunSpec, runs: Sequence[Run], *, metric: str | None = None,
                directions: Directions | None = None) -> Run | None:
    """The run `spec` names among `runs`, or None when none matches.

    `metric` is the key `best` ranks by when the spec names none. BadInputError when `best` has no
    metric or the metric's direction is unknown (a wrong guess would pick the worst run).
    """
    if spec.kind == "id":
        return next((r for r in runs if r.info.run_id == spec.key), None)
    candidates = _finished(runs)
    if spec.kind == "latest":
        return candidates[-1] if candidates else None
    if spec.kind == "tag":
        tagged = [r for r in candidates if r.data.tags.get(spec.key or "") == spec.value]
        return tagged[-1] if tagged else None
    key = spec.key or metric
    if not key:
        raise BadInputError(f"{spec.text!r} needs a metric to rank by: write best:METRIC")
    direction = metric_direction(key, directions)
    if direction is None:
        raise BadInputError(f"cannot tell whether a higher or lower {key!r} is better: "
                            f"pass --direction {key}=max (or min)")
    scored = [r for r in candidates if _finite(r.data.metrics.get(key))]
    if not scored:
        return None
    # The earliest started among equal values, as aggregate.best_runs does for ties.
    pick = min if direction == "min" else max
    best_value = pick(r.data.metrics[key] for r in scored)
    return next(r for r in scored if r.data.metrics[key] == best_value)


def _finite(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def find_run_anywhere(store, run_id: str, *, option: str) -> Run:
    """A run by id in the whole store (any experiment, any status), or by a unique prefix of at least
    MIN_PREFIX characters (the summary shows 8); BadInputError when missing or ambiguous."""
    try:
        return store.get_run(run_id)
    except ReportgenError:
        pass
    if len(run_id) >= MIN_PREFIX:
        matches = [r for r in store.get_runs(None, ViewType.ALL) if r.info.run_id.startswith(run_id)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise BadInputError(f"{option} {run_id!r} is the start of {len(matches)} run ids: give more of it")
    raise BadInputError(f"{option} {run_id!r}: no such run in the store")


def parse_directions(items: Sequence[str]) -> dict[str, str]:
    """--direction KEY=min|max values as a dict for metric_direction's overrides."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, word = item.rpartition("=")
        if not sep or not key.strip() or word.strip().lower() not in ("min", "max", "lower", "higher"):
            raise BadInputError(f"--direction {item!r}: write KEY=min or KEY=max (a glob works for KEY)")
        result[key.strip()] = word.strip().lower()
    return result
