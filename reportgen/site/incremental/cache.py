"""Incremental builds: the units a build renders (a run's page `r/<key>.html` with its folder `r/<key>/`,
an experiment's folder `e/<key>/`) kept in a cache folder under a digest of everything they are made
from; a rebuild links the unchanged ones back into the new site and renders only the rest.

The cache is keyed on content, never on time: a unit's key digests its inputs (the run as read and
redacted, its history, its artifacts' listing, the theme's files, reportgen's own source, the library
versions and every build option), so a cached unit is byte for byte what rendering would write.
Deleting the cache (or any part of it) only makes the next build render more.

Files are hard links shared by the cache and the site when both are on one file system (copies
otherwise); each entry records size and mtime of its files, and an entry whose files were changed in
place (through the site) is not used again.
"""
from __future__ import annotations

import hashlib
from importlib import metadata
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import orjson

from reportgen.site.incremental.cache_folder import tag_cache_folder

# 3: a unit's files relative to the site's root (run pages are r/KEY.html); 4: a run's metric summaries
# kept aside, in its unit's folder; 5: derived floats settled (reportgen.numbers); 6: copy plans in run keys;
# 7: metric summaries back in the side data (the index); 8: a unit's files flat, units/<key>.<number>
CACHE_VERSION = 8
DEFAULT_CACHE_DIR = ".reportgen-cache"
_INDEX = "index.json"
_UNITS = "units"
_IMAGES = "images"
_TEMPLATES = "templates"
_OLD_MEMOS = "memo"  # earlier builds kept chart specs and table rows here; save removes the folder
# Libraries whose output ends up in the pages: a new version may render different bytes.
_LIBRARIES = ("jinja2", "markupsafe", "altair", "vl-convert-python", "nh3", "markdown", "pandas", "numpy", "pyyaml")


class Digest:
    """A blake2b digest fed with framed parts, so that ("ab", "c") and ("a", "bc") differ."""

    def __init__(self, *parts: Any) -> None:
        self._hash = hashlib.blake2b(digest_size=20)
        self.add(*parts)

    def add(self, *parts: Any) -> "Digest":
        self._hash.update(Digest.framed(*parts))  # one update: the same bytes as one per part, fewer calls
        return self

    def hex(self) -> str:
        return self._hash.hexdigest()

    @staticmethod
    def framed(*parts: Any) -> bytes:
        """The bytes a Digest of these parts hashes: each part's length, then the part."""
        chunks = []
        for part in parts:
            data = part if isinstance(part, bytes) else str(part).encode("utf-8", "surrogatepass")
            chunks += (len(data).to_bytes(8, "little"), data)
        return b"".join(chunks)

    @staticmethod
    def after(head: bytes, *parts: Any) -> str:
        """Digest(*head_parts, *parts).hex() where head = Digest.framed(*head_parts) (framed once for
        thousands of runs)."""
        return hashlib.blake2b(head + Digest.framed(*parts), digest_size=20).hexdigest()

    @staticmethod
    def each(head: Any, tails: Iterable[bytes]) -> list[str]:
        """[Digest(head, tail).hex() for tail in tails], the head framed once (thousands of runs)."""
        framed = Digest.framed(head)
        blake2b = hashlib.blake2b
        return [blake2b(framed + len(tail).to_bytes(8, "little") + tail, digest_size=20).hexdigest() for tail in tails]


def _files_digest(digest: Digest, root: Path) -> None:
    """Every regular file under root (relative path and bytes), in a stable order."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        dirnames[:] = [name for name in dirnames if name != "__pycache__"]
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.is_symlink() or not path.is_file() or name.endswith((".pyc", ".pyo")):
                continue
            digest.add(path.relative_to(root).as_posix(), path.read_bytes())


def code_digest(theme_folders: Iterable[Path]) -> str:
    """Digest of what renders pages besides the data: reportgen's source, the theme's files and the
    versions of the libraries that format output."""
    import reportgen

    digest = Digest("reportgen-code", CACHE_VERSION, reportgen.__version__, sys.version_info[:2])
    _files_digest(digest, Path(reportgen.__file__).resolve().parent)
    for folder in theme_folders:
        digest.add("theme", folder.name)
        _files_digest(digest, folder)
    for name in _LIBRARIES:
        try:
            digest.add(name, metadata.version(name))
        except metadata.PackageNotFoundError:
            digest.add(name, "absent")
    return digest.hex()


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # lone surrogates (undecodable file names) are json's to read
        return json.loads(data.decode("utf-8"))


def _dumps(obj: Any) -> bytes:
    """orjson (the index of a 2000-run site in 20 ms instead of 150); json where a name holds a lone
    surrogate (an undecodable file name), which orjson refuses."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode("ascii")


