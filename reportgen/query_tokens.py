"""The tokens of MLflow's search-filter language (reportgen.query parses them): numbers, quoted strings,
identifiers with their prefix, keywords, comparators, and errors that point at a position in the text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from reportgen.errors import QueryError

KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL"})

# One token of the filter language. Numbers must not run into a word ("1and" is not a number).
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*')
  | (?P<ident>(?:\w+|`[^`]*`|"[^"]*")(?:\.(?:[\w.]+|`[^`]*`|"[^"]*"|'[^']*'))?)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number | string | ident | keyword | op | punct | end
    text: str
    pos: int


def query_error(text: str, pos: int, message: str, hint: str = "") -> QueryError:
    """A QueryError naming the position, with the text and a caret line kept on the error."""
    near = text[pos:pos + 20] or "end of input"
    error = QueryError(f"{message} at position {pos} (near {near!r}) in {text!r}" + (f"; {hint}" if hint else ""))
    error.text, error.position = text, pos  # type: ignore[attr-defined]
    error.caret = f"{text}\n{' ' * pos}^"  # type: ignore[attr-defined]
    return error


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            hint = "quote keys with special characters: metrics.`train/loss`" if tokens and tokens[-1].kind == "ident" else ""
            raise query_error(text, pos, f"Unexpected character {text[pos]!r}", hint)
        kind = match.lastgroup or ""
        if kind != "ws":
            word = match.group()
            if kind == "ident" and word.upper() in KEYWORDS:
                kind, word = "keyword", word.upper()
            tokens.append(Token(kind, word, pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(part: str) -> str:
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "`\"'":
        return part[1:-1]
    return part


def split_identifier(token: Token) -> tuple[str | None, str]:
    """(prefix, key) of an identifier token; prefix None when there is no dot (a bare attribute)."""
    word = token.text
    if word[0] in "`\"":
        end = word.index(word[0], 1)
        head, rest = word[: end + 1], word[end + 1:]
    else:
        head, dot, rest = word.partition(".")
        rest = dot + rest
    if not rest:
        return None, _unquote(head)
    return _unquote(head), _unquote(rest[1:])
