"""The builder of one site: plans each experiment against the build cache, copies the run's artifacts the
gather planned and renders the run pages (in a pool of worker processes for big builds), then the
experiment pages, the compare, index and problems pages, into a staging folder. `build.build_site`
gathers the data and swaps the folder in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from reportgen import __version__
from reportgen.chartdata import split_history
from reportgen.errors import ReportgenError
from reportgen.model import Problem
from reportgen.site.artifacts.copy import copied_paths, safe_file_name, write_artifacts
from reportgen.site.artifacts.plan import compare_images
from reportgen.site.gather import ExperimentData, SiteData
from reportgen.site.incremental.cache import Digest, SiteCache
from reportgen.site.incremental.keys import (
    Summaries, UnitKeys, problems_in, problems_out, summaries_out, unit_keys,
)
from reportgen.site.memory import return_free_memory
from reportgen.site.pages.chart_slots import ChartSlots, run_charts
from reportgen.site.pages.common import ROWS_PER_PAGE, run_label
from reportgen.site.pages.experiment import ExperimentPages
from reportgen.site.pages.index import index_context, index_item
from reportgen.site.pages.problems import problems_context
from reportgen.site.pages.run import children_of, run_context
from reportgen.site.parallel import RunPagePool, capped_workers, default_workers
from reportgen.site.render import Renderer
from reportgen.site.static_images import ImageMaker
from reportgen.site.summary import MetricSummary, summarize
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
                 artifacts: bool, strict: bool, static_charts: bool, report: Progress,
                 workers: int | None = None, images: ImageMaker | None = None,
                 bytecode_dir: Path | None = None) -> None:
        self.site = site
        self.out = out
        self.theme = theme
        self.renderer = Renderer(theme, out, site_title=title, generator=f"reportgen {__version__}",
                                 bytecode_dir=bytecode_dir)
        self.max_points = max_points
        self.artifacts = artifacts
        self.strict = strict
        self.static_charts = static_charts
        self.report = report
        self.problems: list[Problem] = []  # the build's own; the gather's and the stores' are added at the end
        self.cached_store_problems: list[Problem] = []  # what the stores met copying the cached units' artifacts
        self.pages = 0
        self.workers = workers
        self.images = images
        self._jobs: list[tuple[Plan, Any]] = []  # the run pages to render: (its experiment's plan, run)
        self.cache: SiteCache | None = None
        self.build_key = ""
        self._linked_folders: set[str] = set()  # site folders made while linking cached units
        self.phase = "Rendering pages"  # what the progress bar says

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
        # The experiments' runs are read as each is built: the progress counts pages and names the
        # experiment (the total of pages is known only at the end).
        items = []
        for number, exp in enumerate(self.site.experiments, 1):
            self.phase = f"Experiment {number} of {len(self.site.experiments)}: pages"
            self.report(self.phase, 0, None)
            # One experiment at a time: its frames, summaries and series are dropped before the next is
            # read, and the pool forked for it holds only it; the index keeps a small summary of it.
            self.site.load(exp)
            return_free_memory()  # the read's temporaries, before the plan makes its own
            plan = self._plan(exp)
            self._render(plan)
            self._keep(plan)
            items.append(index_item(exp))
            self._jobs = []
            exp.release()
            del plan
            return_free_memory()  # else the next read starts from this experiment's resident heap
        self.render("index.html", "index.html", {"page_title": "Experiments", **index_context(self.site, items)})
        # Last: every warning of the build is known by now. Sorted: the page does not depend on the order
        # in which the pages were rendered.
        found = [p for store in self.site.stores for p in getattr(store, "problems", [])]
        found += self.site.problems + self.cached_store_problems + self.problems
        self.problems = sorted(map(self.site.redactor.problem, found), key=lambda p: (p.path, p.message))
        self.render("problems.html", "problems.html", {"page_title": "Problems", **problems_context(self.problems)})

    def _render(self, plan: "Plan") -> None:
        """The experiment's run pages (in a pool of workers forked for it when it is big) and its own pages."""
        jobs = self._jobs = [(plan, run) for run in plan.pending]
        workers = capped_workers(self.workers if self.workers is not None else default_workers(len(jobs)), len(jobs))
        if workers > 1:
            return_free_memory()  # the read's and the plan's freed temporaries, before the pool forks
        with RunPagePool(self._run_page, workers) as pool:
            # This process copies each run's artifacts (the store is read here only) and the pool renders
            # its page; then this process writes the experiment's pages while the pool finishes.
            for index, (_, run) in enumerate(jobs):
                tree, plan.written[run.info.run_id] = self._write_artifacts(plan.exp, run)
                pool.submit(index, tree)
            self._experiment_pages(plan)
            return_free_memory()  # the experiment pages' temporaries: the pool renders on a while yet
            for (_, run), side in zip(jobs, pool.results()):
                written = plan.written[run.info.run_id]
                # The cache replays the copy's warnings and the page's when it reuses the unit.
                written.update(side, pages=1, problems=written.pop("copy_problems") + side["problems"])
                self.problems.extend(problems_in(side["problems"]))
                self.pages += 1
                self._keep_run(plan, run)  # while the pool renders the pages after it
                self.report(self.phase, 1, None)

    def _plan(self, exp: ExperimentData) -> "Plan":
        """What of the experiment must be rendered (what the cache had is linked in already), and the
        summaries and series the run pages to render need."""
        children = children_of(exp)
        # Of the environment's secrets, the key holds those the runs read so far held: a CI job's token
        # changes every job (else no page would be reused), but a page that showed a value which is now
        # a secret must be rendered again, redacted.
        build_key = Digest(self.build_key, self.site.redactor.found_fingerprint()).hex()
        keys = unit_keys(exp, build_key, children, artifacts=self.artifacts) if self.cache else None
        sides = self._restore_runs(exp, keys) if keys else {}
        side = self._restore(keys.experiment, f"e/{exp.key}") if keys is not None else None
        pages_done = side is not None
        if side is not None and self.images is not None:
            self.images.used.update(side.get("images", ()))  # kept in the cache while this unit is
        pending = [run for run in exp.runs if run.info.run_id not in sides]
        plan = Plan(exp=exp, keys=keys, sides=sides, pages_done=pages_done, pending=pending, children=children)
        self.report(self.phase, len(sides) + (1 if pages_done else 0), None)
        if pages_done and not pending:
            return plan
        # Summaries and series of the runs to render; the cached runs brought theirs along.
        history = exp.history_rows([run.info.run_id for run in pending]) if sides else exp.history
        cached = {run_id: side.get("summaries") for run_id, side in sides.items()}
        plan.summaries = Summaries(summarize(history), cached, lambda run_id: summarize(exp.history_rows([run_id])))
        plan.by_run = split_history(history)
        plan.names = {run.info.run_id: run_label(run) for run in exp.runs}
        return plan

    def _write_artifacts(self, exp: ExperimentData, run: Any) -> tuple[list[Any], dict[str, Any]]:
        """Copies the run's planned artifacts: the tree its page shows, and for the cache the paths whose
        copy failed, the build's warnings about them and the problems the store met."""
        run_id = run.info.run_id
        planned = exp.artifacts.get(run_id, [])
        before, store_before = len(self.problems), len(getattr(exp.store, "problems", []))
        tree = write_artifacts(exp.store, run_id, planned, out_dir=self.out, run_dir=f"r/{exp.run_keys[run_id]}",
                               warn=self.warn)
        copied = copied_paths(tree)
        return tree, {"not_copied": [item.path for item in planned if item.copy and item.path not in copied],
                      "copy_problems": problems_out(self.problems[before:]),
                      "store_problems": problems_out(getattr(exp.store, "problems", [])[store_before:])}

    def _run_page(self, index: int, tree: list[Any]) -> dict[str, Any]:
        plan, run = self._jobs[index]
        return self.run_page(plan.exp, run, plan.summaries, plan.by_run.get(run.info.run_id), plan.children,
                             plan.names, tree)

    def _experiment_pages(self, plan: "Plan") -> None:
        """The experiment's table pages, exports and compare page (after its runs' artifacts are copied:
        it shows their images)."""
        if plan.pages_done:
            return
        before = len(self.problems)
        pages = ExperimentPages(self, plan.exp, plan.summaries, rows_per_page=ROWS_PER_PAGE)
        if self.images is None:
            plan.table_pages, histories = pages.finish()
        else:  # the static images these pages use, for the cache to keep while the unit is reused
            images, self.images.used = self.images.used, set()
            try:
                plan.table_pages, histories = pages.finish()
            finally:
                plan.image_names, self.images.used = sorted(self.images.used), images | self.images.used
        pages.compare_page(self._images(plan), histories)
        plan.page_problems = self.problems[before:]

    def _images(self, plan: "Plan") -> dict[str, list[dict[str, str]]]:
        """Run id -> the image artifacts the compare page shows (path, href relative to the site root)."""
        exp = plan.exp
        images = {}
        for run in exp.runs:
            run_id = run.info.run_id
            failed = set((plan.sides.get(run_id) or plan.written[run_id])["not_copied"])
            folder = f"r/{exp.run_keys[run_id]}/files"
            images[run_id] = [{"path": path, "href": f"{folder}/{safe_file_name(path)}"}
                              for path in compare_images(exp.artifacts.get(run_id, [])) if path not in failed]
        return images

    def _keep_run(self, plan: "Plan", run: Any) -> None:
        """A rendered run page goes into the cache, with its folder of copied artifacts (if any)."""
        if plan.keys is not None:
            run_id = run.info.run_id
            folder = f"r/{plan.exp.run_keys[run_id]}"
            # Its folder holds the artifacts copied and their thumbnails: none planned, no folder.
            self.cache.store(plan.keys.runs[run_id], folder, self.out, plan.written[run_id], pages=[f"{folder}.html"],
                             in_folder=bool(plan.exp.artifacts.get(run_id)))

    def _keep(self, plan: "Plan") -> None:
        """The experiment's rendered pages go into the cache."""
        exp, keys = plan.exp, plan.keys
        if keys is not None and not plan.pages_done:
            self.cache.store(keys.experiment, f"e/{exp.key}", self.out,
                             {"pages": plan.table_pages + 1, "problems": problems_out(plan.page_problems),
                              "store_problems": [], "images": plan.image_names})

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
        self.cached_store_problems.extend(problems_in(side["store_problems"]))
        self.pages += side["pages"]
        return side

    def _restore_runs(self, exp: ExperimentData, keys: UnitKeys) -> dict[str, dict[str, Any]]:
        sides = {}
        for run in exp.runs:
            run_id = run.info.run_id
            side = self._restore(keys.runs[run_id], f"r/{exp.run_keys[run_id]}")
            if side is not None:
                sides[run_id] = side
        return sides

    def run_page(self, exp, run, summaries, history_part, children, names,
                 artifacts: list[Any]) -> dict[str, Any]:
        """Writes the run's page (its artifacts are copied already: `artifacts` is their tree); returns
        what the build keeps of it: its warnings and, for the cache, its metric summaries. May run in a
        worker process: it reads no store and counts nothing of the builder's."""
        # Run pages get no static chart images (0.1 s each, thousands of pages): their metrics table
        # holds the numbers when JavaScript is off.
        run_id = run.info.run_id
        problems_before = len(self.problems)
        context = run_context(exp, run, summaries, children, names, warn=self.warn)
        slots = ChartSlots("chart", out_dir=None, image_dir=None, root="../../", warn=self.warn)
        if history_part:
            run_charts(run, history_part, slots, min(self.max_points, RUN_PAGE_MAX_POINTS))
        context.update({"page_title": context["run"]["name"], "charts": slots.items, "artifacts": artifacts,
                        "artifacts_enabled": self.artifacts})
        self.renderer.page("run.html", f"r/{exp.run_keys[run_id]}.html", context)
        problems = self.problems[problems_before:]
        del self.problems[problems_before:]  # the build adds them with the results, from any process
        return {
            "problems": problems_out(problems),
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
    names: dict[str, str] = field(default_factory=dict)
    page_problems: list[Problem] = field(default_factory=list)
    table_pages: int = 0
    image_names: list[str] = field(default_factory=list)  # static images (cache names) of its pages
    written: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id -> side data of pages rendered now
