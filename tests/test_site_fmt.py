"""reportgen.site.fmt's shortcut: visible() returns printable text unchanged without running its patterns."""
from __future__ import annotations

from reportgen.site import fmt


def test_what_visible_changes_is_unprintable():
    assert [c for c in map(chr, range(0x110000)) if fmt.visible(c) != c and c.isprintable()] == []
