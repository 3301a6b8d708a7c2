"""`reportgen summary`: golden Markdown on sample_mlruns/ and on a store written by real MLflow, JSON
output, hostile strings rendered by GitHub's own Markdown parser (cmarkgfm) when installed, truncation,
images linked relatively.

Regenerate the golden files after an intended change with:
    REPORTGEN_REGEN_GOLDEN=1 pytest tests/test_summary.py      (then review `git diff tests/golden/summary/`)
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.publish.summary import build_summary, summary_json
from reportgen.publish.summary_md import render_markdown
from reportgen.publish.text import delta, fmt_delta, md_escape, plain_text
from reportgen.stores import open_store

import mlruns_builder as mb

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_mlruns"
GOLDEN = Path(__file__).resolve().parent / "golden" / "summary"
REGENERATE = os.environ.get("REPORTGEN_REGEN_GOLDEN") == "1"


def invoke(args: list[str], **kwargs):
    return CliRunner().invoke(main, args, catch_exceptions=False, **kwargs)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run with REPORTGEN_REGEN_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file (see module docstring)"


def table_rows(markdown: str, first_header: str = "#") -> list[list[str]]:
    """The rows of the first Markdown table whose header starts with `first_header`, split on unescaped pipes."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


# -- golden files ------------------------------------------------------------------------------------
@pytest.mark.skipif(not SAMPLE.is_dir(), reason="sample_mlruns/ is missing")
def test_sample_summary_matches_golden(monkeypatch):
    monkeypatch.chdir(REPO)
    result = invoke(["summary", "sample_mlruns", "--baseline", "best", "--top", "3",
                     "--site-url", "https://example.org/report/"])
    assert result.exit_code == 0, result.output
    assert_golden("sample.md", result.output)


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="sample_mlruns/ is missing")
def test_sample_summary_facts(monkeypatch):
    """What the golden file must say, checked against the store's own values (not against the golden)."""
    monkeypatch.chdir(REPO)
    with open_store("sample_mlruns") as store:
        frame = store.search_runs()
    result = invoke(["summary", "sample_mlruns", "--experiment", "digits-mlp", "--metric", "val/accuracy",
                     "--metric", "val/loss", "--baseline", "tag:mlflow.runName=mlp-32-lr0.01"])
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert rows[0][:3] == ["#", "Run", "val/accuracy"]
    assert rows[2][0] == "base" and rows[2][1].startswith("mlp-32-lr0.01")
    digits = frame[(frame["status"] == "FINISHED") | frame["metrics.val/accuracy"].notna()]
    digits = digits[digits["experiment_id"] == "820958946793304163"].dropna(subset=["metrics.val/accuracy"])
    best = digits.sort_values("metrics.val/accuracy", ascending=False, kind="stable").iloc[0]
    assert rows[3][0] == "1" and rows[3][1].startswith(best["tags.mlflow.runName"])
    base_acc = float(frame.loc[frame["tags.mlflow.runName"] == "mlp-32-lr0.01", "metrics.val/accuracy"].iloc[0])
    gain = best["metrics.val/accuracy"] - base_acc
    assert rows[3][3] == f"{gain:+.3g} ({gain / base_acc * 100:+.2f}%) ✅ better"
    # val/loss is lower-is-better: the best-accuracy run also has a lower loss, which is an improvement.
    assert rows[3][5].endswith("✅ better") and rows[3][5].startswith("-")
    # batch_size and momentum: the sweep parent lacks them, the other runs share one value (analysis.varies)
    assert "Params that vary: hidden\\_units, learning\\_rate\\_init, seed" in result.output


