"""Shortcuts that must give what the general code gives: the runs table's column-wise text cells, the
orjson-made float reprs, and the printable-text shortcut of clean_text and of the table's cells."""
from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path

from hypothesis import given, settings, strategies as st
from markupsafe import Markup

from reportgen import chartdata
from reportgen.chartdata import clean_text
from reportgen.site import fmt
from reportgen.site.jsonblock import float_reprs
from reportgen.site.pages import MAX_CELL_CHARS, MAX_VALUE_CHARS, RUNS_TABLE_CELL_CHARS
from reportgen.site.runs_rows import RowWriter, rows_script

EVERY_CHAR = [chr(code) for code in range(0x110000)]


def writer() -> RowWriter:
    columns = {"params": ["p"], "varying": {"p"}, "metrics": [], "tags": []}
    return RowWriter(columns, root="../../", limit=RUNS_TABLE_CELL_CHARS, cell_limit=MAX_CELL_CHARS,
                     full_limit=MAX_VALUE_CHARS)


def test_what_visible_and_clean_text_change_is_unprintable():
    # Both return printable text unchanged without running their patterns.
    assert [c for c in EVERY_CHAR if fmt.visible(c) != c and c.isprintable()] == []
    replaced = [c for c in EVERY_CHAR if chartdata._LINE_BREAKS.match(c) or chartdata._INVISIBLE.match(c)]
    assert len(replaced) > 60 and not any(c.isprintable() for c in replaced)
    assert clean_text("a\u2028b\u202e") == "a b[U+202E]"


TEXTS = st.one_of(st.text(max_size=80), st.sampled_from(
    [" lead", "trail ", "a&b<c>\"d'", "x" * 60, "x" * 61, "y" * 250, "\u202eevil", "tab\there", "", "é" * 61]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXTS, st.floats(), st.integers()), max_size=30))
def test_text_cells_are_the_cells_cell_writes(values):
    table = writer()
    for attrs in ("", ' class="rg-const"'):
        expected = [writer().cell(value, attrs, RUNS_TABLE_CELL_CHARS) for value in values]
        assert table.text_cells(values, attrs) == expected


def test_float_reprs_are_repr():
    rng = random.Random(7)
    values = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(20_000)]
    values += [rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 22) for _ in range(20_000)]
    values += [0.0, -0.0, 1e-5, 1e-7, 1e16, 5e-324, math.nan, math.inf, -math.inf, 100.0]
    for edge in (1e-4, 1e16, -1e-4, -1e16):  # where repr switches to an exponent
        values += [math.nextafter(edge, 0), edge, math.nextafter(edge, math.inf * edge)]
    assert float_reprs(values) == list(map(repr, values))
    assert float_reprs([]) == []
    assert float_reprs([1.5, True]) == ["1.5", "True"]  # not all floats: repr one by one


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text() | st.sampled_from(["</script><!--", "a\u2028b\u2029", '"\\', "↳ <td>x</td>", "\x00\x1f"]),
                max_size=8))
def test_rows_script_is_what_json_writes(rows):
    text = json.dumps({"pageSize": 250, "rows": rows}, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    assert rows_script([Markup(row) for row in rows], page_size=250) == f"reportgenRunsRows({text});\n"



def test_a_slice_of_the_runs_table_is_those_rows_of_the_whole():
    from reportgen.site.collect import gather, open_stores
    from reportgen.site.pages import experiment_columns, experiment_rows
    from reportgen.redaction import Redactor
    from reportgen.site.summary import summarize

    uris = [str(Path(__file__).resolve().parents[1] / "sample_mlruns")]
    stores = open_stores(uris, strict=False)
    try:
        site = gather(stores, uris, experiments=(), filter_string=None, redactor=Redactor.from_options(()),
                      read_cache=None)
        checked = 0
        for exp in site.experiments:
            summaries, columns = summarize(exp.history), experiment_columns(exp)
            whole = experiment_rows(exp, summaries, columns)
            for part in (slice(0, 2), slice(1, None), slice(0, 0)):
                assert experiment_rows(exp, summaries, columns, rows=part) == whole[part]
            checked += len(whole) > 2
        assert checked
    finally:
        for store in stores:
            store.close()


def test_history_rows_of_a_frame_in_blocks_are_what_a_mask_selects():
    import numpy as np
    import pandas as pd

    from reportgen.site.chartslots import _HistoryRows

    rng = np.random.default_rng(11)
    blocks = []
    for run in ["a", "b", "c", "d", "e"]:
        for key in rng.permutation(["x", "y", "z"]).tolist():
            size = int(rng.integers(8, 40))
            blocks.append(pd.DataFrame({"run_id": run, "key": key, "step": np.arange(size), "timestamp": np.arange(size),
                                        "value": rng.normal(size=size)}))
    blocks.append(blocks[0].assign(step=blocks[0]["step"] + 100))  # a run's key met again, later in the frame
    frame = pd.concat(blocks, ignore_index=True)
    for history in (frame, frame.astype({"run_id": "category", "key": "category"}),
                    frame.iloc[:0], frame.iloc[::-1]):
        rows = _HistoryRows(history)
        assert rows.keys() == sorted(history["key"].astype(str).unique().tolist())
        for key, run_ids in (("x", ["a", "c"]), ("z", ["e", "missing"]), ("y", []), ("absent", ["a"]),
                             (str(frame["key"][0]), ["a", "b", "c", "d", "e"])):
            expected = history[(history["key"] == key) & history["run_id"].isin(run_ids)]
            picked = rows.of(key, run_ids)
            assert picked.equals(expected) and list(picked.index) == list(expected.index), (key, run_ids)
    assert _HistoryRows(frame).blocks is not None  # the case this test is for
