"""Page data as JSON that is safe inside an HTML `<script type="application/json">` block.

Browsers end a script element at the first `</script` and treat `<!--` specially, and U+2028/2029 break
old JavaScript parsers; escaping <, >, & and those two characters as \\uXXXX makes any string inert.
"""
from __future__ import annotations

import json
import math
from typing import Any

from markupsafe import Markup

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


def json_text(obj: Any) -> str:
    """Deterministic JSON (sorted keys, compact) with the HTML-unsafe characters escaped."""
    if isinstance(obj, RawJSON):
        return str(obj)
    try:
        # Most page data is JSON-ready already; walking it in Python costs more than encoding it twice.
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError):
        text = json.dumps(finite(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.translate(_ESCAPES)


def json_script(obj: Any) -> Markup:
    """The JSON text of obj, safe to place between `<script type="application/json">` tags."""
    return Markup(json_text(obj))
