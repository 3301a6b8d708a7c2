"""The runs table's rows and exports written in Python: the same escaping, cells and JSON bytes as the
template code and json.dumps they replace."""
from __future__ import annotations

import csv
import html
import io
import json
import math
import re

import markupsafe
from hypothesis import given, strategies as st

from reportgen.site.exports import csv_cell, export_texts
from reportgen.site.jsonblock import finite
from reportgen.site.pages import MAX_CELL_CHARS, MAX_VALUE_CHARS, RUNS_TABLE_CELL_CHARS, value_cell
from reportgen.site.runs_rows import RowWriter, escape

CELL_RE = re.compile(r'<td(?: data-value="([^"]*)")?( class="rg-const")?>(.*)</td>', re.S)
LONG_RE = re.compile(r'<details class="rg-long"><summary>(.*)</summary><div class="rg-full">(.*)</div></details>', re.S)


def writer() -> RowWriter:
    columns = {"params": [], "varying": set(), "metrics": [], "tags": []}
    return RowWriter(columns, root="../../", limit=RUNS_TABLE_CELL_CHARS, cell_limit=MAX_CELL_CHARS,
                     full_limit=MAX_VALUE_CHARS)


@given(st.text())
def test_escape_is_markupsafes(text):
    assert escape(text) == str(markupsafe.escape(text))


values = st.none() | st.floats() | st.text() | st.text(min_size=55, max_size=80) | st.sampled_from(
    ["  padded ", "x" * 2500, "<b>&'\"", "a\u202eb\u0007", "", "1e3", "\u00a0nbsp"])


@given(values, st.booleans())
def test_cells_show_and_sort_as_value_cell(value, constant):
    """What the table script sorts by (data-value, else the trimmed text) and what the cell shows are
    value_cell's sort, text and full."""
    expected = value_cell(value, RUNS_TABLE_CELL_CHARS)
    found = CELL_RE.fullmatch(writer().cell(value, ' class="rg-const"' if constant else "", RUNS_TABLE_CELL_CHARS))
    assert found and bool(found.group(2)) == constant
    long = LONG_RE.fullmatch(found.group(3))
    if expected["full"] != expected["text"]:
        assert long and [html.unescape(part) for part in long.groups()] == [expected["text"], expected["full"]]
        assert found.group(1) is not None
    else:
        assert not long and html.unescape(found.group(3)) == expected["text"]
    sort = html.unescape(found.group(1)) if found.group(1) is not None else html.unescape(found.group(3)).strip()
    assert sort == expected["sort"]
    assert all("<" not in part and ">" not in part for part in (long.groups() if long else [found.group(3)]))


def test_metric_cells_always_carry_their_sort_value():
    cells = [writer().cell(value, ' class="rg-num"', MAX_CELL_CHARS, numeric=True) for value in (0.5, None, 3.0, math.nan)]
    assert cells == ['<td data-value="0.5" class="rg-num">0.5</td>', '<td data-value="" class="rg-num"></td>',
                     '<td data-value="3.0" class="rg-num">3</td>', '<td data-value="NaN" class="rg-num">NaN</td>']


@given(st.lists(st.none() | st.floats() | st.sampled_from([0.0, -0.0, 3.0, 1e15, -2e16, 1e-7, 123456789.0]))
       | st.lists(st.none() | st.integers() | st.floats(), max_size=3))
def test_metric_columns_are_formatted_as_single_cells(values):
    table = writer()
    assert table.float_cells(values, ' class="rg-num"') == [
        table.cell(value, ' class="rg-num"', MAX_CELL_CHARS, numeric=True) for value in values]


scalars = st.none() | st.text() | st.integers() | st.floats() | st.booleans()
columns_of = {"text": st.none() | st.text(), "float": st.none() | st.floats(), "mixed": scalars}


@given(st.lists(st.tuples(st.text(), st.sampled_from(sorted(columns_of))), min_size=1, max_size=6,
                unique_by=lambda column: column[0]).flatmap(
    lambda spec: st.tuples(st.just([name for name, _ in spec]),
                           st.lists(st.tuples(*[columns_of[kind] for _, kind in spec]).map(list), max_size=4))))
def test_exports_are_csv_cells_and_json_dumps_byte_for_byte(table):
    header, rows = table
    lines = []
    for row in [header, *rows]:  # CRLF: csv quotes a bare CR only when it is in the line terminator
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow([csv_cell(value) for value in row])
        lines.append(buffer.getvalue()[:-2] + "\n")
    records = [dict(zip(header, row)) for row in rows]
    expected_json = json.dumps(finite(records), sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    assert export_texts(header, rows) == ("".join(lines), expected_json)
