"""The runs table of an experiment as downloadable CSV (safe to open in a spreadsheet) and JSON.

CSV cells follow OWASP's CSV-injection advice: a text cell starting with `= + - @`, TAB, CR or LF gets a
leading `'`, so a spreadsheet shows it as text instead of running it; and every cell holding a comma,
quote, CR or LF is quoted, so no cell can start a row of its own. A text cell that is a plain number
(`-0.5`, `+1e-3`: params are text) is left as it is: it cannot be a formula, and stays a number.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from reportgen.site.fmt import number
from reportgen.site.jsonblock import finite, float_reprs

# ensure_ascii=False's string encoder (the C one when available), as json.dumps uses it.
encode_string = json.encoder.encode_basestring

# A cell starting with one of these is a formula in Excel, LibreOffice and Google Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_plain_number = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?").fullmatch


def safe_text(text: str) -> str:
    """A text cell with a formula trigger neutralised by a leading quote; plain numbers kept."""
    if text.startswith(_FORMULA_START) and not _plain_number(text):
        return "'" + text
    return text


def csv_cell(value: Any) -> str:
    """A cell value with formula triggers neutralised by a leading quote (OWASP's advice)."""
    if value is None:
        return ""
    if isinstance(value, float):
        # Numbers stay numbers, a leading minus included: exact when finite, else NaN, +inf, -inf.
        return repr(value) if value - value == 0 else number(value)
    return safe_text(str(value))


def csv_writer(buffer: io.StringIO) -> Any:
    """A csv writer whose rows end in CRLF: csv quotes the characters of its line terminator only (with
    "\n" alone, a bare CR was written unquoted and a spreadsheet started a new row there). Use csv_line."""
    return csv.writer(buffer, lineterminator="\r\n")


def csv_line(writer: Any, buffer: io.StringIO, cells: list[str]) -> str:
    """One row as written by csv_writer, ending in "\n" like the rest of the site's text files."""
    buffer.seek(0)
    buffer.truncate()
    writer.writerow(cells)
    return buffer.getvalue()[:-2] + "\n"


def table_records(exp: Any, columns: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    header = ["run_id", "run_name", "status", "start_time", "end_time", "user_id", "parent_run_id"]
    header += [f"params.{k}" for k in columns["params"]] + [f"metrics.{k}" for k in columns["metrics"]]
    header += [f"tags.{k}" for k in columns["tags"]]
    rows = []
    for run in exp.runs:
        info, data = run.info, run.data
        rows.append(
            [info.run_id, info.run_name, info.status, info.start_time, info.end_time, info.user_id,
             run.parent_run_id]
            + [data.params.get(k) for k in columns["params"]]
            + [data.metrics.get(k) for k in columns["metrics"]]
            + [data.tags.get(k) for k in columns["tags"]]
        )
    return header, rows


def write_exports(folder: Path, exp: Any, columns: dict[str, Any], memo: Any = None) -> None:
    """runs.csv and runs.json of the experiment. memo (site.memo.Memo): each run's CSV line and JSON
    record from the last build, for the runs that did not change (the header in their key)."""
    header, rows = table_records(exp, columns)
    folder.mkdir(parents=True, exist_ok=True)
    if memo is None:
        csv_text, json_text = export_texts(header, rows)
    else:
        layout = repr(header)
        keys = memo.keys(("export", layout), [((), run.info.run_id) for run in exp.runs])
        pieces = memo.get_many(keys, lambda missing: list(zip(*export_pieces(header, [rows[n] for n in missing])[1:])))
        csv_text, json_text = _joined(export_pieces(header, [])[0], [piece[0] for piece in pieces],
                                      [piece[1] for piece in pieces])
    (folder / "runs.csv").write_text(csv_text, encoding="utf-8", newline="")
    (folder / "runs.json").write_text(json_text + "\n", encoding="utf-8")


def export_texts(header: list[str], rows: list[list[Any]]) -> tuple[str, str]:
    """The table as CSV (csv_cell of each value) and as JSON, byte for byte what json.dumps(finite(records),
    sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) gives for the records."""
    return _joined(*export_pieces(header, rows))


def _joined(csv_header: str, csv_lines: list[str], json_records: list[str]) -> tuple[str, str]:
    if not json_records:
        return csv_header + "".join(csv_lines), "[]"
    return csv_header + "".join(csv_lines), "[" + ",".join(json_records) + "\n]"


def export_pieces(header: list[str], rows: list[list[Any]]) -> tuple[str, list[str], list[str]]:
    """The CSV header line, then each row's CSV line and JSON record (what export_texts joins). json uses
    its C encoder only without an indent, so values are encoded alone, a column at a time, and the layout
    is written here."""
    encoded = [_encode_column(column) for column in zip(*rows)]
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    csv_header = csv_line(writer, buffer, [csv_cell(name) for name in header])
    # A line each: a cell may hold a line break.
    lines = [csv_line(writer, buffer, cells) for cells in zip(*[csv_cells for csv_cells, _ in encoded])]
    if not rows:
        return csv_header, [], []
    order = sorted(range(len(header)), key=header.__getitem__)
    fields = [[f"\n  {encode_string(header[i])}: {value}" for value in encoded[i][1]] for i in order]
    return csv_header, lines, ["\n {" + ",".join(record) + "\n }" for record in zip(*fields)]


def _encode_column(column: tuple[Any, ...]) -> tuple[list[str], list[str]]:
    """(CSV cells, JSON values) of a column; text and float columns in one pass each, others cell by cell."""
    kinds = set(map(type, column))
    if kinds <= {str, type(None)}:
        return ([(safe_text(v) if v.startswith(_FORMULA_START) else v) if v is not None else "" for v in column],
                [encode_string(v) if v is not None else "null" for v in column])
    if kinds <= {float, type(None)}:
        if type(None) in kinds:
            reprs = iter(float_reprs([v for v in column if v is not None]))
            texts = [next(reprs) if v is not None else "" for v in column]
        else:
            texts = float_reprs(list(column))
        csv_cells, json_values = texts[:], [text or "null" for text in texts]
        if "nan" in texts or "inf" in texts or "-inf" in texts:  # JSON has no token for these
            for index, value in enumerate(column):
                if value is not None and value - value != 0:
                    csv_cells[index] = number(value)
                    json_values[index] = encode_string(finite(value))
        return csv_cells, json_values
    return [csv_cell(value) for value in column], [_json_value(value) for value in column]


def _json_value(value: Any) -> str:
    """One cell's JSON; the table's cells are scalars (others, such as bools or numpy numbers, go to json)."""
    if value is None:
        return "null"
    if type(value) is str:
        return encode_string(value)
    if type(value) is float and value - value == 0:  # finite
        return repr(value)
    if type(value) is int:
        return repr(value)
    return json.dumps(finite(value), sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
