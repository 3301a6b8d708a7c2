"""Publishing from CI: Markdown/JSON run summaries for PR comments and step summaries, and baseline
checks that gate a pipeline (exit 0 pass, 1 a rule failed, 2 bad input)."""
from __future__ import annotations

from reportgen.publish.baseline import RunSpec, parse_run_spec, resolve_run
from reportgen.publish.check import CheckReport, check_runs, parse_rule, render_check
from reportgen.publish.summary import Summary, build_summary, summary_json, write_summary
from reportgen.publish.summary_md import render_markdown

__all__ = [
    "CheckReport", "RunSpec", "Summary", "build_summary", "check_runs", "parse_rule", "parse_run_spec",
    "render_check", "render_markdown", "resolve_run", "summary_json", "write_summary",
]
