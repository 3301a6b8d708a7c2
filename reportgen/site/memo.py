"""Pieces of an experiment's pages (chart specs, runs-table rows) remembered by the build cache under a
digest of their inputs: when one run of a big experiment changes, its pages are rendered again, but the
charts and rows of the runs that did not change are taken from the last build instead of being made again.
"""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from reportgen.site.cache import Digest, write_whole

_MISSING = object()
_KEY_FILE = re.compile(r"^[0-9a-f]{40}\.pickle$")
_BUILD = "build"
_ROWS = "rows-"  # every row of the table, in 16 files by the first digit of their keys ("rows-0" to "rows-f")
_ROW_SHARDS = "0123456789abcdef"
_FIRST_ROWS = "rows-first"  # those of its first page, for the process that makes only these
_FIRST_KEYS = "rows-first.keys"  # their keys, one a line (whether the first page is the same as last time)
_OLD_ROWS = "rows.pickle"  # every row in one file (before the 16)


class Memo:
    """Values made for one experiment's pages, by key. `old`: what the last build that rendered them made
    (a mapping, or a MemoFolder that loads each value when asked); `new`: what this build used, for the
    next one (the cache keeps only these).

    A key digests everything its value is made from: the build key (code, theme, options), the parts
    given, and the unit keys of the runs given (their content, labels and places in the site)."""

    def __init__(self, build_key: str = "", run_keys: dict[str, str] | None = None, old: Any = None, *,
                 remembers: bool | None = None) -> None:
        self.build_key = build_key
        self.run_keys = run_keys
        self.old = old if old is not None else {}
        self._remembers = bool(self.old) if remembers is None else remembers
        self.new: dict[str, Any] = {}

    @property
    def active(self) -> bool:
        """Whether values are kept at all (a build with a cache)."""
        return self.run_keys is not None

    @property
    def remembers(self) -> bool:
        """Whether the last build left values to find (else everything is made afresh)."""
        return self._remembers

    def key(self, *parts: Any, runs: Iterable[str] = ()) -> str:
        assert self.run_keys is not None
        return Digest(self.build_key, *parts, "runs", *(self.run_keys[run_id] for run_id in runs)).hex()

    def keys(self, head: Sequence[Any], items: Iterable[tuple[Sequence[Any], str]]) -> list[str]:
        """[self.key(*head, *parts, runs=[run_id]) for parts, run_id in items], the head framed once."""
        assert self.run_keys is not None
        framed, run_keys = Digest.framed(self.build_key, *head), self.run_keys
        return [Digest.after(framed, *parts, "runs", run_keys[run_id]) for parts, run_id in items]

    def get(self, make: Callable[[], Any], *parts: Any, runs: Iterable[str] = ()) -> Any:
        """make()'s value, from the last build when it made one under the same inputs. An exception
        from make propagates and nothing is kept."""
        if self.run_keys is None:
            return make()
        key = self.key(*parts, runs=runs)
        value = self.new.get(key, _MISSING)
        if value is _MISSING:
            value = self.old.get(key, _MISSING) if self._remembers else _MISSING
            if value is _MISSING:
                value = make()
            self.new[key] = value
        return value

    def get_many(self, keys: Sequence[str], make: Callable[[list[int]], list[Any]]) -> list[Any]:
        """The values of these keys; make(positions) makes those the last build did not (in that order)."""
        old = self.old if self._remembers else {}
        found = [self.new.get(key, old.get(key, _MISSING)) for key in keys]
        missing = [n for n, value in enumerate(found) if value is _MISSING]
        if missing:
            for n, value in zip(missing, make(missing)):
                found[n] = value
        self.new.update(zip(keys, found))
        return found


