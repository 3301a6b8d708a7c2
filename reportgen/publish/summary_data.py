"""What a run summary holds: plain dataclasses gathered by publish.summary, written by publish.summary_md
(Markdown), publish.summary's summary_json and drawn into by publish.images."""
from __future__ import annotations

from dataclasses import dataclass, field

from reportgen.publish.text import Delta

GITHUB_LIMIT = 65_536  # characters of a GitHub comment or step summary


@dataclass(frozen=True)
class RunRow:
    run_id: str
    run_name: str
    status: str
    metrics: dict[str, float | None]
    params: dict[str, str | None]
    deltas: dict[str, Delta]
    rank: int | None = None  # 1-based rank by the primary metric; None for the baseline row


@dataclass(frozen=True)
class MetricInfo:
    key: str
    direction: str | None
    n_runs: int
    best_run_id: str | None = None
    best_run_name: str | None = None
    best_value: float | None = None


@dataclass(frozen=True)
class SeedGroup:
    """Runs that repeat one configuration with other seeds (rollups.seed_groups, two runs or more):
    the values of the other varying params, and the runs, in store order."""
    params: dict[str, str | None]
    run_ids: list[str]


@dataclass
class ExperimentSummary:
    experiment_id: str
    name: str
    n_runs: int
    metrics: list[MetricInfo]
    ranked_by: str | None
    top: list[RunRow]
    baseline: RunRow | None
    baseline_note: str | None
    varying_params: list[str]
    constant_params: dict[str, str]
    notes: list[str] = field(default_factory=list)
    seed_groups: list[SeedGroup] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)  # {"metric", "path" (relative link), "alt"}


@dataclass
class Summary:
    experiments: list[ExperimentSummary]
    baseline_spec: str | None
    site_url: str | None
    problems: int = 0
