"""The `reportgen summary` and `reportgen check` commands (publishing from CI); thin: parse options, call
reportgen.publish. Registered on the main group at the end of reportgen/cli.py."""
from __future__ import annotations

import sys
import warnings

import click

from reportgen.errors import BadInputError, ReportgenError

# Spelled here, not imported: `reportgen build` must keep working even if reportgen.publish is not installed.
SPEC_HELP = "RUN_ID (or a unique prefix), best, best:METRIC, latest or tag:KEY=VALUE"

_EXPERIMENT_HELP = "Only these experiments (repeatable; id, name or glob)."
_DIRECTION_HELP = "Whether a metric improves upward or downward when its name does not say (repeatable; KEY may be a glob)."
_REDACT_HELP = ("Hide values of params and tags whose key matches this glob (repeatable; token, password, secret "
                "and key-like names are always hidden).")
_NO_DEFAULT_HELP = "Turn off the built-in secret rules (names and values); only --redact patterns apply."
_ARTIFACTS_DESTINATION_HELP = ("Folder (or file: URI) an `mlflow server` was started with as --artifacts-destination, "
                               "where runs with mlflow-artifacts: URIs keep their artifacts (as for `reportgen build`).")


def warn_no_default_redaction(off: bool) -> None:
    """One loud line on stderr: what is published may now hold secrets."""
    if off:
        click.echo("WARNING: --no-default-redaction: the built-in secret rules are OFF; tokens, passwords and "
                   "credentials in names and values are published as they are (only --redact patterns apply).",
                   err=True)


@click.command()
@click.argument("store", required=False)
@click.option("--experiment", "experiments", multiple=True, metavar="NAME|ID|GLOB", help=_EXPERIMENT_HELP)
@click.option("--metric", "metrics", multiple=True, metavar="KEY",
              help="Metrics to show and rank by, the first one ranks (repeatable; default: up to 4 with a known direction).")
@click.option("--baseline", metavar="SPEC", help=f"Run to compare with: {SPEC_HELP}.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="Runs shown per experiment.")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True, help="Output format.")
@click.option("--images", type=click.Path(file_okay=False), metavar="DIR",
              help="Write a chart image per experiment into DIR, linked relatively from the output file.")
@click.option("--image-format", type=click.Choice(["svg", "png"]), default="svg", show_default=True,
              help="Format of the --images charts.")
@click.option("--site-url", metavar="URL", help="Where the full report is published (links to it and its run pages).")
@click.option("--direction", "directions", multiple=True, metavar="KEY=min|max", help=_DIRECTION_HELP)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of standard output.")
@click.option("--redact", "redact", multiple=True, metavar="PATTERN", help=_REDACT_HELP)
@click.option("--no-default-redaction", is_flag=True, help=_NO_DEFAULT_HELP)
@click.option("--artifacts-destination", metavar="PATH", help=_ARTIFACTS_DESTINATION_HELP)
def summary(store, experiments, metrics, baseline, top, fmt, images, image_format, site_url, directions, output,
            redact, no_default_redaction, artifacts_destination) -> None:
    """Markdown (or JSON) summary of the runs in STORE for a PR comment or $GITHUB_STEP_SUMMARY.

    Without STORE: $MLFLOW_TRACKING_URI, else ./mlruns, else ./mlflow.db.
    """
    from reportgen.publish.baseline import parse_directions, parse_run_spec
    from reportgen.publish.summary import write_summary
    from reportgen.site.output import check_summary_paths

    check_summary_paths(store, output=output, images=images)  # never written into the store it reads
    warn_no_default_redaction(no_default_redaction)
    spec = parse_run_spec(baseline, option="--baseline") if baseline is not None else None
    text = write_summary(store, output=output, fmt=fmt, experiments=experiments, metrics=metrics, baseline=spec,
                         top=top, images=images, image_format=image_format, site_url=site_url,
                         directions=parse_directions(directions), redact=redact,
                         default_redaction=not no_default_redaction, artifacts_destination=artifacts_destination)
    if output is None:
        click.echo(text, nl=False)


@click.command()
@click.argument("store", required=False)
@click.option("--baseline", metavar="SPEC", help=f"The reference run: {SPEC_HELP}.")
@click.option("--candidate", metavar="SPEC", default="latest", show_default=True,
              help=f"The run being judged: {SPEC_HELP}.")
@click.option("--rule", "rules", multiple=True, required=True, metavar="RULE",
              help='A rule such as "metrics.accuracy >= baseline - 0.01" (repeatable; all must hold).')
@click.option("--experiment", "experiments", multiple=True, metavar="NAME|ID|GLOB",
              help="Pick best/latest/tag runs only in these experiments (repeatable).")
@click.option("--direction", "directions", multiple=True, metavar="KEY=min|max", help=_DIRECTION_HELP)
@click.option("--format", "fmt", type=click.Choice(["md", "plain"]), default="plain", show_default=True,
              help="Table format.")
@click.option("--redact", "redact", multiple=True, metavar="PATTERN", help=_REDACT_HELP)
@click.option("--no-default-redaction", is_flag=True, help=_NO_DEFAULT_HELP)
def check(store, baseline, candidate, rules, experiments, directions, fmt, redact, no_default_redaction) -> None:
    """Judge a candidate run against a baseline run by RULEs.

    Exit code 0 when every rule holds, 1 when one fails, 2 on bad input (bad rule, missing run, unknown metric).
    """
    from reportgen.publish.baseline import parse_directions, parse_run_spec
    from reportgen.publish.check import check_runs, render_check
    from reportgen.selection import default_store_uris, select_experiments
    from reportgen.redaction import Redactor
    from reportgen.stores import open_store

    warn_no_default_redaction(no_default_redaction)
    try:
        base = parse_run_spec(baseline, option="--baseline") if baseline is not None else None
        cand = parse_run_spec(candidate, option="--candidate")
        with warnings.catch_warnings(), open_store(store or default_store_uris()[0]) as opened:
            warnings.simplefilter("ignore")
            ids = [e.experiment_id for e in select_experiments(opened.search_experiments(), experiments)] \
                if experiments else None
            report = check_runs(opened, baseline=base, candidate=cand, rules=rules, experiment_ids=ids,
                                directions=parse_directions(directions))
    except ReportgenError as exc:
        # Exit code 1 means "a rule failed"; anything that stopped the check from running is bad input.
        raise exc if isinstance(exc, BadInputError) else BadInputError(exc.message) from None
    click.echo(render_check(report, fmt, redactor=Redactor.from_options(redact, default=not no_default_redaction)),
               nl=False)
    if not report.passed:
        sys.exit(1)
