"""The redaction policy (reportgen.redaction) on a corpus of names and values, the text printed to
terminals and CI logs (reportgen.printing), @mentions in summaries and URIs in messages."""
from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen.errors import ReportgenError
from reportgen.printing import printable
from reportgen.publish.text import md_escape
from reportgen.redaction import REDACTED, Redactor, env_secrets, is_secret_name, redact_text
from reportgen.uri import redact_uri

# -- names: (key, secret?) ----------------------------------------------------------------------------
SECRET_NAMES = [
    "token", "TOKEN", "hf_token", "HF_TOKEN", "GITHUB_TOKEN", "api_token", "apiToken", "accesstoken", "accessToken",
    "access_token", "authtoken", "auth_token", "apitoken", "refresh_token", "id-token", "X-Auth-Token",
    "secret", "client_secret", "clientSecret", "secretkey", "secret_key", "SECRET_KEY", "AWS_SECRET_ACCESS_KEY",
    "secrets.json", "password", "Password", "db_password", "dbpassword", "dbPassword", "password1", "PASSWORD_2",
    "adminpass", "admin_pass", "db_pass", "passwd", "mysql_pwd", "pwd", "passphrase", "ssh.passphrase",
    "auth", "Authorization", "proxy-authorization", "credential", "credentials", "gcp.credentials", "creds",
    "cookie", "session_cookie", "dsn", "sentry_dsn", "SENTRY_DSN", "connection_string", "connectionString",
    "conn_str", "connstr", "api_key", "apiKey", "API-KEY", "apikey", "openai.api_key", "access_key",
    "accessKey", "private_key", "privateKey", "ssh_key", "sshkey", "encryption_key", "encryptionKey",
    "wandb_key", "WANDB_API_KEY", "hf_key", "session_key", "jwt", "bearer", "MLFLOW_TRACKING_PASSWORD",
    "DATABRICKS_TOKEN", "storage_key", "azure_storage_key", "access_token_max", "slack_bot_token",
]
HARMLESS_NAMES = [
    "key_metric", "max_tokens", "num_tokens", "tokens", "tokenizer", "tokenizer_name", "tokenizerName",
    "token_count", "max_token", "passes", "num_passes", "max_passes", "session_len", "session", "keyword",
    "keywords", "monkey", "compass", "bypass", "bypass_cache", "passage_len", "passage", "author", "authors",
    "keys", "key", "primary_key", "sort_key", "cache_key", "metric_key", "mlflow.source.git.commit",
    "mlflow.user", "mlflow.runName", "mlflow.source.name", "lr", "learning_rate", "batch_size", "optimizer",
    "model_name", "dataset", "epochs", "dropout", "seed", "hidden_size", "s3_key",
    "turkey", "passenger_count", "n_layers",
]


def test_the_corpus_has_a_hundred_names_and_values_at_least():
    assert len(SECRET_NAMES) + len(HARMLESS_NAMES) >= 100
    assert len(SECRET_VALUES) + len(HARMLESS_VALUES) >= 60


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_are_secret(name):
    assert is_secret_name(name), name


@pytest.mark.parametrize("name", HARMLESS_NAMES)
def test_harmless_names_stay_visible(name):
    assert not is_secret_name(name), name


