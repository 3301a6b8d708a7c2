"""Secrets planted in a store never reach any output: site pages, runs.csv/runs.json, the build cache,
`reportgen summary` (Markdown and JSON), `reportgen check`, error messages and what the CLI prints."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import mlruns_builder as mb
from reportgen.cli import main

ENV_SECRET = "EnvTrackingTok9Q7W"
# Each planted secret holds a unique core; the test looks for the cores in every byte written or printed.
CORES = [f"Zq{n:02d}Lk{n * 7919 % 10007:05d}Xv" for n in range(200)]
_c = iter(CORES)

# (where, key, value): the key is secret by name, or the value is a credential whatever the key.
SECRET_PARAMS = [
    ("api_key", next(_c)), ("dbpassword", next(_c)), ("accesstoken", next(_c)), ("authToken", next(_c)),
    ("apitoken", next(_c)), ("secretkey", next(_c)), ("adminpass", next(_c)), ("password1", next(_c)),
    ("wandb_key", next(_c)), ("ssh_key", next(_c)), ("encryption_key", next(_c)), ("HF_TOKEN", next(_c)),
    ("client_secret", next(_c)), ("sentry_dsn", next(_c)), ("connection_string", next(_c)),
    ("session_cookie", next(_c)), ("gcp_credentials", next(_c)), ("X-Auth", next(_c)),
]
CREDENTIAL_VALUES = [
    ("db_uri", "postgresql://h/db?password={}"), ("tracking", "http://h:5000/?token={}"),
    ("mirror", "mysql://root:{}@db:3306/x"), ("header", "Authorization: Bearer {}"),
    ("gh", "ghp_{}AAAAAAAAAAAAAA"), ("hub", "hf_{}BBBBBBBBBBBBBBBBBBBBB"), ("llm", "sk-{}CCCCCCCC"),
    ("cmd", "python train.py --password {} --lr 0.1"), ("cfg", '{{"api_key": "{}"}}'),
    ("slack", "xoxb-{}"), ("gitlab", "glpat-{}DDDDDDDD"),
]
HARMLESS = {"key_metric": "val_loss", "max_tokens": "512", "tokenizer": "bpe", "passes": "3",
            "session_len": "128", "keyword": "cat", "bypass_cache": "true", "author": "ada", "primary_key": "id"}


def _plant(root: Path) -> list[str]:
    """A store with the secrets everywhere a run or an experiment can hold text; returns the cores used."""
    used: list[str] = []

    def core() -> str:
        used.append(next(_cores))
        return used[-1]

    _cores = iter(CORES[60:])
    exp = mb.experiment(root, "1", "secrets", tags={"deploy_token": core(),
                                                     "mlflow.note.content": f"deploy with password={core()}"})
    for index in range(4):
        params = dict(HARMLESS)
        params["lr"] = str(0.1 * (index + 1))
        for key, value in SECRET_PARAMS:
            params[key] = f"{value}{index}"
        for key, template in CREDENTIAL_VALUES:
            params[key] = template.format(core())
        params["echo"] = f"uses {ENV_SECRET} here"
        tags = {"mlflow.note.content": f"token={core()} and Bearer {core()}", "api_secret": core(),
                "mlflow.source.name": f"https://ci:{core()}@git.example/repo.git"}
        mb.run(exp, index + 1, name=f"run {index} ghp_{core()}QQQQQQQQQQQQQQQQ", params=params, tags=tags,
               artifact_uri=f"s3://user:{core()}@bucket/artifacts/{index}",
               metrics={"accuracy": [(mb.T0 + s, 0.5 + 0.1 * index + 0.01 * s, s) for s in range(5)]})
    return [value for _, value in SECRET_PARAMS] + used + [ENV_SECRET]


@pytest.fixture()
def planted(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", ENV_SECRET)
    store = tmp_path / "mlruns"
    secrets = _plant(store)
    assert len(secrets) >= 60
    return store, secrets


def _leaks(secrets: list[str], blobs: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(name, secret) for name, blob in blobs.items() for secret in secrets if secret.encode() in blob]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_no_planted_secret_reaches_the_site_the_cache_the_summaries_or_the_logs(planted, tmp_path, capfd):
    store, secrets = planted
    site, cache = tmp_path / "site", tmp_path / "cache"
    outputs: dict[str, bytes] = {}
    for attempt in range(2):  # the second build reads through the cache
        result = _invoke("build", str(store), "-o", str(site), "--cache-dir", str(cache), "--title", "t")
        assert result.exit_code == 0, result.output
        outputs[f"build {attempt} output"] = (result.output + (result.stderr or "")).encode()
    md = _invoke("summary", str(store), "--format", "md", "--metric", "accuracy", "--baseline", "best")
    js = _invoke("summary", str(store), "--format", "json", "--metric", "accuracy")
    check = _invoke("check", str(store), "--baseline", "best", "--candidate", "latest", "--rule",
                    "metrics.accuracy >= baseline - 1", "--format", "md")
    for name, result in (("summary md", md), ("summary json", js), ("check", check)):
        assert result.exit_code == 0, result.output
        outputs[name] = (result.output + (result.stderr or "")).encode()
    captured = capfd.readouterr()
    outputs["fd"] = (captured.out + captured.err).encode()
    written = {**_files(site), **_files(cache)}
    assert any(name.endswith("runs.csv") for name in written) and any(name.endswith("runs.json") for name in written)
    assert any("read" in name for name in _files(cache)), "the read cache was written"
    assert _leaks(secrets, {**written, **outputs}) == []

    # What is hidden is said to be hidden, and the harmless names and values stay visible.
    page = next(blob for name, blob in written.items() if "/r/" in name and name.endswith(".html")).decode()
    assert "[redacted]" in page
    for key, value in HARMLESS.items():
        assert key in page, key
    summary = json.loads(js.output)
    row = summary["experiments"][0]["top"][0]
    constants = summary["experiments"][0]["constant_params"]
    assert constants["max_tokens"] == "512" and constants["tokenizer"] == "bpe" and constants["key_metric"] == "val_loss"
    assert "[redacted]" in row["run_name"] and row["params"]["dbpassword"] == "[redacted]"
    assert "postgresql://h/db?password=[redacted]" in page


def test_runs_json_and_csv_hide_secret_params_but_keep_harmless_ones(planted, tmp_path):
    store, secrets = planted
    site = tmp_path / "site"
    assert _invoke("build", str(store), "-o", str(site), "--no-cache", "-q").exit_code == 0
    records = json.loads((site / "e" / "1" / "runs.json").read_text())
    assert {r["params.dbpassword"] for r in records} == {"[redacted]"}
    assert {r["params.max_tokens"] for r in records} == {"512"}
    assert all(r["params.db_uri"] == "postgresql://h/db?password=[redacted]" for r in records)
    csv = (site / "e" / "1" / "runs.csv").read_text()
    assert "params.accesstoken" in csv and "bpe" in csv and not any(s in csv for s in secrets)


def test_no_default_redaction_warns_loudly_and_shows_what_was_hidden(planted, tmp_path):
    store, _ = planted
    result = _invoke("summary", str(store), "--format", "json", "--no-default-redaction", "--redact", "api_*")
    assert result.exit_code == 0
    assert "WARNING: --no-default-redaction" in result.stderr
    row = json.loads(result.stdout)["experiments"][0]["top"][0]
    assert row["params"]["api_key"] == "[redacted]"  # --redact still applies
    assert row["params"]["dbpassword"].startswith(CORES[1])  # the built-in rules do not
    assert ENV_SECRET not in result.stdout  # nor does the environment's token
    build = _invoke("build", str(store), "-o", str(tmp_path / "s"), "--no-cache", "--no-default-redaction", "-q")
    assert "WARNING: --no-default-redaction" in build.stderr


@pytest.mark.parametrize("uri", [
    "postgresql://127.0.0.1:1/db?password=PwInUri123",
    "mysql://root:PwInUri123@127.0.0.1:1/db",
    "bogus://u:PwInUri123@h/x?token=PwInUri123",
    "http://127.0.0.1:1/?token=PwInUri123",
])
@pytest.mark.parametrize("command", ["build", "summary", "check"])
def test_error_messages_never_echo_a_password_in_a_uri(tmp_path, uri, command, capfd):
    args = {"build": ["build", uri, "-o", str(tmp_path / "site"), "--no-cache"], "summary": ["summary", uri],
            "check": ["check", uri, "--rule", "metrics.a >= 0"]}[command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    captured = capfd.readouterr()
    text = result.output + (result.stderr or "") + captured.out + captured.err
    assert "Error" in text and "PwInUri123" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def test_problems_printed_by_a_build_are_one_line_without_escapes(tmp_path):
    """A file name with a newline, a workflow command and an escape sequence is printed escaped, on the
    warning's own line (no wrapping either: a wrapped line could start with "::")."""
    store = tmp_path / "mlruns"
    exp = mb.experiment(store, "1", "e")
    run_id = mb.run(exp, 1, params={"lr": "0.1"})
    mb.write(exp / run_id / "metrics" / "bad\n::error file=x::pwned\x1b[31m", "not a metric line\n")
    result = _invoke("build", str(store), "-o", str(tmp_path / "site"), "--no-cache")
    assert result.exit_code == 0, result.output
    text = result.output + (result.stderr or "")
    assert "1 warning" in text and "\x1b" not in text
    assert not any(line.lstrip().startswith("::") for line in text.splitlines())
    warning = next(line for line in text.splitlines() if line.startswith("  warning: "))
    assert "bad\\n::error file=x::pwned\\x1b[31m: skipped 1 bad metric line" in warning


def test_the_problems_page_and_the_build_result_redact_what_a_problem_quotes(tmp_path):
    """A problem names a file, and a file name can carry a credential: the page shows it redacted."""
    store = tmp_path / "mlruns"
    exp = mb.experiment(store, "1", "e")
    run_id = mb.run(exp, 1, params={"lr": "0.1"})
    mb.write(exp / run_id / "artifacts" / ".env password=PlantedInName42", "x")
    mb.write(exp / run_id / "metrics" / "loss token=PlantedInKey77", "not a metric line\n")
    from reportgen.site import build_site

    with pytest.warns(UserWarning) as warned:
        result = build_site([str(store)], tmp_path / "site", static_charts=False)
    page = (tmp_path / "site" / "problems.html").read_text(encoding="utf-8")
    assert page.count("[redacted]") >= 2, page
    shown = page + "".join(str(problem) for problem in result.problems) + "".join(str(w.message) for w in warned)
    assert "PlantedInName42" not in shown and "PlantedInKey77" not in shown
    assert ".env" in page and "loss" in page  # the problem is still named