def _mlflow_store(tmp_path: Path, monkeypatch, kind: str = "file") -> str:
    """A small store written by real MLflow (a file store or SQLite) with fixed times and values; the
    run ids are MLflow's own. Returns the store's URI."""
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    if kind == "sqlite":
        # MLflow's schema made from SQL (reportgen/tracking/mlflow_schema.sql): creating it through MLflow's migrations takes ~10 s.
        root = f"sqlite:///{mb.mlflow_sqlite(tmp_path / 'mlflow.db')}"
    else:
        root = (tmp_path / "mlruns").as_uri()
    client = MlflowClient(tracking_uri=root)
    exp_id = client.create_experiment("ci-demo")
    t0 = 1_700_000_000_000
    runs = {
        "main-baseline": ({"lr": "0.1", "layers": "2"}, {"val_accuracy": [0.80, 0.88], "val_loss": [0.6, 0.40]}, "main"),
        "pr-wider": ({"lr": "0.1", "layers": "4"}, {"val_accuracy": [0.82, 0.91], "val_loss": [0.5, 0.30]}, "pr-7"),
        "pr-fast-lr": ({"lr": "1.0", "layers": "2"}, {"val_accuracy": [0.70, 0.85], "val_loss": [0.9, 0.45]}, "pr-8"),
    }
    for i, (name, (params, metrics, branch)) in enumerate(runs.items()):
        run = client.create_run(exp_id, start_time=t0 + i * 1000, run_name=name, tags={"branch": branch})
        for key, value in params.items():
            client.log_param(run.info.run_id, key, value)
        for key, values in metrics.items():
            for step, value in enumerate(values):
                client.log_metric(run.info.run_id, key, value, timestamp=t0 + i * 1000 + step, step=step)
        client.set_terminated(run.info.run_id, end_time=t0 + i * 1000 + 500)
    return root


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_mlflow_store_summary_matches_golden(tmp_path, monkeypatch, kind):
    """Both kinds of MLflow store give the same summary, byte for byte (after the run ids)."""
    root = _mlflow_store(tmp_path, monkeypatch, kind)
    result = invoke(["summary", root, "--baseline", "tag:branch=main", "--experiment", "ci-demo"])
    assert result.exit_code == 0, result.output
    with open_store(root) as store:
        names = {run.info.run_id: run.info.run_name for run in store.get_runs()}
    text = result.output
    # MLflow picks the run ids: put stable placeholders in their place (full ids and 8-character prefixes).
    for run_id, name in names.items():
        text = text.replace(run_id, f"<id:{name}>").replace(run_id[:8], f"<id:{name}>")
    assert_golden("mlflow_store.md", text)
    rows = table_rows(result.output)
    # The baseline is one of the top runs: its row says so instead of being repeated.
    assert [(row[0], row[1].split(" (")[0]) for row in rows[2:]] == [
        ("1", "pr-wider"), ("2 (base)", "main-baseline"), ("3", "pr-fast-lr")]
    assert rows[2][3] == "+0.03 (+3.41%) ✅ better"  # 0.91 vs 0.88: the last logged value is compared
    assert rows[2][5] == "-0.1 (-25.00%) ✅ better"  # val_loss: lower is better
    assert rows[4][3] == "-0.03 (-3.41%) ❌ worse"


