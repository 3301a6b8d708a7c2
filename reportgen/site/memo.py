"""Pieces of an experiment's pages (chart specs) remembered by the build cache under a digest of their
inputs: when one run of a big experiment changes, its pages are rendered again, but the charts whose runs
did not change are taken from the last build instead of being drawn again (with the history rows they need).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from reportgen.site.cache import Digest

_MISSING = object()


class Memo:
    """Values made for one experiment's pages, by key. `old`: what the last build that rendered them made;
    `new`: what this build used, for the next one (the cache keeps only these).

    A key digests everything its value is made from: the build key (code, theme, options), the parts
    given, and the unit keys of the runs given (their content, labels and places in the site)."""

    def __init__(self, build_key: str = "", run_keys: dict[str, str] | None = None,
                 old: dict[str, Any] | None = None) -> None:
        self.build_key = build_key
        self.run_keys = run_keys
        self.old = old or {}
        self.new: dict[str, Any] = {}
        self._many: set[str] = set()  # the keys get_many was asked for

    @property
    def active(self) -> bool:
        """Whether values are kept at all (a build with a cache)."""
        return self.run_keys is not None

    @property
    def remembers(self) -> bool:
        """Whether the last build left values to find (else everything is made afresh)."""
        return bool(self.old)

    def key(self, *parts: Any, runs: Iterable[str] = ()) -> str:
        assert self.run_keys is not None
        return Digest(self.build_key, *parts, "runs", *(self.run_keys[run_id] for run_id in runs)).hex()

    def get(self, make: Callable[[], Any], *parts: Any, runs: Iterable[str] = ()) -> Any:
        """make()'s value, from the last build when it made one under the same inputs. An exception
        from make propagates and nothing is kept."""
        if self.run_keys is None:
            return make()
        key = self.key(*parts, runs=runs)
        value = self.new.get(key, _MISSING)
        if value is _MISSING:
            value = self.old.get(key, _MISSING)
            if value is _MISSING:
                value = make()
            self.new[key] = value
        return value

    def get_many(self, keys: Sequence[str], make: Callable[[list[int]], list[Any]]) -> list[Any]:
        """The values of these keys; make(positions) makes those the last build did not (in that order)."""
        found = [self.new.get(key, self.old.get(key, _MISSING)) for key in keys]
        missing = [n for n, value in enumerate(found) if value is _MISSING]
        if missing:
            for n, value in zip(missing, make(missing)):
                found[n] = value
        self.new.update(zip(keys, found))
        self._many.update(keys)
        return found

    def rows_made(self) -> dict[str, Any]:
        """What get_many gave, for another process's memo (add_rows): the keys it found in `old`, and
        the values of the others."""
        return {"found": [key for key in self._many if key in self.old],
                "made": {key: self.new[key] for key in self._many if key not in self.old}}

    def add_rows(self, rows: dict[str, Any]) -> None:
        self.new.update((key, self.old[key]) for key in rows["found"])
        self.new.update(rows["made"])
