"""The body rows of an experiment's runs table as ready HTML, one `<tr>` per run: the one place outside the
templates that writes markup. As template calls, 2000 rows of 60 cells cost seconds; here each value is
escaped once, in Python, with the entities of Jinja's autoescape (markupsafe's five).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from markupsafe import Markup

from reportgen.site import fmt
from reportgen.site.jsonblock import json_bytes

# Beside the pages of a runs table split over several pages; the name the experiment template gives the table.
ROWS_SCRIPT = "runs-rows.js"


def escape(text: str) -> str:
    """`text` escaped as markupsafe escapes it, without making a Markup object per value."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


def _td(sort: str, content_html: str, content_text: str, attrs: str = "", *, always: bool = False) -> str:
    """A cell; data-value only when it differs from the cell's text, which the table script sorts by
    otherwise (textContent, trimmed), or `always`."""
    if not always and sort == content_text and sort == sort.strip():
        return f"<td{attrs}>{content_html}</td>"
    return f'<td data-value="{escape(sort)}"{attrs}>{content_html}</td>'


def rows_script(rows: Sequence[str], *, page_size: int) -> str:
    """Every row of a table split over pages, as a script that hands them to the table script
    (reportgenRunsRows), which loads it on the first sort or filter: file:// pages cannot fetch a file but
    can add a script. Rows are JSON strings, which no row can leave; "</" and U+2028/2029 are escaped too,
    so no "</script" nor a line break of old parsers appears (json_text's escaping of every <, > and &
    would add 40% to the file: the rows are HTML)."""
    return rows_script_bytes(rows, page_size=page_size).decode("utf-8")


def rows_script_bytes(rows: Sequence[str], *, page_size: int) -> bytes:
    """rows_script's text as UTF-8, as the site writes it (3.5 MB for 1000 rows: not decoded and encoded
    again)."""
    raw = json_bytes({"pageSize": page_size, "rows": list(rows)})
    raw = raw.replace(b"</", b"<\\/").replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return b"reportgenRunsRows(" + raw + b");\n"


_HIDDEN_NUM = ' class="rg-num" hidden'
_SIX_DIGITS = "{:.6g}".format


