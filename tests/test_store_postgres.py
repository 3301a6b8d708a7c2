"""The SQL reader on PostgreSQL: histories in one binary COPY equal what MlflowClient reads of the same
database (written by MLflow), and a COPY stream not in the expected layout is refused.
The database tests are skipped when the PostgreSQL binaries or psycopg2 are missing."""
from __future__ import annotations

import math
import random
import struct

import numpy as np
import pytest

import pg_cluster
from reportgen import open_store
from reportgen.stores import _sqlcopy
from reportgen.stores._sqlbase import SqlSchemaStore

T0 = 1_700_000_000_000
needs_postgres = pytest.mark.skipif(pg_cluster.missing() is not None, reason=str(pg_cluster.missing()))
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def logged():
    """(uri, experiment id) of a database where MLflow's client logged 12 runs of 3 metrics."""
    mlflow = pytest.importorskip("mlflow")
    from mlflow.entities import Metric, Param

    try:
        with pg_cluster.cluster() as uri:
            client = mlflow.MlflowClient(tracking_uri=uri)
            experiment_id = client.create_experiment("copy")
            rng = random.Random(11)
            for i in range(12):
                run_id = client.create_run(experiment_id, run_name=f"r{i}", start_time=T0 + i).info.run_id
                metrics = []
                for key in ("loss", "acc/top1", "ünï"):
                    for step in rng.sample(range(-3, 60), rng.randint(1, 15)):
                        value = rng.choice([rng.uniform(-1e6, 1e6), math.nan, math.inf, -math.inf, 1e308, 0.0])
                        metrics.append(Metric(key, value, T0 + rng.randint(0, 10**9), step))
                client.log_batch(run_id, metrics=metrics, params=[Param("i", str(i))])
            yield uri, experiment_id
    except pg_cluster.ClusterFailed as exc:
        pytest.fail(str(exc))


@needs_postgres
def test_copy_equals_what_mlflow_reads(logged, monkeypatch):
    import mlflow

    uri, experiment_id = logged
    monkeypatch.setattr(SqlSchemaStore, "_history_frame", lambda *a: pytest.fail("the COPY was not used"))
    store = open_store(uri)
    runs, frame = store.read_all([experiment_id])
    theirs = mlflow.MlflowClient(tracking_uri=uri)
    their_runs = {r.info.run_id: r for r in theirs.search_runs([experiment_id])}
    assert sorted(r.run_id for r in runs) == sorted(their_runs) and len(runs) == 12
    rows = []
    for run_id in sorted(their_runs):
        assert store.get_run(run_id).data.params == their_runs[run_id].data.params
        for key in sorted(their_runs[run_id].data.metrics):
            history = sorted(theirs.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
            rows += [(run_id, key, m.step, m.timestamp, m.value) for m in history]
    assert len(frame) == len(rows)
    assert list(zip(frame.run_id.astype(str), frame.key.astype(str), frame.step, frame.timestamp)) == [r[:4] for r in rows]
    assert np.array_equal(frame.value.to_numpy(), np.array([r[4] for r in rows]), equal_nan=True)

    some = store.metric_histories(sorted(their_runs)[:2], ["loss"])
    assert set(some.key.astype(str)) == {"loss"} and set(some.run_id.astype(str)) == set(sorted(their_runs)[:2])
    assert len(some) == sum(1 for r in rows if r[0] in sorted(their_runs)[:2] and r[1] == "loss")
    store.close()


def _copy_bytes(rows: list[list[bytes | None]]) -> bytes:
    """A binary COPY stream of rows of raw fields (None for NULL)."""
    out = [_sqlcopy._SIGNATURE, struct.pack(">ii", 0, 0)]
    for fields in rows:
        out.append(struct.pack(">h", len(fields)))
        out += [struct.pack(">i", -1) if f is None else struct.pack(">i", len(f)) + f for f in fields]
    return b"".join(out) + struct.pack(">h", -1)


def test_copy_layout_is_checked():
    series = [b"r" * 32, b"loss", struct.pack(">2q", -5, 7), struct.pack(">2q", T0, T0 + 1), struct.pack(">2d", 0.5, 0.0),
              b"\x00\x01"]
    rows = _sqlcopy._rows(memoryview(_copy_bytes([series, series])))
    assert rows is not None and len(rows) == 2 and [bytes(f) for f in rows[1]] == series
    assert _sqlcopy._rows(memoryview(_copy_bytes([series, series[:2] + [None] + series[3:]]))) is None
    assert _sqlcopy._rows(memoryview(_copy_bytes([series[:5]]))) is None
    assert _sqlcopy._rows(memoryview(_copy_bytes([series])[:-3])) is None  # cut short
    assert _sqlcopy._rows(memoryview(b"not a copy stream at all")) is None
    assert _sqlcopy._rows(memoryview(_copy_bytes([]))) == []
