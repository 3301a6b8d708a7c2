"""Themes as a search path: the user's folder first, then the theme it extends, and so on (one Jinja
loader); static files are layered the same way, the most specific file winning. A template name
`<bundled theme>:<template>` (`default:run.html`) skips the search path and names the bundled theme's own
file, so a user's run.html can extend the bundled run.html and replace one block (docs/themes.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from reportgen.errors import ReportgenError

DEFAULT_THEME = "default"
THEME_FILE = "theme.yml"
TEMPLATES_DIR = "templates"
STATIC_DIR = "static"
# "default:run.html": the bundled theme named before the colon, then the template within it.
PREFIX_DELIMITER = ":"
# A theme chain longer than this is a cycle or a mistake.
_MAX_DEPTH = 8


def builtin_themes_dir() -> Path:
    """Where the bundled themes live: the installed package data, else the repository's themes/."""
    try:
        from importlib.resources import files

        location = Path(str(files("reportgen.themes")))
        if (location / DEFAULT_THEME).is_dir():
            return location
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "themes"


def bundled_theme_names() -> list[str]:
    root = builtin_themes_dir()
    return sorted(p.name for p in root.iterdir() if (p / TEMPLATES_DIR).is_dir())


def _read_theme_file(folder: Path) -> dict[str, Any]:
    path = folder / THEME_FILE
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReportgenError(f"{path}: cannot read the theme file ({type(exc).__name__})") from None
    if not isinstance(loaded, dict):
        raise ReportgenError(f"{path}: a theme file must be a mapping")
    return loaded


def looks_like_path(value: str) -> bool:
    """A theme given as a folder: a path separator, a leading '.' or '~', or absolute. A bare name is
    always a bundled theme, so a folder of the current directory named `default` never shadows it."""
    return (os.sep in value or "/" in value or (os.altsep is not None and os.altsep in value)
            or value.startswith((".", "~")) or os.path.isabs(value))


def _locate(name_or_path: str) -> Path:
    if looks_like_path(name_or_path):
        candidate = Path(name_or_path).expanduser()
        if not candidate.is_dir():
            raise ReportgenError(f"theme folder {name_or_path} does not exist")
        return candidate.resolve()
    builtin = builtin_themes_dir() / name_or_path
    if not (builtin / TEMPLATES_DIR).is_dir():
        known = bundled_theme_names()
        hint = f" (a folder of yours: give it as a path, ./{name_or_path})" if Path(name_or_path).is_dir() else ""
        raise ReportgenError(f"unknown theme {name_or_path!r}; bundled themes: {', '.join(known)}{hint}")
    return builtin


def _chain_loader(folders: tuple[Path, ...] | list[Path]) -> jinja2.BaseLoader:
    return jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(folder / TEMPLATES_DIR)) for folder in folders])


class ThemeLoader(jinja2.BaseLoader):
    """A plain name goes through the theme's search path; `name:template` goes to the bundled theme `name`
    (its own chain), whatever the user's folders hold. Only get_source is ours: Jinja's load() keeps
    compiling, naming and bytecode-caching each template under its full name."""

    def __init__(self, search_path: jinja2.BaseLoader) -> None:
        self.search_path = search_path
        self._bundled: dict[str, jinja2.BaseLoader] = {}

    def _bundled_loader(self, template: str, prefix: str) -> jinja2.BaseLoader:
        if prefix not in self._bundled:
            names = bundled_theme_names()
            if prefix not in names:
                raise jinja2.TemplateNotFound(
                    template, f"{template!r}: no bundled theme {prefix!r} (bundled themes: {', '.join(names)})")
            self._bundled[prefix] = _chain_loader(Theme.load(prefix).folders)
        return self._bundled[prefix]

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Any]:
        prefix, colon, name = template.partition(PREFIX_DELIMITER)
        if not colon:
            return self.search_path.get_source(environment, template)
        try:
            return self._bundled_loader(template, prefix).get_source(environment, name)
        except jinja2.TemplateNotFound as exc:
            if exc.name == template:
                raise
            raise jinja2.TemplateNotFound(template, f"{template!r}: the bundled theme {prefix!r} has no {name!r}") from None


@dataclass(frozen=True)
class Theme:
    """A chain of theme folders, most specific first, and the merged settings of their theme.yml."""

    folders: tuple[Path, ...]
    settings: dict[str, Any]

    @classmethod
    def load(cls, name_or_path: str | None = None) -> "Theme":
        folders: list[Path] = []
        settings: dict[str, Any] = {}
        current: str | None = name_or_path or DEFAULT_THEME
        while current is not None:
            folder = _locate(current)
            if folder in folders or len(folders) >= _MAX_DEPTH:
                raise ReportgenError(f"theme {name_or_path!r}: 'extends' forms a cycle at {folder}")
            folders.append(folder)
            data = _read_theme_file(folder)
            for key, value in data.items():
                settings.setdefault(key, value)
            extends = data.get("extends")
            if extends is None and folder != _locate(DEFAULT_THEME):
                # A user folder without theme.yml overrides a few templates of the default theme.
                extends = DEFAULT_THEME
            current = None if extends in (None, "", False) else str(extends)
        settings.pop("extends", None)
        return cls(folders=tuple(folders), settings=settings)

    def environment(self) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=ThemeLoader(_chain_loader(self.folders)),
            autoescape=True,  # every template, whatever its extension: data is never trusted
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # Templates do not change during a build; checking each one's mtime on every include
            # (thousands of pages, several includes each) cost more than some pages' rendering.
            auto_reload=False,
        )
        return env

    def static_files(self) -> dict[str, Path]:
        """Relative path under static/ -> source file, the most specific theme winning."""
        chosen: dict[str, Path] = {}
        for folder in reversed(self.folders):
            root = folder / STATIC_DIR
            if not root.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames.sort()
                for filename in sorted(filenames):
                    source = Path(dirpath) / filename
                    if source.is_symlink() or not source.is_file():
                        continue
                    chosen[source.relative_to(root).as_posix()] = source
        return dict(sorted(chosen.items()))
