"""Following a server's next_page_token safely: a page cap, a repeated-token check and a stall check,
so a buggy or hostile server cannot keep a reader looping forever."""
from __future__ import annotations

from typing import Any, Callable, Iterator

# A report never needs more pages than this of any one listing (50k runs at 1000 a page is 50).
MAX_PAGES = 10_000
# This many pages in a row without a single item, each with a new token, is a stall.
MAX_EMPTY_PAGES = 3


def pages(
    fetch: Callable[[str | None], dict[str, Any]],
    items_key: str,
    *,
    on_problem: Callable[[str], None],
    max_pages: int = MAX_PAGES,
) -> Iterator[dict[str, Any]]:
    """Every item of a paged listing; fetch(token) returns one page (a dict with `items_key` and
    maybe next_page_token). A loop, stall or cap stops the listing and calls on_problem(message)
    (which may raise, for strict readers); the items read so far are kept."""
    seen: set[str] = set()
    token: str | None = None
    empty = 0
    for number in range(max_pages):
        page = fetch(token)
        items = page.get(items_key) or []
        yield from items
        token = page.get("next_page_token") or None
        if token is None:
            return
        if token in seen:
            on_problem(f"the server repeated page token {token[:40]!r}: listing stopped after {number + 1} pages")
            return
        seen.add(token)
        empty = 0 if items else empty + 1
        if empty >= MAX_EMPTY_PAGES:
            on_problem(f"the server sent {empty} empty pages in a row: listing stopped after {number + 1} pages")
            return
    on_problem(f"more than {max_pages} pages: listing stopped")
