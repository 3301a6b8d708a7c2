"""The CI recipes in docs/ci/ and the commands in docs/publishing.md are real: the YAML parses, and every
`reportgen ...` command line parses with the real click CLI (make_context, nothing runs), so the recipes
cannot drift from the options. Offline: actions are only checked by name."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from reportgen.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs"
CI = DOCS / "ci"
_SEPARATORS = {"|", "||", "&&", ";", "&", ";;"}
_GH_EXPR = re.compile(r"\$\{\{.*?\}\}")


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell script as word lists (split at | || && ; &, redirect targets dropped)."""
    script = script.replace("\\\n", " ")
    # GitHub expressions are filled in before the shell sees the script: a placeholder keeps them one word.
    script = _GH_EXPR.sub("GH_EXPRESSION", script)
    commands = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        target = False  # the next word is a redirect's file
        for token in lexer:
            if token in _SEPARATORS:
                commands.append(words)
                words = []
            elif token and set(token) <= set("<>()"):
                target = True
            elif target:
                target = False
            else:
                words.append(token)
        commands.append(words)
    return [words for words in commands if words]


def reportgen_commands(scripts: list[str]) -> list[list[str]]:
    return [words[1:] for script in scripts for words in shell_commands(script) if words[0] == "reportgen"]


def parse_with_cli(args: list[str]) -> tuple[str, click.Context]:
    """The subcommand name and its parsed context; raises click.UsageError when the line does not parse."""
    assert args, "a bare `reportgen` line"
    command = main.commands.get(args[0])
    assert command is not None, f"reportgen has no command {args[0]!r}"
    return args[0], command.make_context(args[0], list(args[1:]))


def _gh_workflow() -> dict:
    return yaml.safe_load((CI / "github-actions.yml").read_text())


def _gitlab() -> dict:
    return yaml.safe_load((CI / "gitlab-ci.yml").read_text())


def _jenkins_scripts() -> list[str]:
    text = (CI / "Jenkinsfile").read_text()
    pattern = re.compile(r"""\bsh\s*\(?\s*(?:'''(.*?)'''|\"\"\"(.*?)\"\"\"|'([^'\n]*)'|"([^"\n]*)")""", re.DOTALL)
    return [next(g for g in match.groups() if g is not None) for match in pattern.finditer(text)]


def _gh_scripts(workflow: dict) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]


def _gitlab_scripts(config: dict) -> list[str]:
    scripts = []
    for name, job in config.items():
        if isinstance(job, dict) and name not in ("variables", "default"):
            for key in ("before_script", "script", "after_script"):
                scripts += job.get(key, [])
    return scripts


def _md_scripts() -> list[str]:
    text = (DOCS / "publishing.md").read_text()
    return re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", text, re.DOTALL)


RECIPES = {
    "github-actions.yml": lambda: _gh_scripts(_gh_workflow()),
    "gitlab-ci.yml": lambda: _gitlab_scripts(_gitlab()),
    "Jenkinsfile": _jenkins_scripts,
    "publishing.md": _md_scripts,
}


# -- the parser helpers themselves --------------------------------------------------------------------
def test_shell_commands_cut_redirects_and_pipes():
    script = 'reportgen summary s -o x.md && cat x.md >> "$OUT"\necho "reportgen check" | tee y\n' \
             'reportgen check --rule "metrics.a >= baseline" \\\n  --baseline "tag:c=${{ github.sha }}" > out'
    assert shell_commands(script) == [
        ["reportgen", "summary", "s", "-o", "x.md"], ["cat", "x.md"], ["echo", "reportgen check"], ["tee", "y"],
        ["reportgen", "check", "--rule", "metrics.a >= baseline", "--baseline", "tag:c=GH_EXPRESSION"],
    ]


def test_a_drifted_command_is_caught():
    with pytest.raises(click.UsageError):
        parse_with_cli(["summary", "mlruns", "--no-such-option"])
    with pytest.raises(click.BadParameter):
        parse_with_cli(["summary", "mlruns", "--format", "html"])


# -- every recipe -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_reportgen_line_parses_with_the_cli(name):
    commands = reportgen_commands(RECIPES[name]())
    used = {parse_with_cli(args)[0] for args in commands}
    expected = {"summary", "check"} if name == "publishing.md" else {"build", "summary", "check"}
    assert expected <= used, f"{name} should show {sorted(expected)}"


def test_github_actions_workflow():
    workflow = _gh_workflow()
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads the bare key `on` as True
    assert set(triggers) == {"push", "pull_request"}
    steps = [step for job in workflow["jobs"].values() for step in job.get("steps", [])]
    actions = {step["uses"].split("@")[0]: step["uses"].split("@")[1] for step in steps if "uses" in step}
    assert set(actions) == {"actions/checkout", "actions/setup-python", "actions/cache/restore", "actions/cache/save",
                            "actions/upload-artifact", "actions/upload-pages-artifact", "actions/deploy-pages"}
    assert all(re.fullmatch(r"v\d+", version) for version in actions.values())
    runs = "\n".join(_gh_scripts(workflow))
    assert '>> "$GITHUB_STEP_SUMMARY"' in runs and "gh pr comment" in runs
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    # What the Pages and artifact uploads publish is the folder the build writes.
    built = {parse_with_cli(args)[1].params["output_dir"] for args in reportgen_commands(_gh_scripts(workflow))
             if args[0] == "build"}
    uploads = {step["with"]["path"].rstrip("/") for step in steps
               if step.get("uses", "").startswith(("actions/upload-artifact", "actions/upload-pages-artifact"))}
    assert uploads == built == {"site"}


def test_gitlab_ci():
    config = _gitlab()
    assert config["pages"]["artifacts"]["paths"] == ["public"]
    pages_builds = [parse_with_cli(args)[1] for args in reportgen_commands(_gitlab_scripts({"pages": config["pages"]}))]
    assert [ctx.params["output_dir"] for ctx in pages_builds] == ["public"]
    assert config["report"]["artifacts"]["paths"] == ["report/"]
    for job in ("train", "report", "baseline-check", "mr-comment", "pages"):
        assert config[job]["stage"] in config["stages"]


def test_jenkinsfile():
    text = (CI / "Jenkinsfile").read_text()
    code = re.sub(r"//[^\n]*", "", re.sub(r"'''.*?'''", "''", text, flags=re.DOTALL))
    assert code.count("{") == code.count("}") and code.count("(") == code.count(")") and code.count("[") == code.count("]")
    assert "archiveArtifacts artifacts: 'report/**'" in text
    match = re.search(r"publishHTML\(target: \[(.*?)\]\)", text, re.DOTALL)
    assert match and "reportDir: 'report'" in match.group(1) and "reportFiles: 'index.html'" in match.group(1)
    builds = [parse_with_cli(args)[1] for args in reportgen_commands(_jenkins_scripts()) if args[0] == "build"]
    assert [ctx.params["output_dir"] for ctx in builds] == ["report"]
    assert "Content-Security-Policy" in text  # the note on why the report must read without JavaScript


@pytest.mark.parametrize("command", ["summary", "check"])
def test_every_option_is_documented(command):
    text = (DOCS / "publishing.md").read_text()
    for param in main.commands[command].params:
        for option in getattr(param, "opts", []):
            if option.startswith("--"):
                assert option in text, f"docs/publishing.md does not mention `reportgen {command} {option}`"
