"""Page data as JSON that is safe inside an HTML `<script type="application/json">` block.

Browsers end a script element at the first `</script` and treat `<!--` specially, and U+2028/2029 break
old JavaScript parsers; escaping <, >, & and those two characters as \\uXXXX makes any string inert.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from markupsafe import Markup

try:  # optional: encodes the big blocks (chart specs, compare data) ~10x faster than json
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def finite(value: Any) -> Any:
    """A JSON-ready copy of value: NaN and infinities become the strings "NaN", "+inf", "-inf".

    Tuples become lists, mapping keys strings; JSON has no NaN, and a bare NaN token breaks JSON.parse.
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(key): finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        # numpy scalars (np.float64, np.int64, np.bool_)
        return finite(value.item())
    return value


class RawJSON(str):
    """JSON text already made by json_text (for example filled into a cached template); passed through."""


class JSONReady(dict):
    """A dict that is JSON already at every depth: no NaN or infinity (the chart specs of reportgen.charts,
    the compare page's data). json_text encodes it with orjson when it can, which would write a NaN as
    null where json_text writes "NaN"; whatever orjson refuses (numpy scalars, huge ints) goes to json."""


def json_text(obj: Any) -> str:
    """Deterministic JSON (sorted keys, compact) with the HTML-unsafe characters escaped."""
    if isinstance(obj, RawJSON):
        return str(obj)
    if isinstance(obj, JSONReady):
        fast = _orjson_text(obj)
        if fast is not None:
            return fast.translate(_ESCAPES)
    try:
        # Most page data is JSON-ready already; walking it in Python costs more than encoding it twice.
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError):
        text = json.dumps(finite(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.translate(_ESCAPES)


def json_script(obj: Any) -> Markup:
    """The JSON text of obj, safe to place between `<script type="application/json">` tags."""
    return Markup(json_text(obj))


def float_reprs(values: list[float]) -> list[str]:
    """[repr(v) for v in values] for a list of floats (exactly float: no numpy scalar), ~10x faster: orjson
    writes them all, and those where it differs from repr are redone: where repr writes an exponent
    (below 1e-4 and from 1e16 on), NaN and infinities (orjson's decimals match repr's, _ORJSON_FLOATS_MATCH)."""
    if not _ORJSON_FLOATS_MATCH or not values or not set(map(type, values)) <= {float}:
        return list(map(repr, values))
    tokens = _orjson.dumps(values).decode("ascii")[1:-1].split(",")
    size = np.abs(np.array(values))
    with np.errstate(invalid="ignore"):
        redo = ~(((size >= 1e-4) & (size < 1e16)) | (size == 0))  # NaN compares false: redone too
    for index in np.flatnonzero(redo).tolist():
        tokens[index] = repr(values[index])
    return tokens


def _refuse(value: Any) -> Any:
    raise TypeError(f"not JSON: {type(value).__name__}")


# orjson writes every float as Python's repr does except where repr uses an exponent: small numbers
# ("0.00001", "1e-7" for repr's "1e-05", "1e-07"; older versions also "1e16" for "1e+16"). Those tokens
# are rewritten; the rest must match, which this probe checks once.
_ORJSON_FLOATS_MATCH = _orjson is not None and _orjson.dumps(
    [100.0, 1e15, 0.0001, -0.0, 123.456, 0.1, 2.5e-4, 9999999999999998.0, 0.00010000000000000002]
) == b"[100.0,1000000000000000.0,0.0001,-0.0,123.456,0.1,0.00025,9999999999999998.0,0.00010000000000000002]"
_NUMBER_BYTES = frozenset(b"0123456789+-.eE")


def _orjson_text(obj: JSONReady) -> str | None:
    """What json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) writes, made by
    orjson; None when orjson is missing or refuses the object."""
    if not _ORJSON_FLOATS_MATCH:
        return None
    try:
        raw = _orjson.dumps(obj, default=_refuse, option=_orjson.OPT_SORT_KEYS | _orjson.OPT_PASSTHROUGH_DATACLASS
                            | _orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:  # orjson.JSONEncodeError too: surrogates, ints beyond 64 bits, nesting over 254
        return None
    return _python_floats(raw).decode("utf-8")


def _python_floats(raw: bytes) -> bytes:
    """orjson's text with each float token that holds an exponent or starts 0.0000 written as repr writes it.
    Tokens are found with numpy (a regex over megabytes of JSON costs more than json itself): an e after a
    digit, or 0.0000, outside strings (after an even number of unescaped quotes)."""
    codes = np.frombuffer(raw, dtype=np.uint8)
    exponent = np.flatnonzero(((codes[1:] | 0x20) == ord("e")) & ((codes[:-1] - ord("0")) < 10)) + 1
    zeros, at = [], raw.find(b"0.0000")
    while at >= 0:
        zeros.append(at)
        at = raw.find(b"0.0000", at + 6)
    if not len(exponent) and not zeros:
        return raw
    quotes = np.flatnonzero(codes == ord('"'))
    after_backslash = quotes[(quotes > 0) & (codes[quotes - 1] == ord("\\"))].tolist()
    if after_backslash:  # a quote after an odd run of backslashes is escaped: it is inside a string
        quotes = np.setdiff1d(quotes, [q for q in after_backslash if _escaped(raw, q)])
    candidates = np.union1d(exponent, np.array(zeros, dtype=np.int64))
    outside = candidates[np.searchsorted(quotes, candidates) % 2 == 0].tolist()
    pieces, done = [], 0
    for at in outside:
        if at < done:
            continue  # the token of an earlier candidate
        start, end = at, at
        while start > 0 and raw[start - 1] in _NUMBER_BYTES:
            start -= 1
        while end < len(raw) and raw[end] in _NUMBER_BYTES:
            end += 1
        pieces += [raw[done:start], repr(float(raw[start:end])).encode("ascii")]
        done = end
    pieces.append(raw[done:])
    return b"".join(pieces)


def _escaped(raw: bytes, at: int) -> bool:
    run = 0
    while at - run > 0 and raw[at - run - 1] == ord("\\"):
        run += 1
    return run % 2 == 1
