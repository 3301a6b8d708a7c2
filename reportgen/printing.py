"""Text made safe to print to a terminal or a CI log: secrets redacted (reportgen.redaction), control
characters and escape sequences shown as escapes, and one line only, so that a file name holding
"\\n::error file=x::" cannot start a GitHub Actions workflow command or move the cursor.
"""
from __future__ import annotations

import re

# C0 and C1 controls (ESC starts ANSI sequences), DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}
# Bidi and zero-width controls are shown as their code point, so a name cannot hide or reorder text.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# A line that starts with "::" is a workflow command for GitHub Actions (and "##[" for Azure Pipelines).
_COMMAND = re.compile(r"^(\s*)(::|##\[)")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def printable(text: object, *, redact: bool = True) -> str:
    """`text` on one line, safe for a terminal and a CI log; redacted by the default policy unless
    redact=False (text already redacted by the caller's own rules)."""
    value = str(text)
    if redact:
        from reportgen.redaction import redact_text

        value = redact_text(value)
    value = _CONTROL.sub(_escape, value)
    value = _INVISIBLE.sub(lambda m: f"<U+{ord(m.group(0)):04X}>", value)
    return _COMMAND.sub(lambda m: m.group(1) + "\\" + m.group(2), value)