# -- values: (text, the secret part that must go, what must stay) --------------------------------------
SECRET_VALUES = [
    ("postgresql://h/db?password=Pw0rdA1", "Pw0rdA1", "postgresql://h/db?password=[redacted]"),
    ("http://h/?token=Tk9988z", "Tk9988z", "http://h/?token=[redacted]"),
    ("http://h/x?a=1&access_token=Acc3ss&b=2", "Acc3ss", "&b=2"),
    ("https://h/?api_key=K3yK3y", "K3yK3y", "https://h/?api_key="),
    ("s3://bucket/k?X-Amz-Signature=abc&secret=S3cr3tQ", "S3cr3tQ", "s3://bucket/k"),
    ("mysql://root:RootPw42@db:3306/app", "RootPw42", "mysql://redacted@db:3306/app"),
    ("postgresql://u:p%40ss@h/db", "p%40ss", "postgresql://redacted@h/db"),
    ("https://bob:hunter2@host/x", "hunter2", "https://redacted@host/x"),
    ("https://x-access-token:ghs_abc123@github.com/o/r.git", "ghs_abc123", "github.com/o/r.git"),
    ("mongodb+srv://admin:M0ngoPw@cluster0/x", "M0ngoPw", "cluster0/x"),
    ("redis://:R3disPw@cache:6379/0", "R3disPw", "cache:6379/0"),
    ("see s3://AKIA:xyz@bucket/k and http://h/p", "xyz@", "http://h/p"),
    ("Authorization: Bearer eyAbc.def.ghiJKL", "eyAbc.def.ghiJKL", "Authorization: "),
    ("Bearer abcdef1234567890", "abcdef1234567890", "Bearer "),
    ("curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='", "dXNlcjpwYXNzd29yZA", "curl -H"),
    ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", ""),
    ("key id ASIAIOSFODNN7EXAMPL2 used", "ASIAIOSFODNN7EXAMPL2", "key id"),
    ("ghp_" + "a1B2c3D4e5" * 4, "a1B2c3D4e5", ""),
    ("gho_" + "Z" * 36, "Z" * 36, ""),
    ("github_pat_11ABCDEFG0" + "x" * 40, "x" * 40, ""),
    ("hf_" + "AbCdEfGhIj" * 3 + "kl", "AbCdEfGhIj", ""),
    ("sk-" + "proj-" + "Q" * 40, "Q" * 40, ""),
    ("sk-ant-api03-" + "w" * 30, "w" * 30, ""),
    ("xoxb-1234567890-abcdefghij", "abcdefghij", ""),
    ("xoxp-99999-88888-secretpart", "secretpart", ""),
    ("glpat-" + "G" * 20, "G" * 20, ""),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpM", "SflKxwRJSMeKKF2QT4fwpM", ""),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow", ""),
    ("password=hunter22", "hunter22", "password="),
    ("passwd: letmein99", "letmein99", "passwd: "),
    ('{"api_key": "JsonK3y", "lr": 0.1}', "JsonK3y", '"lr": 0.1'),
    ("python train.py --password Cl1Pw --lr 0.1", "Cl1Pw", "--lr 0.1"),
    ("python train.py --hf-token=Cl1Tk", "Cl1Tk", "python train.py"),
    ("DB_PASSWORD=EnvPw77 python x.py", "EnvPw77", "python x.py"),
    ("client_secret=Cs-123&grant_type=client_credentials", "Cs-123", "grant_type="),
    ("dsn=Driver={x};Pwd=OdbcPw", "OdbcPw", "dsn="),
    ("wandb_key: WbK3y0000", "WbK3y0000", "wandb_key: "),
]
HARMLESS_VALUES = [
    "0.001", "adam", "1e-5", "True", "None", "[1, 2, 3]", "file:///tmp/mlruns/1/abc/artifacts",
    "s3://bucket/models/run-1", "https://github.com/org/repo", "git@github.com:org/repo.git", "12:30:00",
    "2024-01-01T10:00:00Z", "me@home.com", "resnet50", "max_tokens=512", "tokens: 4096", "lr=0.1 bs=32",
    "keyword: cat", "passes=3", "a=b&c=d", "http://h/?page=2&sort=asc", "monkey business", "by the author",
    "Python 3.11", "sk-short", "hf_x", "ghp_short", "primary_key=id", "key_metric: val_loss", "C++ std::vector",
    "token-level F1", "the tokenizer was bpe", "bypass=true",
]


@pytest.mark.parametrize("value,gone,kept", SECRET_VALUES)
def test_credential_values_are_hidden_whatever_the_key(value, gone, kept):
    redactor = Redactor.from_options(environ={})
    out = redactor.text(value)
    assert gone not in out, out
    assert kept in out, out
    # Under an innocent key too, and the same again (redaction is idempotent: caches keep redacted runs).
    assert redactor.mapping({"note": value}) == {"note": out}
    assert redactor.text(out) == out


@pytest.mark.parametrize("value", HARMLESS_VALUES)
def test_harmless_values_are_kept_as_they_are(value):
    assert Redactor.from_options(environ={}).text(value) == value


def test_secret_keys_hide_the_whole_value_and_user_patterns_add_more():
    redactor = Redactor.from_options(["*_email", "Opt*"], environ={})
    out = redactor.mapping({"dbpassword": "x", "user_email": "a@b", "optimizer": "adam", "lr": "0.1",
                            "max_tokens": "512"})
    assert out == {"dbpassword": REDACTED, "user_email": REDACTED, "optimizer": REDACTED, "lr": "0.1",
                   "max_tokens": "512"}


def test_no_default_redaction_keeps_only_user_patterns_and_environment_secrets():
    redactor = Redactor.from_options(["opt*"], default=False, environ={"HF_TOKEN": "hf-env-secret-value"})
    out = redactor.mapping({"api_key": "k", "optimizer": "adam", "url": "https://bob:pw@h/",
                            "cmd": "x --t hf-env-secret-value"})
    assert out == {"api_key": "k", "optimizer": REDACTED, "url": "https://bob:pw@h/", "cmd": f"x --t {REDACTED}"}
    assert redactor.fingerprint() != Redactor.from_options(["opt*"], environ={}).fingerprint()


def test_environment_secrets_are_credential_variables_and_secret_names():
    environ = {"MLFLOW_TRACKING_TOKEN": "tracking-tok-1", "MY_SERVICE_PASSWORD": "svc-pass-123", "SHORT_TOKEN": "abc",
               "HOME": "/root", "PWD": "/work/some/where", "PATH": "/usr/bin", "LR": "0.1000000"}
    found = env_secrets(environ)
    assert set(found) == {"tracking-tok-1", "svc-pass-123"}
    assert redact_text("a tracking-tok-1 b svc-pass-123", environ=environ) == f"a {REDACTED} b {REDACTED}"


