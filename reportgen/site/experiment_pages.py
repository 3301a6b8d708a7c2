"""One experiment's own pages: its runs table pages (the first with its charts), the CSV and JSON exports
and the compare page. Started, then finished: a big experiment's share for a forked process (rows,
exports, later table pages, compare specs and page) is started as soon as the build knows it, and runs
while this process renders the rest of the build.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from reportgen.site.chartslots import ChartSlots, compare_histories, experiment_charts
from reportgen.site.collect import ExperimentData
from reportgen.site.exports import write_exports
from reportgen.site.memo import Memo, MemoFolder
from reportgen.site.pages import ROWS_PER_PAGE, experiment_columns, experiment_info, experiment_rows, experiment_tree
from reportgen.site.pages_run import compare_context, compare_order
from reportgen.site.parallel import start_forked
from reportgen.site.runs_rows import ROWS_SCRIPT, rows_script_bytes

if TYPE_CHECKING:
    from reportgen.site.builder import SiteBuilder

COMPARE_MAX_POINTS = 100  # the compare page carries every series of up to 50 runs


class _Turn:
    """One turn shared by two processes (this one and a child forked after it was made): whichever takes
    it first does the job it stands for. It is a byte in a pipe: one read gets it, later ones get nothing."""

    def __init__(self) -> None:
        self._fd, writer = os.pipe()
        try:
            os.write(writer, b"1")
        finally:
            os.close(writer)
        os.set_blocking(self._fd, False)

    def take(self) -> bool:
        if self._fd < 0:
            return False
        try:
            return os.read(self._fd, 1) == b"1"
        except BlockingIOError:
            return False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ExperimentPages:
    """The pages of one experiment, written by `builder`. fork: a child process makes every runs-table row,
    writes the exports and the table pages after the first, from construction on; `finish` draws the
    charts (their images come from this process's helper) and the first page. The compare specs (and the
    compare page, when the run pages' images are known) are made by whichever process is done with its
    share first; should neither have made them (a child that died), this one makes them.
    memo: chart specs and rows of the last build, for the runs that did not change. first: a job for the
    child to do before its share (the build's links of cached units), its result `first_outcome` once
    finish() is done; `carries` says whether a child took it (else it is the caller's to do)."""

    def __init__(self, builder: SiteBuilder, exp: ExperimentData, summaries: dict, *, fork: bool,
                 memo: Memo | None = None, rows_per_page: int = ROWS_PER_PAGE,
                 images: dict[str, list[dict[str, str]]] | None = None,
                 first: Callable[[], Any] | None = None) -> None:
        self.builder = builder
        self.exp = exp
        self.summaries = summaries
        self.memo = memo or Memo()
        self.images = images  # run id -> copied image artifacts, when every run page is written already
        self.compare_written = False  # the compare page (by finish, or the child: when the images are known)
        self.rows_per_page = rows_per_page
        self.columns = experiment_columns(exp)
        self.base = f"e/{exp.key}"
        self.total = len(experiment_tree(exp))
        self.page_count = max(1, -(-self.total // rows_per_page))
        self.page_links = [{"number": n + 1, "href": "index.html" if n == 0 else f"runs-{n + 1}.html"}
                           for n in range(self.page_count)]
        # Each row is made alone (the same bytes whichever process makes it): the child makes them all.
        self.turn = _Turn() if fork else None  # the compare specs and page: for the first one done
        self._first = first
        self.first_outcome: Any = None  # what first() returned, once finish() has waited for the child
        self.waiting: Callable[[], Any] | None = start_forked(builder, self._child) if fork else None
        self.carries = first is not None and self.waiting is not None  # the child does first() before its share
        if self.waiting is None and self.turn is not None:
            self.turn.close()
            self.turn = None

    def _child(self) -> dict[str, Any]:
        done: dict[str, Any] = {"first": self._first() if self._first is not None else None, "compare": None}
        self._rest(*self._all_rows())
        if self.turn is None or not self.turn.take():
            return done  # this process (the parent) took the compare page
        done["compare"] = compare = self._compare_and_page()
        if isinstance(self.memo.old, MemoFolder):
            self.memo.old.put(compare["entries"])
        return done

    def _compare_and_page(self) -> dict[str, Any]:
        """The compare specs, and the compare page when the run pages' images are known ("page": True)."""
        compare = self._compare()
        if self.images is not None:
            self.compare_page(self.images, compare["histories"])
            compare["page"] = True
        return compare

    def compare_page(self, images: dict[str, list[dict[str, str]]], histories: dict) -> None:
        """The compare page: every run's params, metrics, tags and copied images, and the history specs."""
        exp = self.exp
        compare = compare_context(exp, images)
        compare["data"]["histories"] = histories
        self.builder.render("compare.html", f"e/{exp.key}/compare.html",
                            {"page_title": f"Compare runs: {exp.experiment.name}", **compare})

    def _all_rows(self) -> tuple[list[Any], Memo | None, dict[str, Any]]:
        """Every row, those of unchanged runs from the memo: (rows, the memo of rows and export lines, what
        it held before), for _rest."""
        memo, folder = self.memo, self.memo.old
        if not isinstance(folder, MemoFolder):
            rows = experiment_rows(self.exp, self.summaries, self.columns, memo=memo if memo.active else None)
            return rows, None, {}
        old = folder.rows()
        rows_memo = Memo(memo.build_key, memo.run_keys, old, remembers=bool(old))
        rows = experiment_rows(self.exp, self.summaries, self.columns, memo=rows_memo)
        return rows, rows_memo, old

    def _compare(self) -> dict[str, Any]:
        """The compare page's history specs, and what the memo got for them (key -> specs)."""
        memo = self.memo
        before = set(memo.new)
        histories = compare_histories(self.exp, compare_order(self.exp), max_points=COMPARE_MAX_POINTS, memo=memo)
        return {"histories": histories, "entries": {key: memo.new[key] for key in memo.new.keys() - before}}

    def _first_page_rows(self) -> list[Any]:
        """The first page's rows, those of unchanged runs from the memo."""
        memo, folder = self.memo, self.memo.old
        wanted = slice(0, self.rows_per_page)
        if not isinstance(folder, MemoFolder):
            return experiment_rows(self.exp, self.summaries, self.columns, rows=wanted,
                                   memo=memo if memo.active else None)
        old = folder.rows(first_page=True)
        rows_memo = Memo(memo.build_key, memo.run_keys, old, remembers=bool(old))
        return experiment_rows(self.exp, self.summaries, self.columns, rows=wanted, memo=rows_memo)

    def _table_page(self, number: int, rows: list[Any], charts: list[dict[str, Any]]) -> None:
        exp, size = self.exp, self.rows_per_page
        context = {
            "page_title": exp.experiment.name, "experiment": experiment_info(exp), "columns": self.columns,
            "rows": rows[(number - 1) * size:number * size], "page_number": number,
            "page_links": self.page_links, "total_runs": self.total, "charts": charts,
        }
        self.builder.render("experiment.html", f"{self.base}/{self.page_links[number - 1]['href']}", context)

    def _rest(self, rows: list[Any], memo: Memo | None = None, old: dict[str, Any] | None = None) -> None:
        """The exports and the table pages after the first; then the memo of rows and export lines (of
        _all_rows) is kept for the next build."""
        out = self.builder.out / self.base
        first_page = list(memo.new)[:self.rows_per_page] if memo is not None else []  # the rows' keys come first
        write_exports(out, self.exp, self.columns, memo)
        for number in range(2, self.page_count + 1):
            self._table_page(number, rows, [])
        if self.page_count > 1:  # every row, for the table script to sort and filter across the pages
            (out / ROWS_SCRIPT).write_bytes(rows_script_bytes(rows, page_size=self.rows_per_page))
        if memo is not None and isinstance(self.memo.old, MemoFolder):
            self.memo.old.keep_rows(memo.new, old or {}, first_page)

    def finish(self) -> tuple[int, dict]:
        """Writes the rest (this process's share); returns how many table pages there are and the compare
        page's history specs."""
        builder, exp, memo = self.builder, self.exp, self.memo
        # Forked, the child makes every row and this process the first page's; else all here.
        rows_memo, old = None, None
        if self.waiting is not None:
            rows = self._first_page_rows()
        else:
            rows, rows_memo, old = self._all_rows()
        slots = ChartSlots("chart", out_dir=builder.out,
                           image_dir=f"{self.base}/charts" if builder.static_charts else None,
                           root="../../", warn=builder.warn)
        experiment_charts(exp, slots, max_points=builder.max_points, memo=memo)
        slots.start_images(builder.images)  # drawn by the image helper while the rest is written
        if self.waiting is None:
            self._rest(rows, rows_memo, old)
        slots.finish_images()
        self._table_page(1, rows, slots.items)
        compare = None
        if self.waiting is not None:
            try:
                if self.turn is not None and self.turn.take():  # done first: the compare is this process's
                    compare = self._compare_and_page()
                done = self.waiting()
                self.first_outcome = done["first"]
                compare = done["compare"] or compare  # (the child's, when it took the turn)
            finally:
                if self.turn is not None:
                    self.turn.close()
        if compare is None:  # not forked, or the child died after taking the turn
            compare = self._compare()
        self.compare_written = bool(compare.get("page"))
        memo.new.update(compare["entries"])
        histories = compare["histories"]
        builder.report("Rendering pages", 1, None)
        return self.page_count, histories
