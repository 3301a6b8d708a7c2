"""The runs table of an experiment as downloadable CSV (safe to open in a spreadsheet) and JSON.

CSV cells follow OWASP's CSV-injection advice: a text cell starting with `= + - @`, TAB, CR or LF gets a
leading `'`, so a spreadsheet shows it as text instead of running it; and every cell holding a comma,
quote, CR or LF is quoted, so no cell can start a row of its own. A text cell that is a plain number
(`-0.5`, `+1e-3`: params are text) is left as it is: it cannot be a formula, and stays a number.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from reportgen.site.fmt import number
from reportgen.site.jsonblock import finite, json_bytes

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


def write_exports(folder: Path, exp: Any, columns: dict[str, Any]) -> None:
    """runs.csv and runs.json of the experiment."""
    csv_text, json_text = export_texts(*table_records(exp, columns))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runs.csv").write_text(csv_text, encoding="utf-8", newline="")
    (folder / "runs.json").write_text(json_text + "\n", encoding="utf-8")


def export_texts(header: list[str], rows: list[list[Any]]) -> tuple[str, str]:
    """The table as CSV (csv_cell of each value) and as JSON: the records (finite of each value: a NaN
    metric is "NaN"), sorted keys, indented by two."""
    columns = list(zip(*rows))
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    # A line each: a cell may hold a line break.
    lines = [csv_line(writer, buffer, [csv_cell(name) for name in header])]
    lines += [csv_line(writer, buffer, cells) for cells in zip(*map(_csv_column, columns))]
    records = [dict(zip(header, values)) for values in zip(*map(_json_column, columns))]
    return "".join(lines), json_bytes(records, indent=True).decode("utf-8")


def _csv_column(column: tuple[Any, ...]) -> list[str]:
    if set(map(type, column)) <= {str, type(None)}:
        return [(safe_text(v) if v.startswith(_FORMULA_START) else v) if v is not None else "" for v in column]
    return [csv_cell(value) for value in column]


def _json_column(column: tuple[Any, ...]) -> Any:
    """The column as the JSON shows it: only a column holding something besides text, None and int
    needs finite (NaN metrics as "NaN")."""
    if set(map(type, column)) <= {str, int, type(None)}:
        return column
    return finite(list(column))
