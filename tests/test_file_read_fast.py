"""The file store reader's shortcuts give what the plain paths give: the 3-column metric parse, and
artifact_root answering from the last read."""
from __future__ import annotations

import itertools
import shutil

import numpy as np
import pytest

from mlruns_builder import T0, experiment, run
from reportgen import mlruns
from reportgen.errors import ResourceDoesNotExist
from reportgen.stores import _metrics_parse
from reportgen.stores._metrics_parse import parse_metric_blobs
from reportgen.stores.file import FileStore

# Lines that are almost metric lines: signs, spaces, quotes, exotic digits, floats where ints belong,
# too many or too few fields, NaN spellings, values past int64.
TRICKY = [
    "1 2 3", "+5 1 2", "1 +2 3", "1 2 +3", "0x10 1 2", " 1 2 3", "1  2 3", "1 2 3 ", "1_000 2 3",
    "99999999999999999999 1 2", "1 2 99999999999999999999", "-9223372036854775808 1 2", "1 2 5.0", "1.0 2 3",
    "1e3 2 3", "\u0661\u0662 1 2", "1 nan 2", "1 NaN 2", "1 -nan 2", "1 NAN 2", "1 inf 2", "1 -Infinity 2",
    "1 1e400 2", "1 2.", "1 .5 2", "1 2\t3", "1 2 3\r", '"1" 2 3', '1 "2" 3', "1 2 #3", "1 2 3 4", "1 2 3 4 5",
    "1 2 3 d e", "1 2", "1", "", "1 N/A 2", "1 True 2", "1 2 True", "-0 2 3", "1 -0.0 3", "00001 2 007",
    "1 0.30000000000000004 1", "1 4.9e-324 1", "1  3", "  ", " 1 2", "1 2 ", " 2 3",
]


def _line_by_line(blob: bytes) -> tuple[list[tuple[int, float, int]], int]:
    points, bad = [], 0
    lines = blob.split(b"\n")
    bad += 1 if lines[-1] else 0
    for raw in lines[:-1]:
        try:
            t, v, s = mlruns.parse_metric_line(raw.decode())
        except ValueError:
            bad += 1
            continue
        if not (-2**63 <= t < 2**63 and -2**63 <= s < 2**63):
            bad += 1
            continue
        points.append((t, v, s))
    return points, bad


def test_vectorised_parse_equals_line_by_line_on_tricky_pairs(monkeypatch):
    monkeypatch.setattr(_metrics_parse, "SMALL_BYTES", 0)  # force read_csv
    pairs = [f"{a}\n{b}\n".encode() for a, b in itertools.product(TRICKY, repeat=2)]
    singles = [f"{T0} 0.5 1\n{a}\n".encode() for a in TRICKY] + [f"{a}\n".encode() for a in TRICKY]
    for group in (pairs, singles, *([b] for b in singles)):  # many files in one read_csv pass, and one
        parsed = parse_metric_blobs(group)
        offsets = parsed.offsets
        for i, blob in enumerate(group):
            expected, bad = _line_by_line(blob)
            rows = range(offsets[i], offsets[i] + parsed.counts[i])
            got = [(int(parsed.timestamp[r]), float(parsed.value[r]), int(parsed.step[r])) for r in rows]
            assert repr(got) == repr(expected), blob
            assert parsed.bad_lines[i] == bad, blob
    assert parsed.timestamp.dtype == parsed.step.dtype == np.int64 and parsed.value.dtype == np.float64


def test_plain_fast_path_only_takes_three_field_lines():
    good = b"1 0.5 1\n2 0.25 2\n"
    assert _metrics_parse._fast_plain(good, np.array([2])) is not None
    for odd in (b"1 0.5 1\n2 0.25\n", b"1 0.5 1 d e\n", b"1 0.5 1 4\n2 0.5 2\n", b"1 0.5 5.0\n"):
        assert _metrics_parse._fast_plain(odd, np.array([odd.count(b"\n")])) is None


@pytest.fixture
def store_root(tmp_path):
    root = tmp_path / "mlruns"
    exp = experiment(root, "7", "seven")
    for index in (1, 2):
        run(exp, index, metrics={"loss": [(T0, 1.0, 0)]})
    run(exp, 3, stage="deleted")
    moved = run(exp, 4, artifact_uri="file:///elsewhere/on/another/machine/artifacts")
    return root, moved


def test_artifact_root_answers_from_the_last_read(store_root, monkeypatch):
    root, moved = store_root
    fresh = FileStore(root)
    expected = {r: fresh.artifact_root(r) for r in (f"{1:032x}", f"{3:032x}", moved)}
    store = FileStore(root)
    store.read_all()

    def no_scan(self, run_id):
        raise AssertionError("scanned the store again")

    with monkeypatch.context() as patch:
        patch.setattr(FileStore, "_find_run_folder", no_scan)
        assert store.artifact_root(f"{1:032x}") == expected[f"{1:032x}"]
        assert store.artifact_root(moved) == expected[moved]  # the stale URI still falls back
    assert store.artifact_root(f"{3:032x}") == expected[f"{3:032x}"]  # not in the read: looked up
    shutil.rmtree(root / "7" / f"{1:032x}")
    with pytest.raises(ResourceDoesNotExist):  # a folder gone since the read is looked up, as before
        store.artifact_root(f"{1:032x}")


def test_artifact_root_memory_sees_a_swapped_folder(store_root, tmp_path):
    root, _ = store_root
    run_id = f"{1:032x}"
    store = FileStore(root)
    store.read_all()
    artifacts = root / "7" / run_id / "artifacts"
    first = store.artifact_root(run_id)
    assert first.path == artifacts.resolve() and store.artifact_root(run_id) == first
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(artifacts)
    artifacts.symlink_to(outside)  # swapped for a symlink after the first answer
    swapped = store.artifact_root(run_id)
    assert swapped.path is None and "symlink" in swapped.reason
    assert swapped == FileStore(root).artifact_root(run_id)
