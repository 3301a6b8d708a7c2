"""`build_site`: gather (stores, runs, histories), then render every page into a temp folder beside the
target, then swap it in. Reads like a table of contents; the steps live in the sibling modules.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence


from reportgen import __version__
from reportgen.errors import ReportgenError
from reportgen.model import Problem
from reportgen.site import output
from reportgen.site.artifacts import Budget, RunArtifacts, image_artifacts
from reportgen.site.chartslots import (
    ChartSlots, RunHistorySpecs, compare_histories, experiment_charts, run_charts, split_history,
)
from reportgen.site.collect import ExperimentData, SiteData, default_store_uris, gather, open_stores, store_root
from reportgen.site.exports import write_exports
from reportgen.site.markdown_html import render_markdown
from reportgen.site.pages import (
    ROWS_PER_PAGE, SYSTEM_TAG_PREFIX, exp_href, experiment_columns, experiment_rows, index_context,
    problems_context, run_label, value_cell,
)
from reportgen.site.pages_run import children_of, compare_context, compare_order, run_context
from reportgen.site.parallel import default_workers, render_runs
from reportgen.site.redact import Redactor
from reportgen.site.render import Renderer
from reportgen.site.summary import summarize
from reportgen.site.static_images import ImageMaker
from reportgen.site.theme import Theme

DEFAULT_TITLE = "Experiment report"
DEFAULT_MAX_ARTIFACT_SIZE = 20 * 1024 * 1024
DEFAULT_MAX_SITE_SIZE = 1024 * 1024 * 1024
DEFAULT_MAX_POINTS = 500
RUN_PAGE_MAX_POINTS = 200  # run pages are many; their charts get a smaller point budget
COMPARE_MAX_POINTS = 100  # the compare page carries every series of up to 50 runs


@dataclass
class BuildResult:
    output: Path
    pages: int
    runs: int
    experiments: int
    size_bytes: int
    seconds: float
    problems: list[Problem] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase: read, render, swap


class _Progress:
    """Calls the optional progress callback: (phase, advance, total)."""

    def __init__(self, callback: Callable[[str, int, int | None], None] | None) -> None:
        self.callback = callback

    def __call__(self, phase: str, advance: int = 1, total: int | None = None) -> None:
        if self.callback is not None:
            self.callback(phase, advance, total)


def build_site(
    stores: Sequence[str] | None = None,
    output_dir: str | Path = "site",
    *,
    experiments: Sequence[str] = (),
    filter_string: str | None = None,
    title: str | None = None,
    theme: str | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    artifacts: bool = True,
    max_artifact_size: int = DEFAULT_MAX_ARTIFACT_SIZE,
    max_site_size: int = DEFAULT_MAX_SITE_SIZE,
    redact: Sequence[str] = (),
    strict: bool = False,
    static_charts: bool = True,
    workers: int | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> BuildResult:
    """Build the static report of `stores` (URIs or paths; default: MLFLOW_TRACKING_URI, ./mlruns,
    ./mlflow.db) into `output_dir`. Raises ReportgenError on bad input, and on any warning when strict.

    workers: processes rendering run pages (None: one per CPU, up to 4, for experiments of 300+ runs)."""
    started = time.perf_counter()
    report = _Progress(progress)
    uris = list(stores) if stores else default_store_uris()
    target = output.check_target(Path(output_dir), store_roots=[p for p in map(store_root, uris) if p])
    theme_ = Theme.load(theme)
    redactor = Redactor.from_options(redact)

    report("Reading stores", 0, None)
    opened = open_stores(uris, strict=strict)
    # Before the read: the image helper warms vl-convert up while this process reads the stores.
    images = ImageMaker(helper=static_charts)
    timings: dict[str, float] = {}
    try:
        site = gather(opened, uris, experiments=experiments, filter_string=filter_string, redactor=redactor)
        timings["read"] = time.perf_counter() - started
        staging = output.new_staging(target)
        try:
            builder = _SiteBuilder(site, staging, theme_, title=title or DEFAULT_TITLE, max_points=max_points,
                                   artifacts=artifacts, budget=Budget(max_artifact_size, max_site_size),
                                   strict=strict, static_charts=static_charts, report=report, workers=workers,
                                   images=images)
            builder.build()
        except BaseException:
            output.discard(staging)
            raise
        timings["render"] = time.perf_counter() - started - timings["read"]
        output.swap_in(staging, target)
        timings["swap"] = time.perf_counter() - started - timings["read"] - timings["render"]
    finally:
        images.close()
        for store in opened:
            store.close()
    size = sum(path.stat().st_size for path in target.rglob("*") if path.is_file() and not path.is_symlink())
    return BuildResult(output=target, pages=builder.pages, runs=site.run_count, experiments=len(site.experiments),
                       size_bytes=size, seconds=time.perf_counter() - started, problems=builder.problems,
                       timings=timings)


class _SiteBuilder:
    """Renders every page of one site into `out`; collects the build's own warnings."""

    def __init__(self, site: SiteData, out: Path, theme: Theme, *, title: str, max_points: int,
                 artifacts: bool, budget: Budget, strict: bool, static_charts: bool, report: _Progress,
                 workers: int | None = None, images: ImageMaker | None = None) -> None:
        self.site = site
        self.out = out
        self.theme = theme
        self.renderer = Renderer(theme, out, site_title=title, generator=f"reportgen {__version__}")
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

    def warn(self, path: str, message: str) -> None:
        if self.strict:
            raise ReportgenError(f"{path}: {message}")
        self.problems.append(Problem(path=path, message=message))

    def render(self, template: str, path: str, context: dict[str, Any]) -> None:
        self.renderer.page(template, path, context)
        self.pages += 1

    def build(self) -> None:
        self.renderer.copy_static()
        self.renderer.write_vendor_assets()
        total_runs = self.site.run_count
        self.report("Rendering pages", 0, total_runs + len(self.site.experiments))
        for exp in self.site.experiments:
            self.experiment(exp)
        self.render("index.html", "index.html", {"page_title": "Experiments", **index_context(self.site)})
        # Last: every warning of the build is known by now (stores record artifact problems while we copy).
        # Sorted, so that the page does not depend on how run pages were shared between processes.
        found = [p for store in self.site.stores for p in getattr(store, "problems", [])] + self.extra_store_problems
        self.problems = sorted(found + self.problems, key=lambda p: (p.path, p.message))
        self.render("problems.html", "problems.html", {"page_title": "Problems", **problems_context(self.problems)})

    def experiment(self, exp: ExperimentData) -> None:
        summaries = summarize(exp.history)
        by_run = split_history(exp.history)
        specs = RunHistorySpecs(max_points=min(self.max_points, RUN_PAGE_MAX_POINTS))
        children = children_of(exp)
        names = {run.info.run_id: run_label(run) for run in exp.runs}
        histories: dict[str, dict] = {}

        def meanwhile() -> None:
            # This process's share while worker processes render the run pages (after them when serial).
            self.experiment_pages(exp, summaries)
            histories.update(compare_histories(exp, compare_order(exp), max_points=COMPARE_MAX_POINTS))

        images = render_runs(
            self, exp.runs,
            lambda run: self.run_page(exp, run, summaries, by_run.get(run.info.run_id), specs, children, names),
            workers=self.workers if self.workers is not None else default_workers(len(exp.runs)),
            progress=lambda done: self.report("Rendering pages", done, None), meanwhile=meanwhile)

        # After the run pages: the compare page shows the images their artifacts copied.
        compare = compare_context(exp, images)
        compare["data"]["histories"] = histories
        self.render("compare.html", f"e/{exp.key}/compare.html",
                    {"page_title": f"Compare runs: {exp.experiment.name}", **compare})

    def experiment_pages(self, exp: ExperimentData, summaries: dict) -> None:
        """The experiment's runs table pages (the first with its charts), CSV and JSON exports."""
        columns = experiment_columns(exp)
        rows = experiment_rows(exp, summaries, columns)
        base = f"e/{exp.key}"
        write_exports(self.out / base, exp, columns)
        slots = ChartSlots("chart", out_dir=self.out, image_dir=f"{base}/charts" if self.static_charts else None,
                           root="../../", warn=self.warn)
        experiment_charts(exp, slots, max_points=self.max_points)
        slots.render_images(self.images)
        pages = [rows[i:i + ROWS_PER_PAGE] for i in range(0, len(rows), ROWS_PER_PAGE)] or [[]]
        page_links = [{"number": n + 1, "href": "index.html" if n == 0 else f"runs-{n + 1}.html"}
                      for n in range(len(pages))]
        for number, page_rows in enumerate(pages, start=1):
            context = {
                "page_title": exp.experiment.name, "experiment": _experiment_info(exp), "columns": columns,
                "rows": page_rows, "page_number": number, "page_links": page_links, "total_runs": len(rows),
                "charts": slots.items if number == 1 else [],
            }
            self.render("experiment.html", f"{base}/{page_links[number - 1]['href']}", context)
        self.report("Rendering pages", 1, None)

    def run_page(self, exp, run, summaries, history_part, specs: RunHistorySpecs, children,
                 names) -> list[dict[str, str]]:
        """Writes the run's page; returns its copied image artifacts (path, href) for the compare page."""
        # Run pages get no static chart images (0.1 s each, thousands of pages): their metrics table
        # holds the numbers when JavaScript is off.
        run_dir = f"r/{exp.run_keys[run.info.run_id]}"
        context = run_context(exp, run, summaries, children, names)
        slots = ChartSlots("chart", out_dir=None, image_dir=None, root="../../", warn=self.warn)
        if history_part:
            run_charts(run, history_part, slots, specs)
        tree = []
        if self.artifacts:
            walker = RunArtifacts(exp.store, run.info.run_id, out_dir=self.out, run_dir=run_dir,
                                  budget=self.budget, warn=self.warn)
            tree = walker.walk()
        context.update({"page_title": context["run"]["name"], "charts": slots.items, "artifacts": tree,
                        "artifacts_enabled": self.artifacts})
        self.render("run.html", f"{run_dir}/index.html", context)
        return image_artifacts(tree)


def _experiment_info(exp: ExperimentData) -> dict[str, Any]:
    description = exp.experiment.description
    return {
        "name": exp.experiment.name, "id": exp.experiment.experiment_id, "href": exp_href(exp),
        "store": exp.store_label, "description": render_markdown(description) if description else None,
        "tags": [{"key": k, **value_cell(v)} for k, v in sorted(exp.experiment.tags.items())
                 if not k.startswith(SYSTEM_TAG_PREFIX)],
    }
