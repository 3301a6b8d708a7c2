"""A build holds one experiment's runs and histories at a time (issue 18: memory bounded by the largest
experiment, not the store): each experiment is read when the builder comes to it and released after its
pages are written. bench/bench_growth.py measures what this saves."""
from __future__ import annotations

from reportgen.stores.file import FileStore
from site_stores import build, demo_store
import mlruns_builder as mb


def test_each_experiment_is_read_alone_after_the_one_before_was_released(tmp_path, monkeypatch):
    store = demo_store(tmp_path / "mlruns")
    mb.run(mb.experiment(store, "3", "audio"), 7, name="a", metrics={"loss": [(0, 0.5, 1)]})
    reads: list[list[str]] = []
    held: list[int] = []  # experiments holding runs when each read starts
    real = FileStore.read_all
    import reportgen.site.gather as gather

    built = []
    real_fill = gather._fill

    def fill(site, data, *args, **kwargs):
        real_fill(site, data, *args, **kwargs)
        built.append(site)

    def read_all(self, experiment_ids=None, *args, **kwargs):
        reads.append(list(experiment_ids or []))
        if built:
            held.append(sum(1 for exp in built[-1].experiments if exp.runs))
        return real(self, experiment_ids, *args, **kwargs)

    monkeypatch.setattr(FileStore, "read_all", read_all)
    monkeypatch.setattr(gather, "_fill", fill)
    result = build(store, tmp_path / "site")
    assert sorted(reads) == [["1"], ["2"], ["3"]]  # one experiment per read, each once
    assert held == [0, 0]  # the experiment read before was released when the next was read
    assert result.runs == 7 and result.experiments == 3
