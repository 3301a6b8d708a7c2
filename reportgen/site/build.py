"""`build_site`: gather (stores, runs, histories, artifact listings), then copy the artifacts and render
every page into a temp folder beside the target, then swap it in. Reads like a table of contents; the steps live in the sibling modules.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from reportgen.model import Problem
from reportgen.redaction import Redactor
from reportgen.selection import default_store_uris
from reportgen.site import output
from reportgen.site.artifacts.plan import Budget
from reportgen.site.builder import Progress, SiteBuilder
from reportgen.site.gather import gather, open_stores, store_root
from reportgen.site.incremental.cache import Digest, SiteCache, code_digest
from reportgen.site.incremental.cache_folder import claim_cache_folder
from reportgen.site.static_images import ImageMaker
from reportgen.site.theme import Theme, builtin_themes_dir

DEFAULT_TITLE = "Experiment report"
DEFAULT_MAX_ARTIFACT_SIZE = 20 * 1024 * 1024
DEFAULT_MAX_SITE_SIZE = 1024 * 1024 * 1024
DEFAULT_MAX_POINTS = 500


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
    budget_hit: bool = False  # some artifact was not copied: the site size limit was reached
    reused: int = 0  # folders (runs, experiments) taken from the build cache instead of rendered
    notes: list[str] = field(default_factory=list)  # about the build itself (the cache), not the data


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
    default_redaction: bool = True,
    strict: bool = False,
    static_charts: bool = True,
    workers: int | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    cache_dir: str | Path | None = None,
    artifacts_destination: str | None = None,
) -> BuildResult:
    """Build the static report of `stores` (URIs or paths; default: MLFLOW_TRACKING_URI, ./mlruns,
    ./mlflow.db) into `output_dir`. Raises ReportgenError on bad input, and on any warning when strict.

    workers: processes rendering run pages (None: one per CPU, up to 4, for experiments of 300+ runs).
    cache_dir: a folder for incremental builds (read cache and rendered units); None: render everything.
    artifacts_destination: the folder a tracking server keeps its proxied artifacts in (its
    --artifacts-destination): runs with mlflow-artifacts: URIs read theirs from there.
    The site is the same, byte for byte, with or without the cache."""
    options = dict(experiments=experiments, filter_string=filter_string, title=title, theme=theme,
                   max_points=max_points, artifacts=artifacts, max_artifact_size=max_artifact_size,
                   max_site_size=max_site_size, redact=redact, default_redaction=default_redaction, strict=strict,
                   static_charts=static_charts,
                   workers=workers, progress=progress, artifacts_destination=artifacts_destination)
    if cache_dir is None:
        return _build(stores, output_dir, cache=None, **options)
    # Before the cache is opened: a folder that is not ours, or one inside the site or a store, is refused
    # with nothing in it read or written.
    roots = [p for p in map(store_root, list(stores) if stores else default_store_uris()) if p]
    output.check_target(Path(output_dir), store_roots=roots)
    output.check_cache_placement(cache_dir, target=output_dir, store_roots=roots)
    return _build(stores, output_dir, cache=SiteCache.open(claim_cache_folder(cache_dir)), **options)


def _build(
    stores: Sequence[str] | None,
    output_dir: str | Path,
    *,
    cache: SiteCache | None,
    experiments: Sequence[str],
    filter_string: str | None,
    title: str | None,
    theme: str | None,
    max_points: int,
    artifacts: bool,
    max_artifact_size: int,
    max_site_size: int,
    redact: Sequence[str],
    default_redaction: bool,
    strict: bool,
    static_charts: bool,
    workers: int | None,
    progress: Callable[[str, int, int | None], None] | None,
    artifacts_destination: str | None,
) -> BuildResult:
    started = time.perf_counter()
    report = Progress(progress)
    uris = list(stores) if stores else default_store_uris()
    target = output.check_target(Path(output_dir), store_roots=[p for p in map(store_root, uris) if p])
    theme_ = Theme.load(theme)
    redactor = Redactor.from_options(redact, default=default_redaction)

    report("Reading stores", 0, None)
    opened = open_stores(uris, strict=strict, artifacts_destination=artifacts_destination)
    # Before the read: the image helper warms vl-convert up while this process reads the stores.
    images = ImageMaker(helper=static_charts, cache_dir=cache.images if cache is not None else None)
    timings: dict[str, float] = {}
    try:
        budget = Budget(max_artifact_size, max_site_size)
        site = gather(opened, uris, experiments=experiments, filter_string=filter_string, redactor=redactor,
                      artifacts=budget if artifacts else None, strict=strict,
                      read_cache=cache.folder / "read" if cache is not None else None)
        timings["read"] = time.perf_counter() - started
        staging = output.new_staging(target)
        try:
            builder = SiteBuilder(site, staging, theme_, title=title or DEFAULT_TITLE, max_points=max_points,
                                   artifacts=artifacts, strict=strict, static_charts=static_charts, report=report, workers=workers,
                                   images=images, bytecode_dir=cache.templates if cache is not None else None)
            if cache is not None:
                builder.cache = cache
                # The key: the code and every bundled theme (any theme may extend one: "default:run.html"), the
                # options, and the redaction rules (runs may be keyed by what was read, before redaction). The
                # builder adds the environment's secrets the runs held, as it reads each experiment.
                code = code_digest([*theme_.folders, builtin_themes_dir()])
                builder.build_key = Digest(
                    code, title or DEFAULT_TITLE, max_points, artifacts, max_artifact_size, max_site_size, strict,
                    static_charts, "redact", redactor.fingerprint(env=False)).hex()
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
    if cache is not None:
        cache.save(target, images.used)
        timings["cache"] = time.perf_counter() - started - sum(timings.values())
    # Linked folders are sized from the cache's records of their files, not walked again.
    size = output.tree_size(target, cache.linked_sizes() if cache is not None else None)
    return BuildResult(output=target, pages=builder.pages, runs=site.run_count, experiments=len(site.experiments),
                       size_bytes=size, seconds=time.perf_counter() - started, problems=builder.problems,
                       timings=timings, budget_hit=budget.hit,
                       reused=cache.restored if cache is not None else 0,
                       notes=list(cache.warnings) if cache is not None else [])
