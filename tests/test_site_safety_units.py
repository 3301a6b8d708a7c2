"""Unit checks of the safety helpers: JSON in script blocks, markdown sanitizing, redaction, CSV cells."""
from __future__ import annotations

import json
import math

from hypothesis import given, strategies as st

from reportgen.redaction import REDACTED, Redactor
from reportgen.site.jsonblock import json_script
from reportgen.site.markdown_html import render_markdown
from reportgen.site.pages.exports import csv_cell


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=20))
def test_json_script_round_trips_and_never_holds_markup(value):
    text = str(json_script(value))
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == value


def test_json_script_has_no_bare_nan():
    text = str(json_script({"a": math.nan, "b": [math.inf, -math.inf], "c": 1.5}))
    assert json.loads(text) == {"a": None, "b": [None, None], "c": 1.5}  # orjson's rule: null
    assert "</script>" not in str(json_script("</script><!--"))


def test_markdown_is_sanitized():
    html = str(render_markdown(
        "# T\n<script>alert(1)</script><img src=x onerror=alert(2)> [a](javascript:alert(3)) "
        "<a href='JaVaScRiPt:alert(4)'>b</a> [c](https://example.com) <iframe src=x></iframe> "
        "<style>body{}</style> ![r](https://tracker.example/p.png)\n\n|x|y|\n|-|-|\n|1|2|"))
    lowered = html.lower()
    for bad in ("<script", "onerror", "javascript:", "<iframe", "<style", "<img", "tracker.example"):
        assert bad not in lowered
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">c</a>' in html
    assert "<table>" in html and "<h1>T</h1>" in html


def test_redactor_defaults_patterns_userinfo_and_env_secrets():
    redactor = Redactor.from_options(["*_email"], environ={"MLFLOW_TRACKING_TOKEN": "tok-123456"})
    values = redactor.mapping({"api_key": "a", "db_password": "b", "AWS_SECRET_ACCESS_KEY": "c", "token": "d",
                               "user_email": "e", "lr": "0.1", "mlflow.source.git.commit": "abc",
                               "url": "https://bob:hunter2@host/x", "note": "uses tok-123456 here"})
    assert values["api_key"] == values["db_password"] == values["AWS_SECRET_ACCESS_KEY"] == REDACTED
    assert values["token"] == values["user_email"] == REDACTED
    assert values["lr"] == "0.1" and values["mlflow.source.git.commit"] == "abc"
    assert values["url"] == "https://redacted@host/x"
    assert values["note"] == f"uses {REDACTED} here"
    assert redactor.text("see s3://AKIA:xyz@bucket/k and http://h/p") == "see s3://redacted@bucket/k and http://h/p"


def test_secret_names_are_words_not_substrings():
    redactor = Redactor.from_options(environ={})
    secret = ["hf_token", "GITHUB_TOKEN", "client_secret", "apiKey", "openai.api_key", "db_pass", "X-Auth"]
    visible = ["max_passes", "max_tokens", "tokenizer", "bypass", "author", "lr"]
    assert [k for k in secret if not redactor.is_secret_key(k)] == []
    assert [k for k in visible if redactor.is_secret_key(k)] == []


def test_csv_cells_are_formula_safe():
    assert csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    for start in "+-@\t\r":
        assert csv_cell(start + "1+1").startswith("'")
    assert csv_cell("-1") == "-1" and csv_cell("+2.5e3") == "+2.5e3"  # plain numbers (params are text) stay numbers
    assert csv_cell(-1.5) == "-1.5" and csv_cell(math.nan) == "NaN" and csv_cell(None) == ""
    assert csv_cell("plain") == "plain"


def test_redactor_returns_a_run_unchanged_exactly_when_nothing_is_hidden():
    """run() skips runs with nothing to hide (a cheap test over thousands of runs): the test must agree
    with scrubbing every field, whichever field holds the secret."""
    from test_aggregate import make_run

    redactor = Redactor.from_options(["*_email"], environ={"MLFLOW_TRACKING_TOKEN": "tok-123456"})
    cases = {
        "clean": ({"lr": "0.1"}, {"note": "fine"}),
        "secret param key": ({"api_key": "x"}, {}),
        "secret tag key": ({}, {"hf_token": "x"}),
        "pattern key": ({"user_email": "a"}, {}),
        "userinfo in a tag": ({}, {"src": "https://bob:pw@host/x"}),
        "env secret in a param": ({"cmd": "run --t tok-123456"}, {}),
        "at sign without userinfo": ({"who": "me@home"}, {}),
    }
    for name, (params, tags) in cases.items():
        run = make_run(1, params=params)
        run.data.tags.update(tags)
        redacted = redactor.run(run)
        scrubbed = (redactor.mapping(run.data.params), redactor.mapping(run.data.tags))
        changed = scrubbed != (run.data.params, run.data.tags)
        assert (redacted is not run) == (changed or name == "at sign without userinfo"), name
        assert (redacted.data.params, redacted.data.tags) == scrubbed, name


def test_redacting_runs_together_equals_one_by_one():
    """runs() looks at all runs at once when nothing is hidden; with a secret anywhere it is run() for each."""
    from test_aggregate import make_run

    redactor = Redactor.from_options(["*_email"], environ={"MLFLOW_TRACKING_TOKEN": "tok-123456"})
    clean = [make_run(i, params={"lr": str(i / 10)}) for i in range(5)]
    assert all(a is b for a, b in zip(redactor.runs(clean), clean))
    for params, tags in [({"api_key": "x"}, {}), ({}, {"src": "https://bob:pw@host/x"}),
                         ({"cmd": "run --t tok-123456"}, {}), ({"user_email": "a"}, {})]:
        runs = [make_run(i, params={"lr": str(i / 10)}) for i in range(5)]
        runs[3].data.params.update(params)
        runs[3].data.tags.update(tags)
        together = redactor.runs(runs)
        assert [(r.data.params, r.data.tags) for r in together] == \
            [(r.data.params, r.data.tags) for r in map(redactor.run, runs)]
        assert together[3] is not runs[3] and together[0] is runs[0]


def test_a_key_judged_secret_elsewhere_first_is_still_redacted_in_runs():
    """Keys are judged once: one first met in an experiment's tags stays secret in every run after."""
    from test_aggregate import make_run

    redactor = Redactor.from_options([])
    assert redactor.mapping({"api_token": "abc"}) == {"api_token": REDACTED}
    assert redactor.run(make_run(1, params={"api_token": "leak-me"})).data.params == {"api_token": REDACTED}
    assert redactor.runs([make_run(2, params={"api_token": "leak-me"})])[0].data.params == {"api_token": REDACTED}
