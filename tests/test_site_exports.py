"""The runs table's exports: CSV cells as csv writes them, and JSON records that read back as the rows."""
from __future__ import annotations

import csv
import io
import json
import math

from hypothesis import given, strategies as st

from reportgen.site.jsonblock import finite
from reportgen.site.pages.exports import csv_cell, export_texts

scalars = st.none() | st.text() | st.integers() | st.floats() | st.booleans()
columns_of = {"text": st.none() | st.text(), "float": st.none() | st.floats(), "mixed": scalars}


@given(st.lists(st.tuples(st.text(), st.sampled_from(sorted(columns_of))), min_size=1, max_size=6,
                unique_by=lambda column: column[0]).flatmap(
    lambda spec: st.tuples(st.just([name for name, _ in spec]),
                           st.lists(st.tuples(*[columns_of[kind] for _, kind in spec]).map(list), max_size=4))))
def test_exports_are_csv_cells_and_the_records_as_json(table):
    header, rows = table
    lines = []
    for row in [header, *rows]:  # CRLF: csv quotes a bare CR only when it is in the line terminator
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow([csv_cell(value) for value in row])
        lines.append(buffer.getvalue()[:-2] + "\n")
    csv_text, json_text = export_texts(header, rows)
    assert csv_text == "".join(lines)
    records = [dict(zip(header, row)) for row in rows]
    assert json.loads(json_text) == finite(records)
    # json.dumps' layout (sorted keys, indent 2); numbers as orjson spells them
    layout = json.dumps(finite(records), sort_keys=True, indent=2, ensure_ascii=False)
    assert json_text.count("\n") == layout.count("\n") and [line[:4] for line in json_text.splitlines()] == [
        line[:4] for line in layout.splitlines()]


def test_floats_in_the_json_export():
    csv_text, json_text = export_texts(["v"], [[1e-05], [math.nan], [None], [0.1], [-math.inf]])
    assert json_text == '[\n  {\n    "v": 0.00001\n  },\n  {\n    "v": "NaN"\n  },\n  {\n    "v": null\n  },\n' \
                        '  {\n    "v": 0.1\n  },\n  {\n    "v": "-inf"\n  }\n]'
    assert csv_text.splitlines()[1:] == ["1e-05", "NaN", '""', "0.1", "-inf"]  # csv quotes a lone empty cell
