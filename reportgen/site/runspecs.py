"""Transitional, deleted by /tmp/h/h3-lead.patch: the names site/builder.py imports from here until it
takes split_history from reportgen.chartdata and passes run_charts its point budget."""
from __future__ import annotations

from reportgen.chartdata import split_history

__all__ = ["RunHistorySpecs", "split_history"]


class RunHistorySpecs(int):
    """The run pages' point budget, which builder.py passes on to chartslots.run_charts (its chart
    templates are gone: `templates` is ignored)."""

    def __new__(cls, *, max_points: int, templates: object = None) -> RunHistorySpecs:
        return super().__new__(cls, max_points)