class RowWriter:
    """Writes the rows of one runs table (columns as pages.experiment_columns gives them). Text cells are
    cached by value: params and tags repeat across runs."""

    def __init__(self, columns: dict[str, Any], *, root: str, limit: int, cell_limit: int,
                 full_limit: int) -> None:
        self.params: Sequence[str] = columns["params"]
        self.param_attrs = ["" if key in columns["varying"] else ' class="rg-const"' for key in self.params]
        self.metrics: Sequence[str] = columns["metrics"]
        self.tags: Sequence[str] = columns["tags"]
        self.models: dict[str, list[str]] = columns.get("models") or {}  # run_id -> its logged models' names
        self.root = root
        self.limit, self.cell_limit, self.full_limit = limit, cell_limit, full_limit
        self._cells: dict[tuple[str, str, int, bool], str] = {}

    def rows(self, items: Sequence[tuple[Any, int, str, str]], summaries: dict) -> list[Markup]:
        """One `<tr>` per (run, depth, href, name), in that order; param, metric and tag cells made column
        by column (a column's values repeat: each is written once)."""
        runs = [item[0] for item in items]
        columns = [self.text_cells([run.data.params.get(key) for run in runs], attrs)
                   for key, attrs in zip(self.params, self.param_attrs)]
        columns += self.metric_columns(runs, summaries)
        columns += [self.text_cells([run.data.tags.get(key) for run in runs], "") for key in self.tags]
        cells: list[tuple[str, ...]] = list(zip(*columns)) if columns else [()] * len(runs)
        return [Markup("\n".join((self.head(*item), *row, "</tr>"))) for item, row in zip(items, cells)]

    def head(self, run: Any, depth: int, href: str, name: str) -> str:
        """The start of a run's `<tr>`: pick box, name, status, start, duration, user. One cell a line: the
        filter, which searches a row's text, must not match across two cells."""
        info = run.info
        run_id = escape(info.run_id)
        parent = run.parent_run_id
        shown_name = fmt.visible(name)
        tree = '<span class="rg-tree" aria-hidden="true">↳ </span>' if depth else ""
        status = escape(info.status)
        duration = fmt.duration(info.start_time, info.end_time)
        elapsed = (info.end_time - info.start_time) if info.start_time and info.end_time else ""
        user = fmt.visible(info.user_id)
        models = self.models.get(info.run_id)
        mark = ""
        if models:  # a link to the run page's Models section; "model" also lets the filter find them
            names = escape(fmt.clip("Logged model: " + ", ".join(models), 300))
            mark = (f' <a class="rg-model-mark" href="{escape(self.root + href)}#rg-models" title="{names}" '
                    f'aria-label="{names}">model</a>')
        return "\n".join((
            f'<tr data-run-id="{run_id}"' + (f' data-parent="{escape(parent)}"' if parent else "")
            + f' class="rg-depth-{depth}">',
            f'<td class="rg-pick-col"><input type="checkbox" class="rg-pick" value="{run_id}" '
            f'aria-label="Tick {escape(name)}"></td>',
            _td(name, f'{tree}<a href="{escape(self.root + href)}">{escape(shown_name)}</a>{mark}',
                ("↳ " if depth else "") + shown_name + (" model" if mark else ""), ' class="rg-run-name"'),
            _td(info.status, f'<span class="rg-status rg-status-{escape(info.status.lower())}">{status}</span>',
                info.status),
            f'<td data-value="{escape(str(info.start_time or 0))}" class="rg-nowrap">'
            f"{escape(fmt.timestamp(info.start_time))}</td>",
            _td(str(elapsed), escape(duration), duration, ' class="rg-nowrap"'),
            _td(info.user_id, escape(user), user, " hidden"),
        ))

    def text_cells(self, values: list[Any], attrs: str) -> list[str]:
        """The cells of a param or tag column, as cell() writes them. A short printable text without edge
        spaces (most values) is its own shown, full and sort text (fmt.visible changes only unprintable
        characters): such texts are escaped together, joined by a NUL no printable text holds."""
        short = min(self.limit, self.cell_limit, self.full_limit)
        plain = [index for index, value in enumerate(values) if type(value) is str and len(value) <= short
                 and value.isprintable() and value == value.strip()]
        cells: list[str | None] = [None] * len(values)
        if plain:
            escaped = escape("\x00".join([values[index] for index in plain])).split("\x00")
            for index, text in zip(plain, escaped):
                cells[index] = f"<td{attrs}>{text}</td>"
        made: dict[Any, str] = {}  # the rest one by one, each distinct text once
        for index in [index for index, cell in enumerate(cells) if cell is None]:
            value = values[index]
            cacheable = value is None or type(value) is str
            cell = made.get(value) if cacheable else None
            if cell is None:
                cell = self.cell(value, attrs, self.limit)
                if cacheable:
                    made[value] = cell
            cells[index] = cell
        return cells  # type: ignore[return-value]

    def metric_columns(self, runs: Sequence[Any], summaries: dict) -> list[list[str]]:
        """Per metric, each run's cells of it: the last value (the run's latest, else its history's last),
        then min, max and best step, hidden until their column is toggled on."""
        columns = []
        for key in self.metrics:
            found = [summaries.get((run.info.run_id, key)) for run in runs]
            columns.append(self._metric_column([run.data.metrics.get(key) for run in runs], found))
        return columns

    def _metric_column(self, latest: list[Any], found: list[Any]) -> list[str]:
        """One metric's four cells per run, from each run's latest value and summary (or None)."""
        last = [value if value is not None or summary is None else summary.last
                for value, summary in zip(latest, found)]
        steps = ["" if s is None or s.best_step is None else s.best_step for s in found]
        parts = (self.float_cells(last, ' class="rg-num"'),
                 self.float_cells([s.min if s is not None else None for s in found], _HIDDEN_NUM),
                 self.float_cells([s.max if s is not None else None for s in found], _HIDDEN_NUM),
                 [f'<td data-value="{step}"{_HIDDEN_NUM}>{step}</td>' for step in steps])
        return ["\n".join(cells) for cells in zip(*parts)]

    def float_cells(self, values: list[Any], attrs: str) -> list[str]:
        """Metric cells of a column, formatted with one map per column: fmt.number_and_sort of a
        finite non-integer float is its 6-digit text and repr; other values go one by one."""
        if not set(map(type, values)) <= {float, type(None)}:
            return [self.cell(value, attrs, self.cell_limit, numeric=True) for value in values]
        array = np.array(values, dtype="float64")  # None -> NaN, fixed below
        with np.errstate(invalid="ignore"):
            plain = np.isfinite(array) & ~((array == np.trunc(array)) & (np.abs(array) < 1e15))
        floats = array.tolist()
        shown = list(map(_SIX_DIGITS, floats))
        sort = list(map(repr, floats))
        for index in np.flatnonzero(~plain).tolist():
            value = values[index]
            shown[index], sort[index] = ("", "") if value is None else fmt.number_and_sort(value)
        return [f'<td data-value="{key}"{attrs}>{text}</td>' for key, text in zip(sort, shown)]

    def cell(self, value: Any, attrs: str, limit: int, *, numeric: bool = False) -> str:
        """A value's cell as pages.value_cell shows it: a float's text and exact sort value; other values
        cut at `limit`, with the value() macro's markup to open the longer text in place. Metric
        (numeric) and float cells always carry data-value, as the table script's contract says."""
        if value is None:
            return f'<td data-value=""{attrs}></td>' if numeric else f"<td{attrs}></td>"
        if isinstance(value, float):
            shown, sort = fmt.number_and_sort(value)
            return f'<td data-value="{sort}"{attrs}>{shown}</td>'
        text = str(value)
        cached = self._cells.get((text, attrs, limit, numeric))
        if cached is not None:
            return cached
        # fmt.clip at both lengths, with one pass for invisible characters (of no more than is shown)
        seen = fmt.visible(text[:self.full_limit + 1])
        shown = fmt.cut(seen, limit)
        full = fmt.cut(seen, self.full_limit)
        if full == shown:
            cell = _td(text[:self.cell_limit], escape(shown), shown, attrs, always=numeric)
        else:
            cell = _td(text[:self.cell_limit], f'<details class="rg-long"><summary>{escape(shown)}</summary>'
                       f'<div class="rg-full">{escape(full)}</div></details>', shown + full, attrs, always=numeric)
        self._cells[(text, attrs, limit, numeric)] = cell
        return cell

