"""Docs that are tested: every option of `reportgen build` is in the README, and its quick start is real."""
from __future__ import annotations

import re
from pathlib import Path

import click

from reportgen.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _option_names(command: click.Command) -> list[str]:
    names = []
    for param in command.params:
        if isinstance(param, click.Option):
            names.extend(name for name in param.opts if name.startswith("--"))
    return names


def test_every_build_option_is_in_the_readme():
    missing = [name for name in _option_names(main.commands["build"]) if f"`{name}" not in README and f" {name}" not in README]
    assert missing == [], f"document these `reportgen build` options in README.md: {missing}"


def test_readme_commands_name_real_commands_and_options():
    """Every `reportgen ...` line in the README's code blocks parses with the real CLI (nothing runs)."""
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    lines = [line.split("#", 1)[0] for block in blocks for line in block.splitlines()]
    commands = [part.strip() for line in lines for part in line.split("&&") if part.strip().startswith("reportgen ")]
    assert len(commands) >= 5
    import shlex

    for command in commands:
        args = shlex.split(command)[1:]
        sub = main.commands[args[0]]
        with sub.make_context(args[0], args[1:], resilient_parsing=False) as ctx:
            assert ctx.command is sub


def test_sample_store_and_regeneration_script_exist():
    assert (ROOT / "sample_mlruns").is_dir()
    assert "python examples/make_sample_mlruns.py" in README
    assert (ROOT / "examples" / "make_sample_mlruns.py").is_file()
