"""One experiment's own pages: its runs table pages (the first with its charts), the CSV and JSON exports
and the compare page.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from reportgen.site.chartslots import ChartSlots, compare_histories, experiment_charts
from reportgen.site.collect import ExperimentData
from reportgen.site.exports import write_exports
from reportgen.site.pages import ROWS_PER_PAGE, experiment_columns, experiment_info, experiment_rows, experiment_tree
from reportgen.site.pages_run import compare_context, compare_order
from reportgen.site.runs_rows import ROWS_SCRIPT, rows_script_bytes



class PageWriter(Protocol):
    """What the pages need of the build (reportgen.site.builder.SiteBuilder): where and how to write."""

    out: Path
    max_points: int
    static_charts: bool
    images: Any

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
        }
        self.builder.render("experiment.html", f"{self.base}/{self.page_links[number - 1]['href']}", context)

    def _rest(self, rows: list[Any]) -> None:
        """The exports and the table pages after the first."""
        out = self.builder.out / self.base
        write_exports(out, self.exp, self.columns)
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
        builder.report("Rendering pages", 1, None)
        return self.page_count, histories