def test_redact_uri_hides_userinfo_and_secret_query_values():
    assert redact_uri("postgresql://u:pw@h:5432/db?password=X9&sslmode=require") == \
        "postgresql://h:5432/db?password=[redacted]&sslmode=require"
    assert redact_uri("http://h:5000/?token=abc") == "http://h:5000/?token=[redacted]"
    assert redact_uri("/tmp/mlruns") == "/tmp/mlruns"
    assert redact_uri("http://[bad") == "http://[bad"


def test_errors_are_redacted_and_printed_on_one_line():
    message = ReportgenError("cannot open postgresql://h/db?password=Zz99Zz\n::error file=x::pwned \x1b[31m").message
    assert "Zz99Zz" not in message and "\n" not in message and "\x1b" not in message
    assert "\\n::error" in message and "\\x1b[31m" in message


@pytest.mark.parametrize("raw,shown", [
    ("a\nb", "a\\nb"), ("a\rb", "a\\rb"), ("\x1b]0;title\x07", "\\x1b]0;title\\x07"), ("x\x00y", "x\\x00y"),
    ("\x9bm", "\\x9bm"), ("a\u2028b", "a\\u2028b"), ("evil\u202etxt", "evil<U+202E>txt"),
    ("::error file=x::pwned", "\\::error file=x::pwned"), ("  ::warning::x", "  \\::warning::x"),
    ("##[error]x", "\\##[error]x"), ("file.txt: fine", "file.txt: fine"), ("a::b", "a::b"),
])
def test_printable_text_cannot_start_workflow_commands_or_escape_sequences(raw, shown):
    assert printable(raw) == shown


@pytest.mark.parametrize("raw,shown", [
    ("ping @alice", "ping `@alice`"), ("@org/team-x please", "`@org/team-x` please"),
    ("mail me@home.com", "mail me@home.com"), ("x_@y", "x\\_@y"), ("`@y", "\\``@y`"),
])
def test_mentions_in_summary_markdown_ping_nobody(raw, shown):
    assert md_escape(raw) == shown


# -- properties -------------------------------------------------------------------------------------------
# The filler never holds a character of a core, so a core found after redaction is a leak.
_ALNUM = st.text(st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZqrstuvwxyz23456789"), min_size=30, max_size=40)
_FILLER = st.text(st.sampled_from("abcdefghij klmnop.,;:/-_=01"), max_size=40)


@st.composite
def _planted(draw):
    core = draw(_ALNUM)
    shape = draw(st.sampled_from([
        "ghp_{}", "hf_{}", "sk-{}", "glpat-{}", "xoxb-{}", "Bearer {}", "password={}", "?token={}", "&api_key={}",
        "https://u:{}@h/", "mysql://root:{}@db/x", '"client_secret": "{}"', "--db-password {}", "AKIA{}",
    ]))
    if shape == "AKIA{}":
        core = core.upper()[:16].ljust(16, "Q")
    return core, draw(_FILLER) + " " + shape.format(core) + " " + draw(_FILLER)


@settings(max_examples=300, deadline=None)
@given(_planted())
def test_no_planted_credential_survives_in_any_text(planted):
    core, text = planted
    out = Redactor.from_options(environ={}).text(text)
    assert core not in out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["", "_", "-", ".", "/", " "]), min_size=1, max_size=3),
       st.sampled_from(["db", "admin", "my", "x", "API", "Svc"]),
       st.sampled_from(["password", "token", "secret", "api_key", "accessToken", "passwd", "credentials"]))
def test_secret_words_stay_secret_with_any_prefix_and_separator(seps, prefix, word):
    assert is_secret_name(prefix + seps[0] + word)


def test_two_thousand_clean_runs_are_redacted_in_milliseconds():
    """The fast path: a store with nothing to hide costs one joined scan (the budget is generous)."""
    from test_aggregate import make_run

    runs = [make_run(i, params={"lr": str(i / 1000), "optimizer": "adam", "batch_size": "32", "max_tokens": "512",
                                "tokenizer": "bpe", "data": f"/data/shard-{i % 7}.parquet"},
                     metrics={"acc": 0.5}) for i in range(2000)]
    for run in runs:
        run.data.tags.update({"mlflow.source.name": "train.py", "mlflow.user": "me",
                              "mlflow.source.git.commit": "0123456789abcdef" * 2})
    redactor = Redactor.from_options(environ={})
    redactor.runs(runs)  # keys judged once
    started = time.perf_counter()
    out = redactor.runs(runs)
    elapsed = time.perf_counter() - started
    assert all(a is b for a, b in zip(out, runs))
    assert elapsed < 0.25, elapsed
