"""The runs table's rows written in Python: the same escaping and cells as the template code they replace
(value_cell), column by column as cell by cell, and the rows script as json writes it."""
from __future__ import annotations

import html
import json
import math
import re

import markupsafe
from hypothesis import given, settings, strategies as st
from markupsafe import Markup

from reportgen.site.pages.common import MAX_CELL_CHARS, MAX_VALUE_CHARS, RUNS_TABLE_CELL_CHARS, value_cell
from reportgen.site.pages.runs_table import RowWriter, escape, rows_script

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


TEXTS = st.one_of(st.text(max_size=80), st.sampled_from(
    [" lead", "trail ", "a&b<c>\"d'", "x" * 60, "x" * 61, "y" * 250, "\u202eevil", "tab\there", "", "é" * 61]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXTS, st.floats(), st.integers()), max_size=30))
def test_text_cells_are_the_cells_cell_writes(values):
    table = writer()
    for attrs in ("", ' class="rg-const"'):
        expected = [writer().cell(value, attrs, RUNS_TABLE_CELL_CHARS) for value in values]
        assert table.text_cells(values, attrs) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text() | st.sampled_from(["</script><!--", "a\u2028b\u2029", '"\\', "↳ <td>x</td>", "\x00\x1f"]),
                max_size=8))
def test_rows_script_is_what_json_writes(rows):
    text = json.dumps({"pageSize": 250, "rows": rows}, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    assert rows_script([Markup(row) for row in rows], page_size=250) == f"reportgenRunsRows({text});\n"
