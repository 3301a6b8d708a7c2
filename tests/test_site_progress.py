"""The build's progress callback (the CLI's progress bar): it names the experiment being built, "k of n",
since the runs of each are read only when the builder comes to it, and its advances count the pages."""
from __future__ import annotations

from site_stores import build, demo_store
import mlruns_builder as mb


def test_progress_names_each_experiment_and_counts_its_pages(tmp_path):
    store = demo_store(tmp_path / "mlruns")
    mb.run(mb.experiment(store, "3", "audio"), 7, name="a", metrics={"loss": [(0, 0.5, 1)]})
    calls: list[tuple[str, int, int | None]] = []
    result = build(store, tmp_path / "site", progress=lambda phase, advance, total: calls.append((phase, advance, total)))
    phases = list(dict.fromkeys(phase for phase, _, _ in calls))
    assert phases == ["Reading stores"] + [f"Experiment {n} of 3: pages" for n in (1, 2, 3)]
    assert all(total is None for _, _, total in calls)
    # Each run page and each experiment's pages advance the bar once.
    assert sum(advance for _, advance, _ in calls) == result.runs + result.experiments