def test_mlflow_store_json(tmp_path, monkeypatch):
    root = _mlflow_store(tmp_path, monkeypatch)
    result = invoke(["summary", root, "--baseline", "best", "--format", "json", "--experiment", "ci-demo"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["version"] == 1 and data["baseline_spec"] == "best"
    (exp,) = data["experiments"]
    assert exp["name"] == "ci-demo" and exp["n_runs"] == 3
    assert [m["key"] for m in exp["metrics"]] == ["val_accuracy", "val_loss"]
    assert exp["ranked_by"] == "val_accuracy" and exp["baseline"]["run_name"] == "pr-wider"
    assert [row["run_name"] for row in exp["top"]] == ["pr-wider", "main-baseline", "pr-fast-lr"]
    worse = exp["top"][1]["deltas"]["val_loss"]
    assert worse["verdict"] == "worse" and worse["absolute"] == pytest.approx(0.10)
    assert exp["varying_params"] == ["layers", "lr"]


# -- escaping ----------------------------------------------------------------------------------------
HOSTILE_NAME = "run | two \u202e `code` <script>alert(1)</script>\nnext *b* [x](javascript:alert(1)) www.evil.com"
HOSTILE_PARAM = "a|b\\|c ~~s~~ $x$ &amp; <img src=x onerror=alert(1)> https://evil.example/"


@pytest.fixture
def hostile_store(tmp_path) -> Path:
    root = tmp_path / "mlruns"
    exp = mb.experiment(root, "1", "exp <b>|bold|</b> `x`")
    for i, value in enumerate([0.5, 0.7, 0.6]):
        mb.run(exp, i + 1, name=HOSTILE_NAME if i == 1 else f"www.evil.com https://e.co/{i} a@b.co",
               metrics={"accuracy": [(mb.T0, value, 0)], "odd|key`<i>": [(mb.T0, 1.0 + i, 0)]},
               params={"p|<x>": HOSTILE_PARAM if i == 1 else f"v{i}"})
    return root


def test_hostile_strings_stay_text(hostile_store):
    result = invoke(["summary", str(hostile_store), "--baseline", "best", "--metric", "accuracy",
                     "--metric", "odd|key`<i>"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "<script" not in out and "<img" not in out and "<b>" not in out
    rows = table_rows(out)
    assert all(len(row) == len(rows[0]) for row in rows), "a data string added or removed a table column"
    cmarkgfm = pytest.importorskip("cmarkgfm")  # GitHub's own cmark fork: the renderer that matters
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(cmarkgfm.github_flavored_markdown_to_html(out), "html.parser")
    assert not soup.find_all(["script", "img", "em", "strong", "code", "del", "b", "i"])
    # No link made from data (no --site-url given); a mailto: autolink cannot be stopped by escaping.
    assert [a["href"] for a in soup.find_all("a") if not a["href"].startswith("mailto:")] == []
    table = soup.find("table")
    cells = [[c.get_text() for c in tr.find_all(["td", "th"])] for tr in table.find_all("tr")]
    assert cells[0][-1] == plain_text("p|<x>", limit=40)
    hostile_row = next(row for row in cells if row[1].startswith("run | two"))
    assert hostile_row[1].startswith(plain_text(HOSTILE_NAME, limit=60)[:-1])
    assert hostile_row[-1] == plain_text(HOSTILE_PARAM, limit=40)
    assert "<U+202E>" in hostile_row[1]  # the bidi override is shown, not applied
    assert soup.find("h2").get_text() == "exp <b>|bold|</b> `x`"


def test_md_escape_round_trips_through_commonmark():
    """Every printable ASCII character survives as itself (markdown-it-py, a CommonMark parser)."""
    markdown_it = pytest.importorskip("markdown_it")
    md = markdown_it.MarkdownIt("commonmark").enable("table").enable("strikethrough")
    text = "".join(chr(c) for c in range(33, 127)) + " www.x.org http://y.org"
    html = md.render(f"| h |\n|---|\n| {md_escape(text, limit=500)} |\n")
    from bs4 import BeautifulSoup

    assert BeautifulSoup(html, "html.parser").find("td").get_text() == text


# -- numbers, truncation, images, defaults --------------------------------------------------------------
@pytest.mark.parametrize("candidate, baseline, direction, verdict, text", [
    (0.91, 0.90, "max", "better", "+0.01 (+1.11%) ✅ better"),
    (0.89, 0.90, "max", "worse", "-0.01 (-1.11%) ❌ worse"),
    (0.20, 0.25, "min", "better", "-0.05 (-20.00%) ✅ better"),
    (0.30, 0.25, "min", "worse", "+0.05 (+20.00%) ❌ worse"),
    (2.0, 1.0, None, "higher", "+1 (+100.00%) ▲ higher"),
    (1.0, 0.0, "max", "better", "+1 (n/a) ✅ better"),
    (0.5, 0.5, "min", "same", "➖ same"),
    (math.nan, 0.5, "max", "none", ""),
    (0.5, None, "max", "none", ""),
    (-1.0, -2.0, "max", "better", "+1 (+50.00%) ✅ better"),  # percent of |baseline|
])
def test_delta_is_direction_aware(candidate, baseline, direction, verdict, text):
    d = delta(candidate, baseline, direction)
    assert d.verdict == verdict
    assert fmt_delta(d) == text


def _wide_store(root: Path, n_experiments: int, n_runs: int) -> Path:
    for e in range(1, n_experiments + 1):
        exp = mb.experiment(root, str(e), f"experiment-{e:03d}-" + "x" * 40)
        for r in range(n_runs):
            mb.run(exp, e * 1000 + r, name=f"run-{r}-" + "y" * 50,
                   metrics={"accuracy": [(mb.T0, r / n_runs, 0)], "val_loss": [(mb.T0, 1 - r / n_runs, 0)]},
                   params={"p": str(r), "q": "z" * 30})
    return root


@pytest.mark.parametrize("limit", [65_536, 3_000])
def test_long_summary_is_truncated_with_a_note(tmp_path, limit):
    root = _wide_store(tmp_path / "mlruns", 60, 12)
    with open_store(root) as store:
        summary = build_summary(store, top=10, site_url="https://ci.example/report/")
    full = render_markdown(summary, max_chars=10**9)
    assert len(full) > 65_536  # the store is big enough to need cutting at GitHub's limit
    text = render_markdown(summary, max_chars=limit)
    assert len(text) <= limit
    assert "**Truncated** to stay under" in text and "https://ci.example/report/" in text.splitlines()[-1]
    shown = int(re.search(r"(\d+) of 60 experiments shown in full", text).group(1))
    assert text.count("\n## ") >= shown
    if limit == 65_536:
        assert shown >= 10
    body = text[: text.index("\n> **Truncated**")]
    assert full.startswith(body)  # cut at a line boundary, nothing rewritten


def test_short_summary_is_not_truncated(tmp_path):
    root = _wide_store(tmp_path / "mlruns", 2, 3)
    with open_store(root) as store:
        text = render_markdown(build_summary(store))
    assert "Truncated" not in text and text.count("\n## ") == 2


@pytest.mark.parametrize("fmt, magic", [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_images_are_written_beside_and_linked_relatively(tmp_path, fmt, magic):
    root = _wide_store(tmp_path / "mlruns", 2, 3)
    out = tmp_path / "ci" / "summary.md"
    images = tmp_path / "ci" / "img"
    result = invoke(["summary", str(root), "-o", str(out), "--images", str(images), "--image-format", fmt])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 2 and all(link.startswith("img/") for link in links)
    for link in links:
        assert (out.parent / link).read_bytes().startswith(magic)
    # Linked from another folder: the link climbs to the images.
    other = tmp_path / "deep" / "er" / "summary.md"
    invoke(["summary", str(root), "-o", str(other), "--images", str(images)])
    assert re.findall(r"!\[[^\]]*\]\(([^)]+)\)", other.read_text())[0].startswith("../../ci/img/")


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_images_are_the_same_bytes_every_time(tmp_path, fmt):
    """vl-convert numbers clip paths per process: a summary written twice must not differ (CI diffs)."""
    root = _wide_store(tmp_path / "mlruns", 2, 3)
    for name in ("one", "two"):
        result = invoke(["summary", str(root), "-o", str(tmp_path / name / "summary.md"),
                         "--images", str(tmp_path / name / "img"), "--image-format", fmt])
        assert result.exit_code == 0, result.output
    one = {p.name: p.read_bytes() for p in (tmp_path / "one" / "img").iterdir()}
    two = {p.name: p.read_bytes() for p in (tmp_path / "two" / "img").iterdir()}
    assert len(one) == 2 and one == two


def test_default_store_is_the_tracking_uri(tmp_path):
    root = _wide_store(tmp_path / "mlruns", 1, 2)
    result = invoke(["summary"], env={"MLFLOW_TRACKING_URI": str(root)})
    assert result.exit_code == 0, result.output
    assert "## experiment-001-" in result.output


def test_json_has_no_nan_tokens(tmp_path):
    root = tmp_path / "mlruns"
    exp = mb.experiment(root, "1", "nan")
    mb.run(exp, 1, metrics={"accuracy": [(mb.T0, math.nan, 0)]})
    mb.run(exp, 2, metrics={"accuracy": [(mb.T0, math.inf, 0)]})
    with open_store(root) as store:
        text = summary_json(build_summary(store, metrics=["accuracy"]))
    assert "NaN" not in text and "Infinity" not in text
    top = json.loads(text)["experiments"][0]["top"]
    assert [row["metrics"]["accuracy"] for row in top] == [None]  # +inf clipped to null; NaN is not ranked


@pytest.mark.parametrize("args, message", [
    (["--metric", "nope"], "--metric 'nope' is not logged"),
    (["--baseline", "0123"], "--baseline '0123': no such run"),
    (["--baseline", "tag:novalue"], "write tag:KEY=VALUE"),
    (["--experiment", "missing"], "--experiment 'missing' matches no experiment"),
    (["--site-url", "javascript:alert(1)"], "must be an http or https URL"),
    (["--direction", "accuracy=up"], "write KEY=min or KEY=max"),
])
def test_bad_input_exits_2(tmp_path, args, message):
    root = _wide_store(tmp_path / "mlruns", 1, 2)
    result = CliRunner().invoke(main, ["summary", str(root), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