class MemoFolder:
    """The memo of one experiment folder in the build cache: each chart spec in a file named by its key
    (read only when asked for: a changed run's charts are not), the rows of its runs table in one file
    and those of its first page in another (read and written by whichever process makes the rows), and
    the build key they were made under."""

    def __init__(self, path: Path, build_key: str) -> None:
        self.path = path
        self.build_key = build_key
        try:
            self.remembers = (path / _BUILD).read_text(encoding="utf-8") == build_key
        except (OSError, ValueError):
            self.remembers = False

    def get(self, key: str, default: Any = None) -> Any:
        path = self.path / f"{key}.pickle"
        try:
            with open(path, "rb") as stream:
                return pickle.load(stream)
        except FileNotFoundError:
            return default
        except Exception:  # noqa: BLE001 - truncated or from another version: only costs time
            try:
                os.unlink(path)  # made and written again (put writes only what is not there)
            except OSError:
                pass
            return default

    def keep(self, values: dict[str, Any]) -> None:
        """After the pages: the values this build used stay (the new ones are written), the rest goes."""
        # Not remembering (the build key unreadable or another's): its files are not trusted, all are written.
        self.put(values, again=not self.remembers)
        try:
            if not self.remembers:
                write_whole(self.path / _BUILD, self.build_key.encode("utf-8"))
            for name in {name for name in os.listdir(self.path) if _KEY_FILE.match(name)} - {
                    f"{key}.pickle" for key in values}:
                os.unlink(self.path / name)
        except OSError:
            pass  # a cache that cannot be written only costs time (SiteCache.store warns about it)

    def put(self, values: dict[str, Any], *, again: bool = False) -> None:
        """Write the values whose files are not there yet, or all of them `again` (keep() writes this
        build's; a forked process writes what it made)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            for key, value in values.items():
                if again or not (self.path / f"{key}.pickle").exists():
                    write_whole(self.path / f"{key}.pickle", pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass

    def rows(self, *, first_page: bool = False) -> dict[str, Any]:
        """The rows of the last build (key -> row), or only those of its first table page."""
        if not self.remembers:
            return {}
        if first_page:
            found = self.get(_FIRST_ROWS)
            return found if isinstance(found, dict) else {}
        rows: dict[str, Any] = {}
        for shard in _ROW_SHARDS:
            found = self.get(_ROWS + shard)
            if isinstance(found, dict):
                rows.update(found)
        return rows

    def keep_rows(self, rows: dict[str, Any], old: dict[str, Any], first_page: Sequence[str]) -> None:
        """rows: key -> row of every row; first_page: the keys of the first table page's. Only the files
        whose rows changed are written (a run changed: its row's file and the first page's, if it is on it)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            before = _shards(old)
            for shard, part in _shards(rows).items():
                if not (self.remembers and _same_rows(part, before[shard])):
                    write_whole(self.path / f"{_ROWS}{shard}.pickle", pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
            first = {key: rows[key] for key in first_page}
            listed = "\n".join(first_page).encode("ascii")  # the first page's keys, beside its rows
            try:
                same_page = self.remembers and (self.path / _FIRST_KEYS).read_bytes() == listed
            except OSError:
                same_page = False
            if not (same_page and all(row is old.get(key) for key, row in first.items())):
                write_whole(self.path / f"{_FIRST_ROWS}.pickle", pickle.dumps(first, protocol=pickle.HIGHEST_PROTOCOL))
                write_whole(self.path / _FIRST_KEYS, listed)
            if os.path.exists(self.path / _OLD_ROWS):
                os.unlink(self.path / _OLD_ROWS)
        except OSError:
            pass


def _shards(rows: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rows by file: every one of the 16, empty ones too (a file whose rows all went is emptied)."""
    parts: dict[str, dict[str, Any]] = {shard: {} for shard in _ROW_SHARDS}
    for key, row in rows.items():
        parts[key[:1] if key[:1] in parts else _ROW_SHARDS[0]][key] = row
    return parts


def _same_rows(part: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether `part` holds the rows `old` held, each the very object read."""
    return part.keys() == old.keys() and all(part[key] is old[key] for key in part)
