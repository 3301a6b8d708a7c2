"""Read digests of a cached read of the file store (Store.read_digest): a run's digest is the same only
while the files the reader reads for it are, so an incremental build can skip a run by its digest.

Most runs are vouched for by the stats of their files (their signature). A run read while its folder was
changing (within the cache's racy margin) has no trusted signature; it, and the same run read again once
its folder is old enough, are vouched for by their content instead: then the build after a racy one
keys the run as that one did, and does not render it (and its experiment's pages) once more.
"""
from __future__ import annotations

import hashlib
import pickle
from typing import Any, Callable

from reportgen.stores._cache_entry import Entry
from reportgen.stores._cache_shards import stamp
from reportgen.stores._read_sign import Signature


def content_digest(name: str, entry: Entry, scrub: Callable[[Any], Any] | None = None) -> bytes:
    """A digest of what the reader made of the run folder `name`: its Run (as the cache keeps it:
    scrubbed) and its metric points."""
    run = entry.run if scrub is None else scrub(entry.run)
    digest = hashlib.blake2b(b"content", digest_size=20)
    for part in (name.encode("utf-8", "surrogatepass"), pickle.dumps(run, protocol=5),
                 "\0".join(entry.keys).encode("utf-8", "surrogatepass"),
                 *(b"" if array is None else array.tobytes()
                   for array in (entry.counts, entry.timestamp, entry.value, entry.step))):
        digest.update(b"%d\0" % len(part))
        digest.update(part)
    return digest.digest()


class ReadDigests:
    """run_id -> read digest of the runs of a cached read whose signature is trusted (computed when
    asked: a digest of the signature, the run's folder name under the store and the cache's stamp), or
    whose content digest the read made (content_digest).

    The folder name is in it because the reader takes the experiment id from it (and the run id,
    checked against meta.yaml); the experiment's datasets are in the signature of a run with inputs.
    So equal digests mean an equal Run and equal history rows."""

    def __init__(self, root: str, named: list[tuple[str, Entry]]) -> None:
        self._root = root
        self._signed = {e.info.run_id: (name, e) for name, e in named  # type: ignore[union-attr]
                        if e.signature is not None or e.read_digest is not None}
        self._base: hashlib._Hash | None = None

    def fill(self) -> list[str]:
        """Make the digests the entries lack; the names of their run folders."""
        made = []
        for name, entry in self._signed.values():
            if entry.read_digest is None and entry.signature is not None:
                entry.read_digest = self._digest(name, entry.signature)  # type: ignore[arg-type]
                made.append(name)
        return made

    def get(self, run_id: str) -> bytes | None:
        found = self._signed.get(run_id)
        if found is None:
            return None
        name, entry = found
        if entry.read_digest is None:  # kept in the entry: the same while its signature is
            entry.read_digest = self._digest(name, entry.signature)  # type: ignore[arg-type]
        return entry.read_digest

    def _digest(self, name: str, signature: Signature) -> bytes:
        if self._base is None:
            self._base = hashlib.blake2b(repr(stamp(self._root)).encode("utf-8", "surrogatepass"), digest_size=20)
        digest = self._base.copy()
        chunks = []
        for part in (name, *signature):
            data = part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass")
            chunks += (b"%d\0" % len(data), data)
        digest.update(b"".join(chunks))  # one update: the same digest as one per chunk, fewer calls
        return digest.digest()
