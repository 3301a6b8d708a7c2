"""The `reportgen` command line: thin click commands that parse options and call one library function."""
from __future__ import annotations

import re
import warnings

import click

from reportgen import __version__

# reportgen.site.incremental.cache.DEFAULT_CACHE_DIR (not imported here: `reportgen --help` stays fast).
DEFAULT_CACHE_DIR = ".reportgen-cache"

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
ARTIFACTS_DESTINATION_HELP = ("Folder, file: or s3:// URI an `mlflow server` was started with as --artifacts-destination: "
                              "runs whose artifacts it keeps (mlflow-artifacts: URIs) are read from there.")


class Size(click.ParamType):
    """A byte size: 5000, 20MB, 1.5G, 512k."""

    name = "size"

    def convert(self, value, param, ctx):  # type: ignore[override]
        if isinstance(value, int):
            return value
        match = _SIZE_RE.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a size (examples: 5000, 512k, 20MB, 1G)", param, ctx)
        unit = (match.group(2) or "").lower()[:1]
        return int(float(match.group(1)) * _UNITS[unit])


@click.group()
@click.version_option(__version__, prog_name="reportgen")
def main() -> None:
    """Static, offline reports of MLflow runs."""


@main.command()
@click.argument("stores", nargs=-1)
@click.option("-o", "--output", "output_dir", default="site", show_default=True, type=click.Path(file_okay=False),
              help="Folder to write the site into (replaced when it holds a previous report).")
@click.option("--experiment", "experiments", multiple=True, metavar="NAME|ID|GLOB",
              help="Only these experiments (repeatable).")
@click.option("--filter", "filter_string", metavar="QUERY", help="MLflow search filter, e.g. \"metrics.acc > 0.9\".")
@click.option("--title", help="Title of the report.")
@click.option("--theme", metavar="NAME|PATH", help="Bundled theme name or a theme folder (overrides inherit the rest).")
@click.option("--max-points", type=click.IntRange(min=8), default=500, show_default=True,
              help="Points per line in history charts (downsampled, extremes kept).")
@click.option("--no-artifacts", is_flag=True, help="Do not list, copy or preview artifacts.")
@click.option("--no-static-charts", is_flag=True,
              help="No SVG image behind each experiment chart for pages read without JavaScript (Jenkins' "
                   "default policy); a store of many small experiments then builds several times faster.")
@click.option("--max-artifact-size", type=Size(), default="20MB", show_default=True,
              help="Largest artifact file copied into the site.")
@click.option("--max-site-size", type=Size(), default="1GB", show_default=True,
              help="Total size of artifacts copied into the site.")
@click.option("--artifacts-destination", metavar="PATH", help=ARTIFACTS_DESTINATION_HELP)
@click.option("--redact", "redact", multiple=True, metavar="PATTERN",
              help="Hide values of params and tags whose key matches this glob (repeatable; token, password, "
                   "secret and key-like names are always hidden).")
@click.option("--no-default-redaction", is_flag=True,
              help="Turn off the built-in secret rules (names and values); only --redact patterns apply.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Processes rendering run pages [default: one per CPU, up to 4, for 300+ runs; never more "
                   "than the CPUs or the runs].")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=DEFAULT_CACHE_DIR, show_default=True,
              help="Cache for incremental builds: a rebuild renders only what changed (safe to delete). Used "
                   "only when absent, empty or tagged by reportgen; never inside the output or a store.")
@click.option("--no-cache", is_flag=True, help="Render everything; neither read nor write the cache.")
@click.option("--strict", is_flag=True, help="Fail on the first warning instead of listing it.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
def build(stores, output_dir, experiments, filter_string, title, theme, max_points, no_artifacts,
          no_static_charts, max_artifact_size, max_site_size, artifacts_destination, redact, no_default_redaction,
          jobs, cache_dir, no_cache, strict, quiet) -> None:
    """Build a static report site from STORES (mlruns folders or tracking URIs; several merge into one).

    Without STORES: $MLFLOW_TRACKING_URI, else ./mlruns, else ./mlflow.db.
    """
    from reportgen.site import build_site
    from reportgen.site.console import BuildConsole

    warn_no_default_redaction(no_default_redaction)
    console = BuildConsole(quiet=quiet)
    with warnings.catch_warnings(), console:
        # Every skipped item is collected and shown on the problems page and in the summary.
        warnings.simplefilter("ignore")
        result = build_site(
            list(stores) or None, output_dir, experiments=experiments, filter_string=filter_string, title=title,
            theme=theme, max_points=max_points, artifacts=not no_artifacts, max_artifact_size=max_artifact_size,
            max_site_size=max_site_size, redact=redact, default_redaction=not no_default_redaction, strict=strict,
            static_charts=not no_static_charts, workers=jobs, progress=console.progress,
            cache_dir=None if no_cache else cache_dir, artifacts_destination=artifacts_destination,
        )
    console.summary(result)


from reportgen.cli_publish import check, summary, warn_no_default_redaction  # noqa: E402  (reportgen/cli_publish.py)

main.add_command(summary)
main.add_command(check)


if __name__ == "__main__":  # pragma: no cover
    main()
