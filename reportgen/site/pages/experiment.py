"""One experiment's own pages: its runs table pages (heading, columns, rows; the first page with its
charts), the CSV and JSON exports and the compare page.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from markupsafe import Markup

from reportgen.site.gather import ExperimentData
from reportgen.site.markdown_html import render_markdown
from reportgen.site.pages.chart_slots import ChartSlots, compare_histories, experiment_charts
from reportgen.site.pages.common import (
    MAX_CELL_CHARS, MAX_VALUE_CHARS, ROWS_PER_PAGE, RUNS_TABLE_CELL_CHARS, SYSTEM_TAG_PREFIX, exp_href,
    experiment_tree, experiment_varying, key_metrics, run_href, run_label, value_cell,
)
from reportgen.site.pages.compare import compare_context, compare_order
from reportgen.site.pages.exports import write_exports
from reportgen.site.pages.models import models_table, run_model_names, write_model_files
from reportgen.site.pages.image_steps import GRID_RUNS, image_grid
from reportgen.site.pages.runs_table import ROWS_SCRIPT, RowWriter, rows_script_bytes


def experiment_columns(exp: ExperimentData) -> dict[str, Any]:
    varying, constant = experiment_varying(exp)
    user_tags = sorted({key for run in exp.runs for key in run.data.tags if not key.startswith(SYSTEM_TAG_PREFIX)})
    first = {key: next((run.data.params[key] for run in exp.runs if key in run.data.params), None) for key in constant}
    return {"params": varying + constant, "varying": set(varying), "constant": constant,
            "constant_values": [{"key": key, **value_cell(first[key])} for key in constant],
            "metrics": key_metrics(exp), "tags": user_tags, "models": run_model_names(exp)}


def experiment_rows(exp: ExperimentData, summaries: dict, columns: dict[str, Any], *,
                    root: str = "../../", rows: slice = slice(None)) -> list[Markup]:
    """The runs table's body rows, parents before their children, as HTML (one `<tr>` each; see
    runs_rows). root: the way from the experiment pages (e/KEY/) back to the site root. rows: which of
    them (each row is made alone: slice(0, ROWS_PER_PAGE) is the first page's, byte for byte)."""
    writer = RowWriter(columns, root=root, limit=RUNS_TABLE_CELL_CHARS, cell_limit=MAX_CELL_CHARS,
                       full_limit=MAX_VALUE_CHARS)
    items = [(run, depth, run_href(exp, run.info.run_id), run_label(run))
             for run, depth in experiment_tree(exp)[rows]]
    return writer.rows(items, summaries)


def experiment_info(exp: ExperimentData) -> dict[str, Any]:
    """The experiment's heading on its table pages: name, id, link, store, description, user tags."""
    description = exp.experiment.description
    return {
        "name": exp.experiment.name, "id": exp.experiment.experiment_id, "href": exp_href(exp),
        "store": exp.store_label, "description": render_markdown(description) if description else None,
        "tags": [{"key": k, **value_cell(v)} for k, v in sorted(exp.experiment.tags.items())
                 if not k.startswith(SYSTEM_TAG_PREFIX)],
    }


class PageWriter(Protocol):
    """What the pages need of the build (reportgen.site.builder.SiteBuilder): where and how to write."""

    out: Path
    max_points: int
    static_charts: bool
    images: Any
    phase: str  # what the progress bar says while the experiment is built

    def render(self, template: str, path: str, context: dict[str, Any]) -> None: ...

    def report(self, phase: str, advance: int = 1, total: int | None = None) -> None: ...

    def warn(self, path: str, message: str) -> None: ...

COMPARE_MAX_POINTS = 100  # the compare page carries every series of up to 50 runs


class ExperimentPages:
    """The pages of one experiment, written by `builder`: every runs-table row, the exports, the table pages
    (the first with its charts) and, once the run pages are written, the compare page (it shows the
    images they copied)."""

    def __init__(self, builder: PageWriter, exp: ExperimentData, summaries: dict, *,
                 rows_per_page: int = ROWS_PER_PAGE) -> None:
        self.builder = builder
        self.exp = exp
        self.summaries = summaries
        self.rows_per_page = rows_per_page
        self.columns = experiment_columns(exp)
        self.base = f"e/{exp.key}"
        self.total = len(experiment_tree(exp))
        self.page_count = max(1, -(-self.total // rows_per_page))
        self.page_links = [{"number": n + 1, "href": "index.html" if n == 0 else f"runs-{n + 1}.html"}
                           for n in range(self.page_count)]

    def compare_page(self, images: dict[str, list[dict[str, str]]], histories: dict) -> None:
        """The compare page: every run's params, metrics, tags and copied images, and the history specs."""
        exp = self.exp
        compare = compare_context(exp, images)
        compare["data"]["histories"] = histories
        self.builder.render("compare.html", f"e/{exp.key}/compare.html",
                            {"page_title": f"Compare runs: {exp.experiment.name}", **compare})

    def _table_page(self, number: int, rows: list[Any], charts: list[dict[str, Any]]) -> None:
        exp, size = self.exp, self.rows_per_page
        context = {
            "page_title": exp.experiment.name, "experiment": experiment_info(exp), "columns": self.columns,
            "rows": rows[(number - 1) * size:number * size], "page_number": number,
            "page_links": self.page_links, "total_runs": self.total, "charts": charts,
            "models": models_table(self.exp) if number == 1 else [],
            "image_grid": image_grid(exp, compare_order(exp), "../../", limit=GRID_RUNS, with_data=True)
            if number == 1 else None,
        }
        self.builder.render("experiment.html", f"{self.base}/{self.page_links[number - 1]['href']}", context)

    def _rest(self, rows: list[Any]) -> None:
        """The exports and the table pages after the first."""
        out = self.builder.out / self.base
        write_exports(out, self.exp, self.columns)
        write_model_files(self.exp, self.builder.out, self.builder.warn)  # under e/<key>/models/: this unit's
        for number in range(2, self.page_count + 1):
            self._table_page(number, rows, [])
        if self.page_count > 1:  # every row, for the table script to sort and filter across the pages
            (out / ROWS_SCRIPT).write_bytes(rows_script_bytes(rows, page_size=self.rows_per_page))

    def finish(self) -> tuple[int, dict]:
        """Writes the table pages and exports; returns how many table pages there are and the compare
        page's history specs."""
        builder, exp = self.builder, self.exp
        rows = experiment_rows(exp, self.summaries, self.columns)
        slots = ChartSlots("chart", out_dir=builder.out,
                           image_dir=f"{self.base}/charts" if builder.static_charts else None,
                           root="../../", warn=builder.warn)
        experiment_charts(exp, slots, max_points=builder.max_points)
        slots.start_images(builder.images)  # drawn by the image helper while the rest is written
        self._rest(rows)
        slots.finish_images()
        self._table_page(1, rows, slots.items)
        histories = compare_histories(exp, compare_order(exp), max_points=COMPARE_MAX_POINTS)
        builder.report(builder.phase, 1, None)
        return self.page_count, histories
