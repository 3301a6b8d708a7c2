"""The runs table of an experiment as downloadable CSV (safe to open in a spreadsheet) and JSON."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from reportgen.site.jsonblock import finite

# A cell starting with one of these is a formula in Excel, LibreOffice and Google Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: Any) -> str:
    """A cell value with formula triggers neutralised by a leading quote (OWASP's advice)."""
    if value is None:
        return ""
    if isinstance(value, float):
        from reportgen.site.fmt import number

        text = number(value) if value != value or value in (float("inf"), float("-inf")) else repr(value)
        return text  # numbers stay numbers, a leading minus included
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
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    (folder / "runs.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="")
    records = [dict(zip(header, row)) for row in rows]
    text = json.dumps(finite(records), sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    (folder / "runs.json").write_text(text + "\n", encoding="utf-8")
