"""`reportgen build` through click's CliRunner: options reach the build, errors are one line."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import mlruns_builder as mb
from reportgen.cli import main
from site_stores import html_pages

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")  # skipped items are asserted on


def run_cli(*args, **kwargs):
    return CliRunner().invoke(main, ["build", *args], catch_exceptions=False, **kwargs)


def test_build_prints_a_summary(tmp_path, store):
    result = run_cli(str(store), "-o", str(tmp_path / "site"))
    assert result.exit_code == 0, result.output
    assert "Built 12 pages for 6 runs in 2 experiments" in result.output
    assert "0 warnings" in result.output
    assert (tmp_path / "site" / "index.html").is_file()


def test_quiet_prints_nothing(tmp_path, store):
    result = run_cli(str(store), "-o", str(tmp_path / "site"), "--quiet")
    assert result.exit_code == 0 and result.output == ""


def test_errors_are_one_line_without_traceback(tmp_path, store):
    result = CliRunner().invoke(main, ["build", str(tmp_path / "nope"), "-o", str(tmp_path / "site")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output
    bad_filter = CliRunner().invoke(main, ["build", str(store), "-o", str(tmp_path / "s"), "--filter", "metrics.loss <"])
    assert bad_filter.exit_code == 1 and bad_filter.output.startswith("Error: ")


def test_experiment_and_filter_options(tmp_path, store):
    result = run_cli(str(store), "-o", str(tmp_path / "site"), "-q", "--experiment", "vis*", "--jobs", "2",
                     "--filter", "params.lr = '0.1'", "--title", "My <report>")
    assert result.exit_code == 0, result.output
    pages = html_pages(tmp_path / "site")
    assert [card.h2.get_text() for card in pages["index.html"].select(".rg-experiment-card")] == ["vision"]
    assert pages["index.html"].h1.get_text() == "My <report>"
    assert len(pages["e/1/index.html"].select("tbody tr[data-run-id]")) == 2
    missing = CliRunner().invoke(main, ["build", str(store), "-o", str(tmp_path / "x"), "--experiment", "nothing*"])
    assert missing.exit_code == 1 and "matches no experiment" in missing.output


def test_experiment_by_id_and_several_stores_merge(tmp_path, store):
    other = tmp_path / "other"
    exp = mb.experiment(other, "1", "audio")
    mb.run(exp, 9, name="a1")
    result = run_cli(str(store), str(other), "-o", str(tmp_path / "site"), "-q", "--experiment", "1")
    assert result.exit_code == 0, result.output
    pages = html_pages(tmp_path / "site")
    names = [card.h2.get_text() for card in pages["index.html"].select(".rg-experiment-card")]
    assert names == ["vision", "audio"]
    assert "e/0-1/index.html" in pages and "e/1-1/index.html" in pages


def test_default_store_from_environment_then_cwd(tmp_path, store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(store))
    monkeypatch.chdir(tmp_path)
    assert run_cli("-o", "site1", "-q").exit_code == 0
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert run_cli("-o", "site2", "-q").exit_code == 0  # ./mlruns
    monkeypatch.chdir(tmp_path / "site1")
    result = CliRunner().invoke(main, ["build", "-o", "../site3"])
    assert result.exit_code == 1 and "no store given" in result.output


def test_strict_fails_on_the_first_problem(tmp_path, store):
    (store / "1" / f"{3:032x}" / "meta.yaml").write_text("")
    assert run_cli(str(store), "-o", str(tmp_path / "a"), "-q").exit_code == 0
    result = CliRunner().invoke(main, ["build", str(store), "-o", str(tmp_path / "b"), "--strict"])
    assert result.exit_code == 1 and f"{3:032x}" in result.output
    assert not (tmp_path / "b").exists()


def test_size_options_and_no_artifacts(tmp_path, store):
    result = run_cli(str(store), "-o", str(tmp_path / "a"), "-q", "--max-artifact-size", "10", "--max-site-size", "1k")
    assert result.exit_code == 0
    assert not list((tmp_path / "a").glob("r/*/files/*-model.bin"))
    assert run_cli(str(store), "-o", str(tmp_path / "b"), "-q", "--no-artifacts").exit_code == 0
    assert not list((tmp_path / "b").glob("r/*/files"))
    bad = CliRunner().invoke(main, ["build", str(store), "-o", str(tmp_path / "c"), "--max-artifact-size", "lots"])
    assert bad.exit_code == 2 and "is not a size" in bad.output


def test_redact_option(tmp_path, store):
    result = run_cli(str(store), "-o", str(tmp_path / "a"), "-q", "--redact", "opt*")
    assert result.exit_code == 0
    data = json.loads((tmp_path / "a" / "e" / "1" / "runs.json").read_text())
    assert {record["params.optimizer"] for record in data} - {None} == {"[redacted]"}


def test_theme_folder_overrides_one_partial(tmp_path, store):
    theme = tmp_path / "mytheme"
    (theme / "templates").mkdir(parents=True)
    (theme / "templates" / "_footer.html").write_text('<footer class="mine">Made by us for {{ site_title }}</footer>\n')
    (theme / "static" / "css").mkdir(parents=True)
    (theme / "static" / "css" / "zz-extra.css").write_text("body { outline: 0; }\n")
    result = run_cli(str(store), "-o", str(tmp_path / "site"), "-q", "--theme", str(theme))
    assert result.exit_code == 0, result.output
    page = html_pages(tmp_path / "site")["index.html"]
    assert page.select_one("footer.mine").get_text() == "Made by us for Experiment report"
    assert page.select_one(".rg-experiment-card") is not None, "everything else comes from the default theme"
    assert [link["href"] for link in page.select("link[rel=stylesheet]")] == ["static/css/reportgen.css",
                                                                             "static/css/zz-extra.css"]
    unknown = CliRunner().invoke(main, ["build", str(store), "-o", str(tmp_path / "x"), "--theme", "nosuch"])
    assert unknown.exit_code == 1 and "unknown theme" in unknown.output


def test_no_static_charts_leaves_out_the_images_for_pages_without_javascript(tmp_path, store):
    for flags, site in (([], "with"), (["--no-static-charts"], "without")):
        assert run_cli(str(store), "-o", str(tmp_path / site), "-q", "--no-cache", *flags).exit_code == 0
    drawn = sorted(path.relative_to(tmp_path / "with").as_posix() for path in (tmp_path / "with").rglob("*.svg"))
    assert drawn and all(path.startswith("e/") for path in drawn)
    assert not list((tmp_path / "without").rglob("*.svg"))
    pages = {site: "".join(page.read_text() for page in (tmp_path / site / "e").rglob("*.html"))
             for site in ("with", "without")}
    assert "rg-chart-fallback" in pages["with"] and "rg-chart-fallback" not in pages["without"]


def test_every_build_option_is_documented_in_help():
    help_text = CliRunner().invoke(main, ["build", "--help"]).output
    for option in ("--output", "--experiment", "--filter", "--title", "--theme", "--max-points", "--no-artifacts",
                   "--no-static-charts", "--max-artifact-size", "--max-site-size", "--redact", "--jobs", "--strict",
                   "--quiet"):
        assert option in help_text


def _console_script(*args, cwd):
    """`reportgen ARGS` as the installed console script runs it (reportgen.cli:main), in a fresh process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", "import sys; from reportgen.cli import main; sys.argv[0] = 'reportgen'; main()",
                           *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_the_console_script_keeps_output_and_exit_status(tmp_path, store):
    """The console script in a fresh process: the summary arrives whole, the
    site and cache are complete, and failures keep their status and message."""
    done = _console_script("build", str(store), "-o", str(tmp_path / "site"), "--cache-dir", str(tmp_path / "cache"),
                           cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Built 12 pages for 6 runs in 2 experiments" in done.stdout + done.stderr  # (the summary: stderr)
    assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "cache" / "index.json").is_file()
    again = _console_script("build", str(store), "-o", str(tmp_path / "site"), "--cache-dir", str(tmp_path / "cache"),
                            cwd=tmp_path)
    assert again.returncode == 0 and "reused" in (again.stdout + again.stderr).lower(), again.stderr  # a whole cache
    missing = _console_script("build", str(tmp_path / "nope"), "-o", str(tmp_path / "other"), cwd=tmp_path)
    assert missing.returncode == 1 and "nope" in missing.stderr and "Traceback" not in missing.stderr
    unknown = _console_script("build", "--no-such-option", cwd=tmp_path)
    assert unknown.returncode == 2 and "No such option" in unknown.stderr
    version = _console_script("--version", cwd=tmp_path)
    assert version.returncode == 0 and "reportgen" in version.stdout
