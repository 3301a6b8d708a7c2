"""The runs table of an experiment as downloadable CSV (safe to open in a spreadsheet) and JSON."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from reportgen.site.fmt import number
from reportgen.site.jsonblock import finite

# ensure_ascii=False's string encoder (the C one when available), as json.dumps uses it.
encode_string = json.encoder.encode_basestring

# A cell starting with one of these is a formula in Excel, LibreOffice and Google Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: Any) -> str:
    """A cell value with formula triggers neutralised by a leading quote (OWASP's advice)."""
    if value is None:
        return ""
    if isinstance(value, float):
        # Numbers stay numbers, a leading minus included: exact when finite, else NaN, +inf, -inf.
        return repr(value) if value - value == 0 else number(value)
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


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
    header, rows = table_records(exp, columns)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_cell(name) for name in header])
    # Column by column: one cell function per column kind instead of per value.
    cells = [[csv_cell(value) for value in column] for column in zip(*rows)] if rows else []
    writer.writerows(zip(*cells))
    (folder / "runs.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="")
    (folder / "runs.json").write_text(records_json(header, rows) + "\n", encoding="utf-8")


def records_json(header: list[str], rows: list[list[Any]]) -> str:
    """The rows as a JSON list of objects, byte for byte what json.dumps(finite(records), sort_keys=True,
    indent=1, ensure_ascii=False, allow_nan=False) gives: json only uses its C encoder without an indent,
    so each value is encoded alone and the layout is written here."""
    if not rows:
        return "[]"
    order = sorted(range(len(header)), key=header.__getitem__)
    keys = [f"\n  {encode_string(header[i])}: " for i in order]
    records = []
    for row in rows:
        fields = [key + _json_value(row[i]) for key, i in zip(keys, order)]
        records.append("\n {" + ",".join(fields) + "\n }")
    return "[" + ",".join(records) + "\n]"


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
