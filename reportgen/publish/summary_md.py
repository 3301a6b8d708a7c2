"""A Summary as GitHub-flavoured Markdown for PR/MR comments and $GITHUB_STEP_SUMMARY: every data string
escaped, no HTML, and cut at a line boundary with a note when it would pass the character limit."""
from __future__ import annotations

from urllib.parse import quote

from reportgen.publish.summary_data import GITHUB_LIMIT, ExperimentSummary, RunRow, Summary
from reportgen.publish.text import fmt_delta, fmt_value, md_escape, md_table, md_url
from reportgen.selection import url_key

MAX_PARAM_COLUMNS = 4
MAX_CONSTANTS = 8
_WORDS = {"max": "higher is better", "min": "lower is better", None: "direction unknown"}


def _run_cell(row: RunRow, site_url: str | None) -> str:
    name = md_escape(row.run_name or "(unnamed)", limit=60)
    if site_url:
        # The site's run pages live at r/<run id>.html (a plain id is its own file name).
        name = f"[{name}]({md_url(site_url.rstrip('/') + '/r/' + quote(url_key(row.run_id)) + '.html')})"
    status = "" if row.status == "FINISHED" else f" ({md_escape(row.status)})"
    return f"{name} ({md_escape(row.run_id[:8])}){status}"


def _runs_table(exp: ExperimentSummary, site_url: str | None) -> str:
    keys = [m.key for m in exp.metrics]
    params = exp.varying_params[:MAX_PARAM_COLUMNS]
    with_deltas = exp.baseline is not None
    headers, right = ["#", "Run"], [True, False]
    for key in keys:
        headers.append(md_escape(key, limit=40))
        right.append(True)
        if with_deltas:
            headers.append("Δ")
            right.append(False)
    headers += [md_escape(p, limit=40) for p in params]
    right += [False] * len(params)
    rows = []
    base_id = exp.baseline.run_id if exp.baseline else None
    # The baseline gets its own first row unless it is one of the top runs (then that row says so).
    shown = exp.top if any(r.run_id == base_id for r in exp.top) else ([exp.baseline] if exp.baseline else []) + exp.top
    for row in shown:
        is_base = row.run_id == base_id
        rank = "base" if row.rank is None else f"{row.rank} (base)" if is_base else str(row.rank)
        cells = [rank, _run_cell(row, site_url)]
        for key in keys:
            cells.append(fmt_value(row.metrics.get(key)))
            if with_deltas:
                cells.append("" if is_base else fmt_delta(row.deltas[key]) if key in row.deltas else "")
        cells += [md_escape(row.params.get(p) if row.params.get(p) is not None else "—", limit=40)
                  for p in params]
        rows.append(cells)
    return md_table(headers, rows, right=right)


def _best_table(exp: ExperimentSummary) -> str:
    rows = []
    for m in exp.metrics:
        rows.append([md_escape(m.key, limit=60), _WORDS[m.direction],
                     fmt_value(m.best_value) if m.best_run_id else "—",
                     md_escape(m.best_run_name or "(unnamed)", limit=60) if m.best_run_id else "—",
                     str(m.n_runs)])
    return md_table(["Metric", "Direction", "Best", "Run", "Runs"], rows, right=[False, False, True, False, True])


def experiment_markdown(exp: ExperimentSummary, site_url: str | None) -> list[str]:
    lines = [f"## {md_escape(exp.name, limit=120)}", ""]
    facts = [f"{exp.n_runs} run{'s' if exp.n_runs != 1 else ''}"]
    if exp.ranked_by:
        facts.append(f"top {len(exp.top)} by {md_escape(exp.ranked_by, limit=60)} "
                     f"({_WORDS[next(m.direction for m in exp.metrics if m.key == exp.ranked_by)]})")
    if exp.baseline is not None:
        facts.append(f"baseline: {md_escape(exp.baseline.run_name or '(unnamed)', limit=60)} "
                     f"({md_escape(exp.baseline.run_id[:8])})")
    elif exp.baseline_note:
        facts.append(md_escape(exp.baseline_note, limit=200))
    lines += [" · ".join(facts), ""]
    for note in exp.notes:
        lines += [f"> {md_escape(note, limit=300)}", ""]
    if not exp.metrics:
        lines += ["None of the chosen metrics is logged here." if exp.notes else "No metrics logged.", ""]
    else:
        lines += [_runs_table(exp, site_url), ""]
        lines += [_best_table(exp), ""]
    if exp.varying_params:
        shown = ", ".join(md_escape(p, limit=60) for p in exp.varying_params[:20])
        more = f" and {len(exp.varying_params) - 20} more" if len(exp.varying_params) > 20 else ""
        lines += [f"Params that vary: {shown}{more}", ""]
    if exp.constant_params:
        items = list(exp.constant_params.items())
        shown = ", ".join(f"{md_escape(k, limit=40)}={md_escape(v, limit=40)}" for k, v in items[:MAX_CONSTANTS])
        more = f" and {len(items) - MAX_CONSTANTS} more" if len(items) > MAX_CONSTANTS else ""
        lines += [f"Same in every run: {shown}{more}", ""]
    for image in exp.images:
        lines += [f"![{md_escape(image['alt'], limit=200)}]({md_url(quote(image['path'], safe='/.-_'))})", ""]
    return lines


def render_markdown(summary: Summary, *, max_chars: int = GITHUB_LIMIT) -> str:
    """The whole summary; when it would pass `max_chars` characters it is cut at a line boundary and
    ends with a note saying how many experiments are shown in full (and where the full report is)."""
    head = ["# Run summary", ""]
    if summary.site_url:
        head += [f"Full report: [{md_escape(summary.site_url, limit=200)}]({md_url(summary.site_url)})", ""]
    if summary.problems:
        head += [f"> {summary.problems} item{'s were' if summary.problems != 1 else ' was'} skipped while reading "
                 "the store (see the report's problems page).", ""]
    if not summary.experiments:
        head += ["No runs found.", ""]
    sections = [experiment_markdown(exp, summary.site_url) for exp in summary.experiments]
    text = "\n".join(head + [line for section in sections for line in section]).rstrip("\n") + "\n"
    if len(text) <= max_chars:
        return text
    return _truncate(head, sections, summary.site_url, max_chars)


def _truncate(head: list[str], sections: list[list[str]], site_url: str | None, max_chars: int) -> str:
    def note(shown: int) -> str:
        where = f" The full report: {md_url(site_url)}" if site_url else " Build the full report with `reportgen build`."
        return (f"\n> **Truncated** to stay under {max_chars:,} characters: {shown} of {len(sections)} "
                f"experiments shown in full.{where}\n")

    budget = max_chars - len(note(len(sections))) - 1
    out: list[str] = []
    size = 0
    complete = 0
    for section in [head] + sections:
        for line in section:
            if size + len(line) + 1 > budget:
                body = "\n".join(out).rstrip("\n") + "\n"
                return (body + note(max(complete - 1, 0)))[:max_chars]
            out.append(line)
            size += len(line) + 1
        complete += 1
    return "\n".join(out).rstrip("\n") + "\n"  # pragma: no cover - only reached when nothing was cut
