"""The body rows of an experiment's runs table as ready HTML, one `<tr>` per run: the one place outside the
templates that writes markup. As template calls, 2000 rows of 60 cells cost seconds; here each value is
escaped once, in Python, with the entities of Jinja's autoescape (markupsafe's five).
"""
from __future__ import annotations

from typing import Any, Sequence

from markupsafe import Markup

from reportgen.site import fmt


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


_NO_SUMMARY = ['<td data-value="" class="rg-num" hidden></td>'] * 3  # min, max, best step of a metric without history


class RowWriter:
    """Writes the rows of one runs table (columns as pages.experiment_columns gives them). Text cells are
    cached by value: params and tags repeat across runs."""

    def __init__(self, columns: dict[str, Any], *, root: str, limit: int, cell_limit: int,
                 full_limit: int) -> None:
        self.params: Sequence[str] = columns["params"]
        self.param_attrs = ["" if key in columns["varying"] else ' class="rg-const"' for key in self.params]
        self.metrics: Sequence[str] = columns["metrics"]
        self.tags: Sequence[str] = columns["tags"]
        self.root = root
        self.limit, self.cell_limit, self.full_limit = limit, cell_limit, full_limit
        self._cells: dict[tuple[str, str, int, bool], str] = {}

    def row(self, run: Any, depth: int, href: str, name: str, summaries: dict) -> Markup:
        """The `<tr>` of one run: pick box, attributes, params, metrics (the last value shown; min, max and
        best step hidden), user tags. One cell a line: the filter, which searches a row's text, must not
        match across two cells."""
        info, data = run.info, run.data
        run_id = escape(info.run_id)
        parent = run.parent_run_id
        shown_name = fmt.visible(name)
        tree = '<span class="rg-tree" aria-hidden="true">↳ </span>' if depth else ""
        status = escape(info.status)
        duration = fmt.duration(info.start_time, info.end_time)
        elapsed = (info.end_time - info.start_time) if info.start_time and info.end_time else ""
        user = fmt.visible(info.user_id)
        cells = [
            f'<tr data-run-id="{run_id}"' + (f' data-parent="{escape(parent)}"' if parent else "")
            + f' class="rg-depth-{depth}">',
            f'<td class="rg-pick-col"><input type="checkbox" class="rg-pick" value="{run_id}" '
            f'aria-label="Tick {escape(name)}"></td>',
            _td(name, f'{tree}<a href="{escape(self.root + href)}">{escape(shown_name)}</a>',
                ("↳ " if depth else "") + shown_name, ' class="rg-run-name"'),
            _td(info.status, f'<span class="rg-status rg-status-{escape(info.status.lower())}">{status}</span>',
                info.status),
            f'<td data-value="{escape(str(info.start_time or 0))}" class="rg-nowrap">'
            f"{escape(fmt.timestamp(info.start_time))}</td>",
            _td(str(elapsed), escape(duration), duration, ' class="rg-nowrap"'),
            _td(info.user_id, escape(user), user, " hidden"),
        ]
        params = data.params
        for key, attrs in zip(self.params, self.param_attrs):
            cells.append(self.cell(params.get(key), attrs, self.limit))
        latest = data.metrics
        for key in self.metrics:
            summary = summaries.get((info.run_id, key))
            last = latest.get(key)
            if last is None and summary is not None:
                last = summary.last
            cells.append(self.cell(last, ' class="rg-num"', self.cell_limit, numeric=True))
            if summary is None:
                cells.extend(_NO_SUMMARY)
                continue
            cells.append(self.cell(summary.min, ' class="rg-num" hidden', self.cell_limit, numeric=True))
            cells.append(self.cell(summary.max, ' class="rg-num" hidden', self.cell_limit, numeric=True))
            best_step = "" if summary.best_step is None else summary.best_step
            cells.append(f'<td data-value="{best_step}" class="rg-num" hidden>{best_step}</td>')
        tags = data.tags
        for key in self.tags:
            cells.append(self.cell(tags.get(key), "", self.limit))
        cells.append("</tr>")
        return Markup("\n".join(cells))

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
        shown, full = fmt.clip(text, limit), fmt.clip(text, self.full_limit)
        if full == shown:
            cell = _td(text[:self.cell_limit], escape(shown), shown, attrs, always=numeric)
        else:
            cell = _td(text[:self.cell_limit], f'<details class="rg-long"><summary>{escape(shown)}</summary>'
                       f'<div class="rg-full">{escape(full)}</div></details>', shown + full, attrs, always=numeric)
        self._cells[(text, attrs, limit, numeric)] = cell
        return cell
