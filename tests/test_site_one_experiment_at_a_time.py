"""A build holds one experiment's runs and histories at a time (issue 18: memory bounded by the largest
experiment, not the store): each experiment is read when the builder comes to it and released after its
pages are written. bench/bench_growth.py measures what this saves."""
from __future__ import annotations

import pytest

from reportgen.stores.file import FileStore
from site_stores import build, demo_store
import mlruns_builder as mb


@pytest.mark.parametrize("cached", [False, True], ids=["no cache", "read cache"])
def test_each_experiment_is_read_alone_after_the_one_before_was_released(tmp_path, monkeypatch, cached):
    store = demo_store(tmp_path / "mlruns")
    mb.run(mb.experiment(store, "3", "audio"), 7, name="a", metrics={"loss": [(0, 0.5, 1)]})
    reads: list[list[str]] = []
    held: list[int] = []  # experiments holding runs when each read starts
    import reportgen.site.gather as gather

    real_read_one = gather._read_one

    def read_one(site, data, *args):
        reads.append([data.experiment.experiment_id])
        held.append(sum(1 for exp in site.experiments if exp.runs))
        real_read_one(site, data, *args)

    store_reads = []
    for method in ("read_all", "read_cached"):
        def counted(self, experiment_ids=None, *args, _real=getattr(FileStore, method), **kwargs):
            store_reads.append(list(experiment_ids or []))
            return _real(self, experiment_ids, *args, **kwargs)
        monkeypatch.setattr(FileStore, method, counted)
    monkeypatch.setattr(gather, "_read_one", read_one)
    result = build(store, tmp_path / "site", cache_dir=tmp_path / "cache" if cached else None)
    assert sorted(reads) == sorted(store_reads) == [["1"], ["2"], ["3"]]  # one experiment per read, each once
    assert held == [0, 0, 0]  # the experiment read before was released when the next was read
    assert result.runs == 7 and result.experiments == 3