def _make_folder(folder: str) -> None:
    try:
        os.mkdir(folder)  # the usual case: its parent is there (one call, not makedirs' two)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    """FileExistsError when target is there (a copy over it would write through its other links)."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(source, target)


def _unit_files(folder: Path) -> list[str]:
    """Relative paths of the regular files under folder, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        base = Path(dirpath).relative_to(folder).as_posix()
        for name in sorted(filenames):
            found.append(name if base == "." else f"{base}/{name}")
    return found


@dataclass
class SiteCache:
    """The cache of one site's rendered units; `restore` and `store` during a build, `save` at its end."""

    folder: Path
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {"folder", "files", "side"}
    # output folder -> {"units": keys, "images": file names} of its last build
    sites: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    used: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    restored: int = 0
    stored: int = 0
    _units_made: bool = False

    @classmethod
    def open(cls, folder: str | Path) -> "SiteCache":
        cache = cls(Path(folder).expanduser().resolve())
        index = cache.folder / _INDEX
        try:
            loaded = _loads(index.read_bytes())
            if loaded.get("version") == CACHE_VERSION and isinstance(loaded.get("units"), dict):
                cache.entries = loaded["units"]
                cache.sites = {site: used for site, used in loaded.get("sites", {}).items()
                               if isinstance(used, dict)}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError) as exc:  # a damaged index: start afresh
            cache.warnings.append(f"{index}: unreadable cache index ({type(exc).__name__}); rebuilding it")
        return cache

    @property
    def units(self) -> Path:
        return self.folder / _UNITS

    def _unit_file(self, key: str) -> str:
        """The start of the names of a unit's files: units/<key>.<number>, one flat folder (a folder for
        each unit cost a first build of 2,000 runs 4,000 mkdir calls)."""
        return f"{self.folder}{os.sep}{_UNITS}{os.sep}{key}."

    def claim(self, key: str, folder: str) -> dict[str, Any] | None:
        """The side data of the cached unit `key` for staging/folder, which `link` then fills; None when
        it is not cached (or its files changed since)."""
        entry = self.entries.get(key)
        if entry is None or entry.get("folder") != folder:
            return None
        source = self._unit_file(key)  # str paths: thousands of units a build
        try:
            for number, (_, size, mtime) in enumerate(entry["files"]):
                info = os.stat(f"{source}{number}")
                if info.st_size != size or info.st_mtime_ns != mtime:
                    return None
        except (OSError, ValueError, TypeError):
            return None
        self.used[key] = entry
        self.restored += 1
        return entry["side"]

    def link(self, key: str, staging: Path, made: set[str] | None = None) -> None:
        """Link the files of a claimed unit into staging (OSError when that fails: the disk is full,
        the cache was deleted meanwhile). made: folders of staging known to be there (the calls for
        thousands of units share it: most put one page in r/)."""
        entry = self.used[key]
        source = self._unit_file(key)
        target = f"{staging}{os.sep}"
        made = set() if made is None else made
        for number, (relative, _, _) in enumerate(entry["files"]):  # relative to the site's root
            parent = os.path.dirname(relative)
            if parent not in made:
                _make_folder(target + parent)
                made.add(parent)
            _link_or_copy(f"{source}{number}", target + relative)

    def release(self, key: str, staging: Path) -> None:
        """Undo claim() and whatever link() did of it: the unit is rendered instead. (A file left linked
        would be written through to the cache's copy.)"""
        entry = self.used.pop(key)
        self.restored -= 1
        for relative, _, _ in entry["files"]:
            try:
                os.unlink(f"{staging}{os.sep}{relative}")
            except OSError:
                pass

    def linked_sizes(self) -> dict[str, int]:
        """Folder -> bytes of the units used by this build whose files all lie in their folder (the
        sizes their files had when stored; claim checked that they still have them)."""
        sizes = {}
        for entry in self.used.values():
            inside = entry["folder"] + "/"
            if all(relative.startswith(inside) for relative, _, _ in entry["files"]):
                sizes[entry["folder"]] = sum(size for _, size, _ in entry["files"])
        return sizes

    def store(self, key: str, folder: str, staging: Path, side: dict[str, Any], *, pages: Iterable[str] = (),
              in_folder: bool = True) -> None:
        """Keep what was rendered into staging/folder (if that folder exists) and the files `pages`
        (paths from the site's root) under `key`, with its side data (in the index). in_folder=False:
        nothing was written into the folder, which is then not looked up (a name that is not there,
        looked up while workers write pages beside it, waits for their writes)."""
        target = self._unit_file(key)
        try:
            if not self._units_made:
                self.units.mkdir(parents=True, exist_ok=True)
                self._units_made = True
            found = [*pages]
            if in_folder and os.path.isdir(f"{staging}{os.sep}{folder}"):
                found += [f"{folder}/{relative}" for relative in _unit_files(staging / folder)]
            files = []
            for number, relative in enumerate(found):
                path, source = f"{target}{number}", f"{staging}{os.sep}{relative}"
                try:
                    _link_or_copy(source, path)
                except FileExistsError:  # left by a build that stored this unit and failed before saving
                    os.unlink(path)
                    _link_or_copy(source, path)
                info = os.stat(path)
                files.append([relative, info.st_size, info.st_mtime_ns])
        except OSError as exc:
            if not self.warnings:
                self.warnings.append(f"{self.folder}: cannot write the build cache ({exc.strerror}); "
                                     "the next build renders everything")
            return
        self.used[key] = {"folder": folder, "files": files, "side": side}
        self.stored += 1

    @property
    def templates(self) -> Path:
        """Compiled theme templates (Jinja's bytecode cache, keyed by their source): ~0.1 s a build."""
        return self.folder / _TEMPLATES

    @property
    def images(self) -> Path:
        return self.folder / _IMAGES

    def save(self, site: Path, images: Iterable[str] = ()) -> None:
        """Write the index: the units (and static images) this build of `site` used, and those of other
        sites built with this cache (while their folders exist); drop every other unit and image, so the
        cache stays as big as its sites."""
        sites = {name: used for name, used in self.sites.items() if name != str(site) and Path(name).is_dir()}
        sites[str(site)] = {"units": sorted(self.used), "images": sorted(images)}
        kept = {key: self.used.get(key) or self.entries.get(key) for used in sites.values()
                for key in used.get("units", [])}
        kept = {key: entry for key, entry in kept.items() if entry is not None}
        kept_images = {name for used in sites.values() for name in used.get("images", [])}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tag_cache_folder(self.folder)
            handle, temp = tempfile.mkstemp(prefix=".index-", suffix=".tmp", dir=self.folder)
            data = _dumps({"version": CACHE_VERSION, "sites": sites, "units": kept})
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.replace(temp, self.folder / _INDEX)
        except OSError as exc:
            if not self.warnings:
                self.warnings.append(f"{self.folder}: cannot write the build cache ({exc.strerror})")
            return
        shutil.rmtree(self.folder / _OLD_MEMOS, ignore_errors=True)
        for folder, keep, name_of in ((self.units, kept, lambda name: name.split(".", 1)[0]),
                                      (self.images, kept_images, lambda name: name)):
            try:
                stale = [entry for entry in os.scandir(folder) if name_of(entry.name) not in keep]
            except OSError:
                stale = []
            for entry in stale:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    try:
                        os.unlink(entry.path)
                    except OSError:
                        pass

