"""Which store and experiments a command reads, and the file-name key of an id: shared by `reportgen build`
(site.gather) and `reportgen summary`/`check` (publish), whose links point at the site's pages."""
from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from pathlib import Path
from typing import Sequence

from reportgen.errors import ReportgenError
from reportgen.model import Experiment
from reportgen.uri import ENV_TRACKING_URI

_SAFE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def default_store_uris(environ: dict[str, str] | None = None, cwd: Path | None = None) -> list[str]:
    """MLFLOW_TRACKING_URI, else ./mlruns, else ./mlflow.db (what `mlflow ui` would show)."""
    environ = dict(os.environ) if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    if environ.get(ENV_TRACKING_URI):
        return [environ[ENV_TRACKING_URI]]
    if (cwd / "mlruns").is_dir():
        return [str(cwd / "mlruns")]
    if (cwd / "mlflow.db").is_file():
        return [f"sqlite:///{cwd / 'mlflow.db'}"]
    raise ReportgenError("no store given: pass a store path or URI, set MLFLOW_TRACKING_URI, "
                         "or run where ./mlruns or ./mlflow.db exists")


def url_key(value: str) -> str:
    """A folder or file name for an id (the site's pages, the summary's links to them): the id itself
    when it is plain, else a short hash."""
    if _SAFE_KEY_RE.match(value):
        return value
    return "h" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def experiment_matches(experiment: Experiment, pattern: str) -> bool:
    """An --experiment pattern names the experiment: its id, its name, or a glob of its name."""
    return (experiment.experiment_id == pattern or experiment.name == pattern
            or fnmatch.fnmatchcase(experiment.name, pattern))


def select_experiments(experiments: list[Experiment], patterns: Sequence[str]) -> list[Experiment]:
    """The experiments named (by id, name or glob); every pattern must match one at least."""
    if not patterns:
        return experiments
    for pattern in patterns:
        if not any(experiment_matches(exp, pattern) for exp in experiments):
            raise ReportgenError(f"--experiment {pattern!r} matches no experiment")
    return [exp for exp in experiments if any(experiment_matches(exp, p) for p in patterns)]
