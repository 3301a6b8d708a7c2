"""Writing pages: one Jinja environment from the theme, a `root` prefix per page so every link is
relative, the theme's static files and the Vega bundle copied once.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jinja2

from reportgen.errors import ReportgenError
from reportgen.site import fmt
from reportgen.site.jsonblock import json_script
from reportgen.site.theme import Theme


def root_of(path: str) -> str:
    """'../' per folder level of a page path: 'e/1/index.html' -> '../../'."""
    return "../" * path.count("/")


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja's file cache of compiled templates, for which a failed write only costs time."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


class Renderer:
    def __init__(self, theme: Theme, out: Path, *, site_title: str, generator: str,
                 bytecode_dir: Path | None = None) -> None:
        """bytecode_dir: where compiled templates are kept between builds (Jinja checks each against its
        template's source); compiling the theme costs ~80 ms a build, loading it ~2 ms."""
        self.theme = theme
        self.out = out
        self.env = theme.environment()
        if bytecode_dir is not None:
            try:
                bytecode_dir.mkdir(parents=True, exist_ok=True)
                self.env.bytecode_cache = _BytecodeCache(str(bytecode_dir))
            except OSError:
                pass  # an unwritable folder only costs the compile time
        self.env.filters.update(fmt.FILTERS)
        self.env.filters["json_script"] = json_script
        self.env.globals.update({"site_title": site_title, "generator": generator, "theme": theme.settings,
                                 "http_url": fmt.http_url, "json_script": json_script})
        self.scripts: list[str] = []
        self.styles: list[str] = []

    def copy_static(self) -> None:
        for relative, source in self.theme.static_files().items():
            target = self.out / "static" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        self.styles = sorted(p for p in self.theme.static_files() if p.startswith("css/") and p.endswith(".css"))
        self.scripts = sorted(p for p in self.theme.static_files() if p.startswith("js/") and p.endswith(".js"))

    def write_vendor_assets(self) -> None:
        try:
            from reportgen.site.assets import BUNDLE_PATH, write_assets
        except ImportError:
            return
        write_assets(self.out)
        self.vendor = [Path(BUNDLE_PATH).relative_to("static").as_posix()]

    def page(self, template: str, path: str, context: dict[str, Any]) -> None:
        root = root_of(path)
        variables = {"root": root, "page_path": path, "styles": self.styles, "scripts": self.scripts,
                     "vendor_scripts": getattr(self, "vendor", []), **context}
        try:
            html = self.env.get_template(template).render(variables)
        except jinja2.TemplateError as exc:
            where = getattr(exc, "filename", None) or template
            line = getattr(exc, "lineno", None)
            raise ReportgenError(f"theme template {where}{f':{line}' if line else ''}: {exc}") from None
        target = self.out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8", newline="\n")
