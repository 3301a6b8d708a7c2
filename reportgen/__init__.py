"""reportgen: static, offline reports of MLflow runs, and a minimal MLflow-compatible logging client."""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "open_store", "build_site"]


def open_store(uri: str, **kwargs: Any):
    """Open a tracking store (mlruns/ folder, sqlite:///x.db, ...) for reading. See reportgen.stores."""
    from reportgen.stores import open_store as _open_store

    return _open_store(uri, **kwargs)


def build_site(*args: Any, **kwargs: Any):
    """Build a static report site. See reportgen.site.build."""
    from reportgen.site import build_site as _build_site

    return _build_site(*args, **kwargs)
