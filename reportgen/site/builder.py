"""The builder of one site: plans each experiment against the build cache, renders run pages (in worker
processes for big builds), experiment pages, the compare, index and problems pages into a staging folder.
`build.build_site` gathers the data and swaps the folder in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from reportgen import __version__
from reportgen.errors import ReportgenError
from reportgen.model import Problem
from reportgen.site.artifacts import Budget, RunArtifacts, image_artifacts, size_limit_reached
from reportgen.site.cache import SiteCache
from reportgen.site.chartslots import ChartSlots, run_charts
from reportgen.site.collect import ExperimentData, SiteData
from reportgen.site.experiment_pages import ExperimentPages
from reportgen.site.incremental import (
    Summaries, UnitKeys, problems_in, problems_out, summaries_out, unit_keys,
)
from reportgen.site.memo import Memo, MemoFolder
from reportgen.site.pages import ROWS_PER_PAGE, index_context, problems_context, run_label
from reportgen.site.pages_run import children_of, run_context
from reportgen.site.parallel import capped_workers, default_workers, render_runs
from reportgen.site.render import Renderer
from reportgen.site.runspecs import RunHistorySpecs, split_history
from reportgen.site.summary import MetricSummary, summarize
from reportgen.site.static_images import ImageMaker
from reportgen.site.theme import Theme

RUN_PAGE_MAX_POINTS = 200  # run pages are many; their charts get a smaller point budget


class Progress:
    """Calls the optional progress callback: (phase, advance, total)."""

    def __init__(self, callback: Callable[[str, int, int | None], None] | None) -> None:
        self.callback = callback

    def __call__(self, phase: str, advance: int = 1, total: int | None = None) -> None:
        if self.callback is not None:
            self.callback(phase, advance, total)


class SiteBuilder:
    """Renders every page of one site into `out`; collects the build's own warnings."""

    def __init__(self, site: SiteData, out: Path, theme: Theme, *, title: str, max_points: int,
                 artifacts: bool, budget: Budget, strict: bool, static_charts: bool, report: Progress,
                 workers: int | None = None, images: ImageMaker | None = None,
                 bytecode_dir: Path | None = None) -> None:
        self.site = site
        self.out = out
        self.theme = theme
        self.renderer = Renderer(theme, out, site_title=title, generator=f"reportgen {__version__}",
                                 bytecode_dir=bytecode_dir)
        self.max_points = max_points
        self.artifacts = artifacts
        self.budget = budget
        self.strict = strict
        self.static_charts = static_charts
        self.report = report
        self.problems: list[Problem] = []  # the build's own; the stores' are added at the end
        self.extra_store_problems: list[Problem] = []  # what the stores' copies in worker processes met
        self.pages = 0
        self.workers = workers
        self.images = images
        self.cache: SiteCache | None = None
        self.build_key = ""
        self._linked_folders: set[str] = set()  # site folders made while linking cached units
        self.budget_hit = False

    def warn(self, path: str, message: str) -> None:
        if self.strict:
            raise ReportgenError(f"{path}: {message}")
        self.problems.append(Problem(path=path, message=message))

    def render(self, template: str, path: str, context: dict[str, Any]) -> None:
        self.renderer.page(template, path, context)
        self.pages += 1

    def build(self) -> None:
        # GitHub Pages runs Jekyll on a site unless told not to (it would drop _-prefixed files).
        (self.out / ".nojekyll").write_bytes(b"")
        self.renderer.copy_static()
        self.renderer.write_vendor_assets()
        total_runs = self.site.run_count
        self.report("Rendering pages", 0, total_runs + len(self.site.experiments))
        # Chart templates of run pages: one dict for every experiment's, kept by the cache for the next build.
        self.run_chart_templates = self.cache.run_chart_templates(self.build_key) if self.cache is not None else {}
        self.templates_known = len(self.run_chart_templates)
        plans = [self._plan(exp) for exp in self.site.experiments]
        jobs = [(plan, run) for plan in plans for run in plan.pending]
        workers = capped_workers(self.workers if self.workers is not None else default_workers(len(jobs)), len(jobs))
        remaining = self.budget.remaining

        def experiment_pages() -> None:
            # This process's share while worker processes render the run pages (after them when serial).
            for plan in plans:
                self._experiment_pages(plan)

        rendered = render_runs(self, jobs, lambda job: self._run_page(*job), workers=workers,
                               progress=lambda done: self.report("Rendering pages", done, None),
                               meanwhile=experiment_pages)
        if workers > 1:  # copies made in worker processes count here too (in this process they already did)
            self.budget.remaining = remaining - sum(side["bytes"] for side in rendered)
        for (plan, run), side in zip(jobs, rendered):
            plan.rendered[run.info.run_id] = side
            self.budget_hit = self.budget_hit or side["budget_hit"]
        if self.cache is not None and len(self.run_chart_templates) > self.templates_known:
            self.cache.keep_run_chart_templates(self.build_key, self.run_chart_templates)
        for plan in plans:
            self._finish(plan)
        self.render("index.html", "index.html", {"page_title": "Experiments", **index_context(self.site)})
        # Last: every warning of the build is known by now (stores record artifact problems while we copy).
        # Sorted, so that the page does not depend on how run pages were shared between processes.
        found = [p for store in self.site.stores for p in getattr(store, "problems", [])] + self.extra_store_problems
        redacted = map(self.site.redactor.problem, found + self.problems)
        self.problems = sorted(redacted, key=lambda p: (p.path, p.message))
        self.render("problems.html", "problems.html", {"page_title": "Problems", **problems_context(self.problems)})

    def _plan(self, exp: ExperimentData) -> "Plan":
        """What of the experiment must be rendered (what the cache had is linked in already), and the
        summaries and series the run pages to render need."""
        children = children_of(exp)
        keys = unit_keys(exp, self.build_key, children, artifacts=self.artifacts, contents=self.cache.contents,
                         learned=self.cache.learned) if self.cache else None
        sides = self._restore_runs(exp, keys) if keys else {}
        side = self._restore(keys.experiment, f"e/{exp.key}") if keys is not None else None
        pages_done = side is not None
        if side is not None and self.images is not None:
            self.images.used.update(side.get("images", ()))  # kept in the cache while this unit is
        pending = [run for run in exp.runs if run.info.run_id not in sides]
        plan = Plan(exp=exp, keys=keys, sides=sides, pages_done=pages_done, pending=pending, children=children)
        self.report("Rendering pages", len(sides) + (1 if pages_done else 0), None)
        if pages_done and not pending:
            return plan
        # Summaries and series of the runs to render; the cached runs brought theirs along.
        history = exp.history_rows([run.info.run_id for run in pending]) if sides else exp.history
        cache = self.cache
        plan.summaries = Summaries(summarize(history), {run_id: keys.runs[run_id] for run_id in sides},
                                   lambda key: cache.aside(key).get("summaries"),
                                   lambda run_id: summarize(exp.history_rows([run_id])))
        plan.by_run = split_history(history)
        plan.specs = RunHistorySpecs(max_points=min(self.max_points, RUN_PAGE_MAX_POINTS),
                                     templates=self.run_chart_templates)
        plan.names = {run.info.run_id: run_label(run) for run in exp.runs}
        return plan

    def _run_page(self, plan: "Plan", run: Any) -> dict[str, Any]:
        return self.run_page(plan.exp, run, plan.summaries, plan.by_run.get(run.info.run_id), plan.specs,
                             plan.children, plan.names)

    def _experiment_pages(self, plan: "Plan") -> None:
        if plan.pages_done:
            return
        before = len(self.problems)
        pages = ExperimentPages(self, plan.exp, plan.summaries, memo=self._memo(plan), rows_per_page=ROWS_PER_PAGE)
        if self.images is None:
            plan.table_pages, plan.histories = pages.finish()
        else:  # the static images these pages use, for the cache to keep while the unit is reused
            images, self.images.used = self.images.used, set()
            try:
                plan.table_pages, plan.histories = pages.finish()
            finally:
                plan.image_names, self.images.used = sorted(self.images.used), images | self.images.used
        plan.page_problems = self.problems[before:]
        plan.pages = pages
        if isinstance(pages.memo.old, MemoFolder):
            pages.memo.old.keep(pages.memo.new)

    def _memo(self, plan: "Plan") -> Memo:
        """What the last build that rendered this experiment's pages remembered of them (charts, rows)."""
        if self.cache is None or plan.keys is None:
            return Memo()
        folder = MemoFolder(self.cache.memo_path(f"e/{plan.exp.key}"), self.build_key)
        return Memo(self.build_key, plan.keys.runs, folder, remembers=folder.remembers)

    def _finish(self, plan: "Plan") -> None:
        """After the run pages: the compare page (it shows the images their artifacts copied), and what
        was rendered goes into the cache."""
        exp, keys = plan.exp, plan.keys
        if keys is not None:
            for run in plan.pending:
                run_id = run.info.run_id
                folder = f"r/{exp.run_keys[run_id]}"  # its copied artifacts, if any; the page beside it
                side = dict(plan.rendered[run_id])
                self.cache.store(keys.runs[run_id], folder, self.out, side, pages=[f"{folder}.html"],
                                 aside={"summaries": side.pop("summaries")})
        if plan.pages_done:
            return
        assert plan.pages is not None
        plan.pages.compare_page(self._images(plan), plan.histories)
        if keys is not None:
            self.cache.store(keys.experiment, f"e/{exp.key}", self.out,
                             {"pages": plan.table_pages + 1, "problems": problems_out(plan.page_problems),
                              "store_problems": [], "budget_hit": False, "images": plan.image_names})

    @staticmethod
    def _images(plan: "Plan") -> dict[str, list[dict[str, str]]]:
        """Run id -> the image artifacts its page copied (for the compare page)."""
        return {run.info.run_id: (plan.sides.get(run.info.run_id) or plan.rendered[run.info.run_id])["images"]
                for run in plan.exp.runs}

    def _restore(self, key: str, folder: str) -> dict[str, Any] | None:
        """A cached unit linked into the site, its problems and pages counted as if rendered; None when
        it is not cached (or cannot be linked: then it is rendered)."""
        assert self.cache is not None
        side = self.cache.claim(key, folder)
        if side is None:
            return None
        try:
            self.cache.link(key, self.out, self._linked_folders)
        except OSError as exc:  # the cache went away or the disk is full: this unit is rendered instead
            self.cache.release(key, self.out)
            self.cache.warnings.append(f"{folder}: cached pages could not be linked ({exc.strerror or exc}); "
                                       "rendered instead")
            return None
        for problem in problems_in(side["problems"]):
            self.warn(problem.path, problem.message)
        self.extra_store_problems.extend(problems_in(side["store_problems"]))
        self.pages += side["pages"]
        self.budget_hit = self.budget_hit or side["budget_hit"]
        return side

    def _restore_runs(self, exp: ExperimentData, keys: UnitKeys) -> dict[str, dict[str, Any]]:
        sides = {}
        for run in exp.runs:
            run_id = run.info.run_id
            side = self._restore(keys.runs[run_id], f"r/{exp.run_keys[run_id]}")
            if side is not None:
                sides[run_id] = side
                # What a full build's copies would have taken from the site size budget.
                self.budget.remaining -= side["bytes"]
        return sides

    def run_page(self, exp, run, summaries, history_part, specs: RunHistorySpecs, children,
                 names) -> dict[str, Any]:
        """Writes the run's page; returns what the build keeps of it: the copied image artifacts (path,
        href) for the compare page, and for the cache its warnings, copied bytes and metric summaries."""
        # Run pages get no static chart images (0.1 s each, thousands of pages): their metrics table
        # holds the numbers when JavaScript is off.
        run_id = run.info.run_id
        run_dir = f"r/{exp.run_keys[run_id]}"
        problems_before = len(self.problems)
        store_before = len(getattr(exp.store, "problems", []))
        context = run_context(exp, run, summaries, children, names)
        slots = ChartSlots("chart", out_dir=None, image_dir=None, root="../../", warn=self.warn)
        if history_part:
            run_charts(run, history_part, slots, specs)
        tree = []
        copied = 0
        if self.artifacts:
            walker = RunArtifacts(exp.store, run_id, out_dir=self.out, run_dir=run_dir,
                                  budget=self.budget, warn=self.warn)
            tree = walker.walk()
            copied = walker.copied_bytes
        context.update({"page_title": context["run"]["name"], "charts": slots.items, "artifacts": tree,
                        "artifacts_enabled": self.artifacts})
        self.render("run.html", f"{run_dir}.html", context)
        problems = self.problems[problems_before:]
        return {
            "images": image_artifacts(tree), "pages": 1, "bytes": copied,
            "problems": problems_out(problems),
            "store_problems": problems_out(getattr(exp.store, "problems", [])[store_before:]),
            "budget_hit": any("site size limit" in p.message for p in problems) or size_limit_reached(tree),
            "summaries": summaries_out(summaries, run_id, set(run.data.metrics) | set(history_part or ())),
        }


@dataclass
class Plan:
    """One experiment's share of a build."""

    exp: ExperimentData
    keys: UnitKeys | None
    sides: dict[str, dict[str, Any]]  # run_id -> side data of run pages linked from the cache
    pages_done: bool  # the experiment's own folder came from the cache
    pending: list[Any]  # runs whose pages are to be rendered
    children: dict[str, list[Any]]
    summaries: dict[tuple[str, str], MetricSummary] = field(default_factory=dict)
    by_run: dict[str, dict] = field(default_factory=dict)
    specs: RunHistorySpecs | None = None
    names: dict[str, str] = field(default_factory=dict)
    histories: dict[str, dict] = field(default_factory=dict)
    page_problems: list[Problem] = field(default_factory=list)
    table_pages: int = 0
    pages: ExperimentPages | None = None  # its own pages, started
    image_names: list[str] = field(default_factory=list)  # static images (cache names) of its pages
    rendered: dict[str, dict[str, Any]] = field(default_factory=dict)
