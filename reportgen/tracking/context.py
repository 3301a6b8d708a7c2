"""The system tags MLflow sets on a new run: user, source name and type, and git commit and branch.

Git information is read straight from the .git folder (HEAD, refs, packed-refs), without gitpython.
"""
from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

USER = "mlflow.user"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO_URL = "mlflow.source.git.repoURL"
PARENT_RUN_ID = "mlflow.parentRunId"
RUN_NAME = "mlflow.runName"
NOTE = "mlflow.note.content"

_git_cache: dict[str, dict[str, str]] = {}


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # getpass raises various errors when no user name is known (containers)
        return "unknown"


def _main_file() -> str | None:
    return sys.argv[0] if sys.argv and sys.argv[0] else None


def system_tags() -> dict[str, str]:
    """mlflow.user, mlflow.source.name, mlflow.source.type and, inside a git checkout, git tags."""
    main_file = _main_file()
    tags = {
        USER: os.environ.get("MLFLOW_TRACKING_USERNAME") or current_user(),
        SOURCE_NAME: main_file if main_file is not None else "<console>",
        SOURCE_TYPE: "LOCAL",
    }
    if main_file is not None:
        tags.update(git_tags(main_file))
    return tags


def resolve_tags(user_tags: dict[str, str] | None) -> dict[str, str]:
    """System tags overridden by the user's tags (MLflow's context registry order)."""
    tags = system_tags()
    tags.update(user_tags or {})
    return tags


def git_tags(path: str) -> dict[str, str]:
    """Commit, branch and first remote URL of the checkout holding `path`, as MLflow finds them.

    {} outside a checkout, for a path that is not a file or folder (python -c), and when git
    ignores the folder (MLflow then records no commit, and so no git tags at all).
    """
    full = os.path.abspath(path)
    if os.path.isfile(full):
        folder = Path(os.path.dirname(full))
    elif os.path.isdir(full):
        folder = Path(full)
    else:
        return {}
    key = str(folder)
    if key not in _git_cache:
        _git_cache[key] = _read_git(folder)
    return dict(_git_cache[key])


def _is_ignored(folder: Path) -> bool:
    """git check-ignore, as GitPython's repo.ignored() runs it; False when git is not installed."""
    git = shutil.which("git")
    if git is None:
        return False
    try:
        done = subprocess.run([git, "check-ignore", "-q", str(folder)], cwd=folder, capture_output=True,
                              timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _find_git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # worktrees and submodules: "gitdir: <path>"
            try:
                text = dot_git.read_text(encoding="utf-8").strip()
            except OSError:
                return None
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:"):].strip())
                return target if target.is_absolute() else (folder / target).resolve()
            return None
    return None


def _common_dir(git_dir: Path) -> Path:
    """Where refs live: a worktree's git dir points at the main one through commondir."""
    try:
        common = (git_dir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        return git_dir
    path = Path(common)
    return path if path.is_absolute() else (git_dir / path).resolve()


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    common = _common_dir(git_dir)
    for base in (git_dir, common):
        try:
            value = (base / ref).read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if value.startswith("ref:"):
            return _resolve_ref(git_dir, value[4:].strip())
        return value or None
    try:
        packed = (common / "packed-refs").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in packed.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == ref and not line.startswith(("#", "^")):
            return parts[0]
    return None


def _remote_url(git_dir: Path) -> str | None:
    """The URL of the first remote in .git/config, without user:password@ (as MLflow strips it)."""
    try:
        config = (_common_dir(git_dir) / "config").read_text(encoding="utf-8")
    except OSError:
        return None
    in_remote = False
    for raw in config.splitlines():
        line = raw.strip()
        if line.startswith("["):
            in_remote = line[1:].lstrip().startswith("remote ")
        elif in_remote and "=" in line and line.split("=", 1)[0].strip() == "url":
            return _strip_credentials(line.split("=", 1)[1].strip())
    return None


def _strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _read_git(start: Path) -> dict[str, str]:
    git_dir = _find_git_dir(start)
    if git_dir is None:
        return {}
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return {}
    tags: dict[str, str] = {}
    if head.startswith("ref:"):
        ref = head[4:].strip()
        commit = _resolve_ref(git_dir, ref)
        if ref.startswith("refs/heads/"):
            tags[GIT_BRANCH] = ref[len("refs/heads/"):]
    else:
        commit = head
    if not commit or len(commit) < 40:
        return {}  # an unborn branch: MLflow sets no git tags either
    tags[GIT_COMMIT] = commit
    if _is_ignored(start):
        return {}
    url = _remote_url(git_dir)
    if url:
        tags[GIT_REPO_URL] = url
    return dict(sorted(tags.items()))
