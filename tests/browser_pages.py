"""Helpers for the browser tests: a probe that records what a page must never do (errors, remote requests,
dialogs), and a hand-written fixture site that follows the page markup contract, to test the theme's JS
without the site builder.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from reportgen import charts
from reportgen.site.assets import write_assets
from reportgen.site.jsonblock import json_script

THEME = Path(__file__).resolve().parents[1] / "themes" / "default"
# The policy the pages are meant to carry; strict style-src so the JS is proven not to need inline styles.
CSP = ("default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'none'; base-uri 'none'; form-action 'none'")
HOSTILE = [
    '<img src=x data-pwned=1 onerror="alert(1)">',
    '</script><script>alert(2)</script><b data-pwned=1>',
    '"><svg data-pwned=1 onload=alert(3)>',
    "javascript:alert(4)",
    "a.b[0].c",
    "{{7*7}}\u2028\u202eevil",
]
# Drawn marks with the svg renderer (mark containers are <g>; scatter points say "point").
MARKS = "[aria-roledescription$=' mark']:not(g), [aria-roledescription='point']"
INJECTED = "[data-pwned], script:not([src]):not([type='application/json'])"


# Chromium's report that a sandboxed artifact preview (an HTML artifact in <iframe sandbox>) tried to run its
# script and was stopped: the safety measure working, not a page error.
SANDBOX_BLOCKED = "Blocked script execution in 'about:srcdoc' because the document's frame is sandboxed"


@dataclass
class Probe:
    """Everything a page did that an offline, script-safe report must not do."""

    errors: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page) -> "Probe":
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and not msg.text.startswith(SANDBOX_BLOCKED)
                and self.errors.append(f"console: {msg.text}"))
        page.on("request", lambda req: req.url.startswith("file://") or self.remote.append(req.url))
        # a broken relative link (image, script, style) names its URL here; the console only says "failed".
        # A load the page itself cancelled (an image whose src a slider changed again) is not a fault.
        page.on("requestfailed", lambda req: req.failure == "net::ERR_ABORTED"
                or self.errors.append(f"requestfailed: {req.url} ({req.failure})"))

        def on_dialog(dialog) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return self

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.remote == [], self.remote
        assert self.dialogs == [], self.dialogs


PAGE = """<!DOCTYPE html>
<html lang="en"><head>
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta charset="utf-8"><title>{{ title }}</title>
</head><body>
<h1>{{ title }}</h1>
{% block body %}{% endblock %}
<script src="static/vendor/vega-bundle.js"></script>
<script src="static/js/charts.js"></script>
<script src="static/js/runs-table.js"></script>
<script src="static/js/compare.js"></script>
</body></html>
"""

EXPERIMENT = """{% extends "page.html" %}{% block body %}
<section class="rg-runs-section">
<input type="search" class="rg-filter" placeholder="Filter runs">
<label><input type="checkbox" class="rg-only-varying"> only params that vary</label>
<div class="rg-column-toggles"></div>
<button type="button" class="rg-compare" disabled>Compare <span class="rg-pick-count">0</span></button>
<table class="rg-runs" data-table>
<thead><tr><th><input type="checkbox" class="rg-pick-all"></th>
{% for col in columns %}<th data-col="{{ col.key }}" data-kind="{{ col.kind }}" data-varies="{{ col.varies }}">{{ col.key }}</th>{% endfor %}
</tr></thead>
<tbody>
{% for run in runs %}<tr data-run-id="{{ run.run_id }}"{% if run.parent %} data-parent="{{ run.parent }}"{% endif %}><td><input type="checkbox" class="rg-pick" value="{{ run.run_id }}"></td>
{% for col in columns %}<td data-value="{{ run.cells[col.key] }}">{{ run.cells[col.key] }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
</section>
{% include "_charts.html" %}
{% endblock %}"""

COMPARE = """{% extends "page.html" %}{% block body %}
<div id="rg-compare"><p>Comparison needs JavaScript.</p></div>
<script type="application/json" id="rg-compare-data">{{ json_script(data) }}</script>
{% endblock %}"""


def fixture_runs(n_runs: int = 6, n_steps: int = 300) -> tuple[list[dict], pd.DataFrame]:
    """Runs (some with hostile names, params, tags and metric keys) and their long metric history."""
    rng = np.random.default_rng(7)
    runs, rows = [], []
    for i in range(n_runs):
        run_id = f"{i:02d}" + "ab" * 15
        hostile = HOSTILE[i % len(HOSTILE)]
        runs.append({
            "run_id": run_id,
            "name": f"run {i} {hostile}" if i % 2 else f"run-{i}",
            "params": {"lr": str(10.0 ** -(i % 3 + 1)), "optimizer": "adam", hostile: str(i), "seed": str(i)},
            "metrics": {"loss": float(1.0 / (i + 1)), "acc.[top1]": float(0.5 + i / 20), hostile: float(i)},
            "tags": {"note": hostile, "team": "ml"},
            # the last run is nested under the first (MLflow's mlflow.parentRunId)
            "parent": f"{0:02d}" + "ab" * 15 if i == n_runs - 1 and n_runs > 2 else None,
        })
        for step in range(n_steps):
            for key, base in (("loss", 1.0), ("acc.[top1]", 0.5), (hostile, 2.0)):
                value = base * np.exp(-step / (80 + 20 * i)) + rng.normal(0, 0.02)
                if key == "loss" and step == 100 and i == 0:
                    value = float("nan")
                rows.append({"run_id": run_id, "key": key, "step": step, "timestamp": 1_700_000_000_000 + step * 1000 + i,
                             "value": value})
    return runs, pd.DataFrame(rows)


def _columns(runs: list[dict]) -> list[dict]:
    cols = [{"key": "name", "kind": "attr", "varies": "true"}]
    for kind, field_ in (("param", "params"), ("metric", "metrics"), ("tag", "tags")):
        keys = sorted({k for run in runs for k in run[field_]})
        for key in keys:
            values = {str(run[field_].get(key)) for run in runs}
            cols.append({"key": key, "kind": kind, "varies": "true" if len(values) > 1 else "false", "field": field_})
    return cols


def _cells(run: dict, columns: list[dict]) -> dict:
    cells = {"name": run["name"]}
    for col in columns[1:]:
        value = run[col["field"]].get(col["key"])
        cells[col["key"]] = "" if value is None else (repr(value) if isinstance(value, float) else str(value))
    return cells


def build_fixture_site(out: Path, *, n_runs: int = 6, n_steps: int = 300) -> Path:
    """A two-page site (experiment.html, compare.html) following the markup contract of the theme JS."""
    out.mkdir(parents=True, exist_ok=True)
    write_assets(out)
    shutil.copytree(THEME / "static" / "js", out / "static" / "js", dirs_exist_ok=True)
    runs, history = fixture_runs(n_runs, n_steps)
    labels = {run["run_id"]: run["name"] for run in runs}
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.DictLoader({"page.html": PAGE, "experiment.html": EXPERIMENT, "compare.html": COMPARE}),
            jinja2.FileSystemLoader(str(THEME / "templates")),
        ]),
        autoescape=True, undefined=jinja2.StrictUndefined,
    )
    env.globals["json_script"] = json_script
    keys = sorted(history["key"].unique())
    chart_list = [
        {"id": f"h{n}", "title": key, "spec": charts.history_chart(history[history["key"] == key], title=key, run_labels=labels),
         "fallback": None}
        for n, key in enumerate(keys)
    ]
    points = pd.DataFrame({"run": [r["run_id"] for r in runs], "x": [r["params"]["lr"] for r in runs],
                           "y": [r["metrics"]["loss"] for r in runs], "label": [r["name"] for r in runs],
                           "href": ["javascript:alert(5)"] * len(runs)})
    chart_list.append({"id": "scatter", "title": "loss vs lr",
                       "spec": charts.scatter_chart(points, x_title="lr", y_title="loss"), "fallback": None})
    frame = pd.DataFrame([{**r["params"], "loss": r["metrics"]["loss"], "name": r["name"]} for r in runs])
    chart_list.append({"id": "parallel", "title": "params", "fallback": None,
                       "spec": charts.parallel_coordinates(frame, ["lr", "optimizer", HOSTILE[0], "loss"], "loss",
                                                           label_col="name")})
    seeds = history[history["key"] == "loss"].groupby("step")["value"].agg(["mean", "std"]).reset_index()
    seeds["group"] = "all seeds"
    chart_list.append({"id": "seeds", "title": "loss over seeds", "fallback": None, "spec": charts.seed_band_chart(seeds)})
    columns = _columns(runs)
    table_runs = [{"run_id": run["run_id"], "parent": run["parent"], "cells": _cells(run, columns)} for run in runs]
    (out / "experiment.html").write_text(env.get_template("experiment.html").render(
        title="Experiment <b data-pwned=1>x</b>", csp=CSP, runs=table_runs, columns=columns, charts=chart_list),
        encoding="utf-8")
    histories = {key: charts.history_chart(history[history["key"] == key], title=key, run_labels=labels) for key in keys}
    (out / "compare.html").write_text(env.get_template("compare.html").render(
        title="Compare", csp=CSP, data={"runs": runs, "histories": histories}), encoding="utf-8")
    return out
