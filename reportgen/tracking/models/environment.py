"""The environment files MLflow saves with a model: requirements.txt, conda.yaml, python_env.yaml.

MLflow infers requirements by loading the model in a subprocess and watching imports; here they are
the packages of the classes and functions the model's pickle names, which needs no second process.
"""
from __future__ import annotations

import importlib.metadata
import os
import pickle
import platform
import sys
import types
from pathlib import Path
from typing import Any, Iterable

import yaml

from reportgen.errors import InvalidParameterValue

REQUIREMENTS_FILE = "requirements.txt"
CONDA_FILE = "conda.yaml"
PYTHON_ENV_FILE = "python_env.yaml"
# The MLflow release whose model format this package writes: the floor when MLflow is not installed.
MLFLOW_FORMAT_VERSION = "3.17"
_BUILD_PACKAGES = ("pip", "setuptools", "wheel")
_MLFLOW_NAMES = ("mlflow", "mlflow-skinny", "mlflow-tracing")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def pinned(distribution: str) -> str:
    version = _version(distribution)
    return f"{distribution}=={version}" if version else distribution


def mlflow_requirement() -> str:
    """mlflow pinned to the installed release as MLflow pins itself, else the format's floor."""
    version = _version("mlflow")
    return f"mlflow=={version}" if version else f"mlflow>={MLFLOW_FORMAT_VERSION}"


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


class _ModuleRecorder(pickle.Pickler):
    """Pickles into nothing (array buffers left out of band, so nothing is copied), noting the top-level
    module of every class and function the pickle would name."""

    def __init__(self) -> None:
        super().__init__(_Discard(), protocol=5, buffer_callback=lambda _: None)
        self.modules: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        named = obj if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)) else type(obj)
        module = getattr(named, "__module__", None)
        if isinstance(module, str):
            self.modules.add(module.split(".", 1)[0])
        return NotImplemented  # pickle it the usual way


def pickled_modules(obj: Any) -> set[str]:
    """Top-level modules of every class and function a pickle of obj refers to."""
    recorder = _ModuleRecorder()
    recorder.dump(obj)
    return recorder.modules


def distributions_of(modules: Iterable[str]) -> set[str]:
    """The installed distributions providing these top-level modules (stdlib and local code skipped)."""
    providers = importlib.metadata.packages_distributions()
    found = set()
    for module in modules:
        if module in sys.stdlib_module_names or module in ("builtins", "__main__"):
            continue
        found.update(providers.get(module, ()))
    return found


def requirements(default: Iterable[str], pip_requirements: Iterable[str] | None,
                 extra_pip_requirements: Iterable[str] | None) -> list[str]:
    """requirements.txt lines: the user's list, or the defaults plus extras; mlflow first unless named."""
    if pip_requirements is not None:
        lines = list(pip_requirements)
    else:
        lines = list(default) + list(extra_pip_requirements or ())
    if not any(_name(line) in _MLFLOW_NAMES for line in lines):
        lines.insert(0, mlflow_requirement())
    seen, unique = set(), []
    for line in lines:
        if line not in seen:
            seen.add(line)
            unique.append(line)
    return unique


def from_conda_env(conda_env: dict[str, Any] | str | os.PathLike[str]) -> tuple[dict[str, Any], list[str]]:
    """A user's conda env (dict or YAML file) and its pip lines, mlflow added first unless named."""
    if not isinstance(conda_env, dict):
        try:
            conda_env = yaml.safe_load(Path(conda_env).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidParameterValue(f"cannot read conda_env {conda_env}: {exc}") from None
    if not isinstance(conda_env, dict) or not isinstance(conda_env.get("dependencies", []), list):
        raise InvalidParameterValue("conda_env must be a mapping with a `dependencies` list")
    dependencies = conda_env.get("dependencies", [])
    pip_lines = next((list(dep["pip"]) for dep in dependencies if isinstance(dep, dict) and "pip" in dep), [])
    pip_lines = requirements([], pip_lines, None)
    rebuilt, replaced = [], False
    for dep in dependencies:
        if isinstance(dep, dict) and "pip" in dep:
            dep, replaced = {"pip": pip_lines}, True  # the completed list replaces the user's pip entry
        rebuilt.append(dep)
    if not replaced:
        rebuilt.append({"pip": pip_lines})
    return {**conda_env, "dependencies": rebuilt}, pip_lines

def _name(requirement: str) -> str:
    name = requirement.strip()
    for stop in "=<>!~[; ":
        name = name.split(stop, 1)[0]
    return name.lower().replace("_", "-")


def conda_env(pip_lines: list[str]) -> dict[str, Any]:
    pip_version = _version("pip")
    return {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        # MLflow writes pip<= rather than == since conda-forge lags behind PyPI.
        "dependencies": [f"python={platform.python_version()}", f"pip<={pip_version}" if pip_version else "pip",
                         {"pip": pip_lines}],
    }


def write_env_files(folder: Path, pip_lines: list[str], conda: dict[str, Any] | None = None) -> None:
    """requirements.txt, conda.yaml (the user's, or the default) and python_env.yaml, as MLflow writes them."""
    (folder / CONDA_FILE).write_text(yaml.safe_dump(conda or conda_env(pip_lines), default_flow_style=False))
    (folder / REQUIREMENTS_FILE).write_text("\n".join(pip_lines))
    python_env = {
        "python": platform.python_version(),
        "build_dependencies": [pinned(name) for name in _BUILD_PACKAGES],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (folder / PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env, sort_keys=False, default_flow_style=False))
