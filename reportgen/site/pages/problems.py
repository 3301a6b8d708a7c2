"""The problems page: every warning of the build (already redacted), one row each.
"""
from __future__ import annotations

from typing import Any, Sequence

from reportgen.model import Problem
from reportgen.site import fmt


def problems_context(problems: Sequence[Problem]) -> dict[str, Any]:
    rows = [{"path": fmt.clip(p.path, 500), "message": fmt.clip(p.message, 2000), "kind": p.kind} for p in problems]
    return {"problems": rows}
