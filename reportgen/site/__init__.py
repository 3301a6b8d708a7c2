"""The static report site: `build_site` gathers runs from stores and writes an offline HTML report."""
from __future__ import annotations

from reportgen.site.build import BuildResult, build_site

__all__ = ["BuildResult", "build_site"]
