"""Reading meta.yaml files fast and safely: a flat-YAML fast path, mlruns.load_meta for everything else.

A 2000-run store has 2000 run meta.yaml files; PyYAML's pure-Python loader spends ~1.3 ms on each.
MLflow writes them as flat `key: scalar` lines, which this module parses exactly (same values as
YAML 1.1) and hands anything it is not sure about to mlruns.load_meta.
"""
from __future__ import annotations

import functools
import re
import time
from pathlib import Path
from typing import Any

import yaml

from reportgen.mlruns import MAX_META_BYTES, MetaError, check_shape, load_meta
from reportgen.stores._io import read_bytes

# Plain scalars that resolve to a string in YAML 1.1: start with a letter, '_' or '/', and contain
# no character that could start a comment, a flow collection, a tag or a mapping.
_PLAIN_STR = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./:@+%=~\- ]*$")
# Letters and digits starting with a digit (run ids are hex) are strings in YAML 1.1 unless they read
# as an int (all digits, 0x.., 0b..); floats and dates need '.', ':' or '-'.
_DIGIT_WORD = re.compile(r"^[0-9][0-9A-Za-z]*$")
# At most 19 digits: an int64 (a longer one is left to the real parser, which refuses a huge one).
_INT = re.compile(r"^(0|-?[1-9][0-9]{0,18})$")
_SINGLE_QUOTED = re.compile(r"^'((?:[^']|'')*)'$")
# Line breaks and controls that YAML treats specially: leave such files to the real parser.
_UNUSUAL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_YAML_FEATURES = re.compile("[&*!]")
_KEY = re.compile(r"^([a-z_]+):(?: (.*))?$")
# PyYAML's SafeLoader reads these plain words as booleans or null.
_SPECIAL_WORDS = frozenset(
    "y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF null Null NULL".split()
)
# A truncated or empty meta.yaml is often a rewrite in progress (MLflow replaces the file without
# fsync): read again a couple of times before calling it broken.
READ_ATTEMPTS = 3
RETRY_DELAY_S = 0.05


def _scalar(text: str) -> Any:
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return _immutable_scalar(text)


@functools.lru_cache(maxsize=4096)
def _immutable_scalar(text: str) -> Any:
    """Most values repeat across a store's meta.yaml files (status, stage, user, source fields)."""
    if text == "" or text == "null" or text == "~":
        return None
    if _INT.match(text):
        return int(text)
    if _DIGIT_WORD.match(text) and not text.isdigit() and text[:2].lower() not in ("0x", "0b"):
        return text
    quoted = _SINGLE_QUOTED.match(text)
    if quoted:
        return quoted.group(1).replace("''", "'")
    if _PLAIN_STR.match(text) and text not in _SPECIAL_WORDS and not text.endswith((" ", ":")):
        if ": " not in text and " #" not in text:
            return text
    raise ValueError("not a simple scalar")


def parse_flat(text: str) -> dict[str, Any] | None:
    """The mapping of a flat `key: scalar` meta.yaml, or None when the text needs a real YAML parser."""
    if _UNUSUAL.search(text):
        return None
    result: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line:
            continue
        match = _KEY.match(line)
        if match is None:
            return None
        try:
            result[match.group(1)] = _scalar(match.group(2) or "")
        except ValueError:
            return None
    return result or None


def _load_c(text: str) -> dict[str, Any] | None:
    """libyaml's safe loader when the text cannot hold an anchor, alias or tag ('&', '*', '!'): then it
    reads exactly what mlruns.load_meta reads, ten times faster. None when it does not apply."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None or _YAML_FEATURES.search(text):
        return None
    try:
        loaded = yaml.load(text, Loader=loader)  # noqa: S506 - libyaml's SafeLoader
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        return None  # let load_meta word the error
    return loaded if isinstance(loaded, dict) and loaded else None


def parse_meta(data: bytes) -> dict[str, Any]:
    """A meta.yaml's mapping; raises MetaError for anything MLflow would not have written."""
    if len(data) > MAX_META_BYTES:
        raise MetaError(f"meta.yaml is larger than {MAX_META_BYTES} bytes")
    text = data.decode("utf-8", errors="replace")
    fast = parse_flat(text)
    if fast is not None:
        return fast
    if not text.strip():
        raise MetaError("meta.yaml is empty")
    check_shape(text)  # depth, huge numbers, anchors: before any parser builds anything
    fast = _load_c(text)
    return fast if fast is not None else load_meta(text, checked=True)


def read_meta(path: Path, *, attempts: int = READ_ATTEMPTS) -> dict[str, Any]:
    """Read and parse a meta.yaml, retrying an empty or unparsable one (a rewrite may be in flight).

    Raises MetaError (the file is bad) or OSError (it cannot be read).
    """
    for attempt in range(attempts):
        data = read_bytes(path, cap=MAX_META_BYTES)
        if isinstance(data, OSError):
            raise data
        try:
            return parse_meta(data)
        except MetaError:
            if attempt == attempts - 1:
                raise
            time.sleep(RETRY_DELAY_S)
    raise AssertionError("unreachable")
