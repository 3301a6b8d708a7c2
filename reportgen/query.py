"""MLflow's search-filter language and order_by clauses, parsed once into reusable objects.

Accepts what MLflow 3's SearchUtils accepts (same prefixes, aliases, quoting, comparators and value
types) plus OR and parentheses (mlflow#6075) and IN on params, tags and every string attribute.
Tokens come from reportgen.query_tokens, evaluation on frames lives in reportgen.query_eval; errors
point at the offending token.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

from reportgen.errors import QueryError
from reportgen.query_tokens import Token, query_error, split_identifier, tokenize

# Entity kinds, named after the runs_frame column prefixes they map to.
METRIC, PARAM, TAG, ATTRIBUTE, DATASET = "metrics", "params", "tags", "attributes", "datasets"

# Every prefix MLflow accepts (SearchUtils._VALID_IDENTIFIERS); entity names are case-sensitive there.
ENTITY_PREFIXES = {
    "metric": METRIC, "metrics": METRIC,
    "parameter": PARAM, "parameters": PARAM, "param": PARAM, "params": PARAM,
    "tag": TAG, "tags": TAG,
    "attribute": ATTRIBUTE, "attributes": ATTRIBUTE, "attr": ATTRIBUTE, "run": ATTRIBUTE,
    "dataset": DATASET, "datasets": DATASET,
}
# RunInfo.get_searchable_attributes() plus MLflow's aliases (SearchUtils.translate_key_alias).
STRING_ATTRIBUTES = frozenset({"artifact_uri", "run_id", "run_name", "status", "user_id"})
NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
ATTRIBUTE_ALIASES = {"created": "start_time", "Created": "start_time", "run name": "run_name",
                     "Run name": "run_name", "Run Name": "run_name"}
# order_by accepts the same attributes except the run-name aliases (VALID_ORDER_BY_ATTRIBUTE_KEYS).
ORDER_BY_ALIASES = {"created": "start_time", "Created": "start_time"}
DATASET_KEYS = frozenset({"name", "digest", "context"})

NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
LIST_OPS = frozenset({"IN", "NOT IN"})
NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})


# -- parsed objects ------------------------------------------------------------------------------
Value = Union[float, int, str, tuple[str, ...], None]


@dataclass(frozen=True)
class Comparison:
    """One clause, e.g. metrics.rmse < 0.8: entity (metrics|params|tags|attributes|datasets), key,
    canonical comparator, typed value, and the clause's source text (what a server is sent)."""

    entity: str
    key: str
    op: str
    value: Value
    text: str
    # True when MLflow would refuse this clause (IN on a param, IS NULL on a metric, ...).
    extension: bool = False

    @property
    def column(self) -> str:
        return f"{self.entity}.{self.key}"


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    parts: tuple["Node", ...]


Node = Union[Comparison, BoolOp]


@dataclass(frozen=True)
class Filter:
    """A parsed filter string; `root` is None for an empty filter (matches every run)."""

    text: str
    root: Node | None
    uses_grouping: bool = False  # OR or parentheses appear

    def comparisons(self) -> list[Comparison]:
        found: list[Comparison] = []

        def walk(node: Node | None) -> None:
            if isinstance(node, Comparison):
                found.append(node)
            elif isinstance(node, BoolOp):
                for part in node.parts:
                    walk(part)

        walk(self.root)
        return found

    @property
    def mlflow_compatible(self) -> bool:
        return not self.uses_grouping and not any(c.extension for c in self.comparisons())

    def to_mlflow(self) -> str:
        """The filter as MLflow's server accepts it (AND-ed clauses); QueryError when it cannot be."""
        if not self.mlflow_compatible:
            raise QueryError(
                f"Filter {self.text!r} uses OR, parentheses or a comparison MLflow does not support; "
                "it can only be evaluated locally"
            )
        return " AND ".join(c.text for c in self.comparisons())


@dataclass(frozen=True)
class OrderBy:
    entity: str
    key: str
    ascending: bool
    text: str

    @property
    def column(self) -> str:
        return f"{self.entity}.{self.key}"

    def to_mlflow(self) -> str:
        return self.text.strip()


# -- parsing -------------------------------------------------------------------------------------
def _identifier(text: str, token: Token, *, for_order_by: bool = False) -> tuple[str, str]:
    """(entity, key) with MLflow's prefixes and attribute aliases resolved and the key validated."""
    if token.kind != "ident":
        raise query_error(text, token.pos, f"Expected a key such as metrics.rmse, found {token.text!r}")
    prefix, key = split_identifier(token)
    if prefix is None:
        entity = ATTRIBUTE
    elif prefix in ENTITY_PREFIXES:
        entity = ENTITY_PREFIXES[prefix]
    else:
        raise query_error(
            text, token.pos,
            f"Invalid entity type {prefix!r}; use metrics., params., tags., attributes. or datasets.",
        )
    if entity == ATTRIBUTE:
        aliases = ORDER_BY_ALIASES if for_order_by else ATTRIBUTE_ALIASES
        key = aliases.get(key, key)
        if key not in STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES:
            valid = sorted(STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES)
            raise query_error(text, token.pos, f"Invalid attribute key {key!r}; valid keys are {valid}")
    elif entity == DATASET:
        if for_order_by:
            raise query_error(text, token.pos, "Runs cannot be ordered by a dataset field")
        if key not in DATASET_KEYS:
            raise query_error(text, token.pos, f"Invalid dataset key {key!r}; valid keys are name, digest, context")
    if not key:
        raise query_error(text, token.pos, "Empty key")
    return entity, key


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.grouping = False

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, message: str, token: Token | None = None) -> QueryError:
        token = token or self.token
        return query_error(self.text, token.pos, message)

    def is_keyword(self, *words: str) -> bool:
        return self.token.kind == "keyword" and self.token.text in words

    def parse(self) -> Filter:
        if self.token.kind == "end":
            return Filter(self.text, None)
        root = self.parse_or()
        if self.token.kind != "end":
            raise self.fail(f"Expected AND, OR or the end of the filter, found {self.token.text!r}")
        return Filter(self.text, root, self.grouping)

    def parse_or(self) -> Node:
        parts = [self.parse_and()]
        while self.is_keyword("OR"):
            self.grouping = True
            self.advance()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def parse_and(self) -> Node:
        parts = [self.parse_atom()]
        while self.is_keyword("AND"):
            self.advance()
            parts.append(self.parse_atom())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def parse_atom(self) -> Node:
        if self.token.text == "(" and self.token.kind == "punct":
            self.grouping = True
            self.advance()
            node = self.parse_or()
            if self.token.text != ")":
                raise self.fail("Expected ')'")
            self.advance()
            return node
        return self.parse_comparison()

    def parse_comparison(self) -> Comparison:
        start = self.token
        entity, key = _identifier(self.text, self.advance())
        op_token = self.token
        op = self.parse_operator()
        extension = self.check(entity, key, op, op_token)
        if op in NULL_OPS:
            value: Value = None
        elif op in LIST_OPS:
            value = self.parse_list()
        else:
            value = self.parse_scalar(entity, key)
        end = self.tokens[self.index - 1]
        clause_text = self.text[start.pos: end.pos + len(end.text)]
        return Comparison(entity, key, op, value, clause_text, extension)

    def parse_operator(self) -> str:
        token = self.advance()
        if token.kind == "op":
            if token.text in ("==", "<>"):
                raise self.fail(f"Invalid comparator {token.text!r}; use '=' or '!='", token)
            return token.text
        if token.kind == "keyword":
            if token.text in ("LIKE", "ILIKE", "IN"):
                return token.text
            if token.text == "NOT" and self.is_keyword("IN"):
                self.advance()
                return "NOT IN"
            if token.text == "IS":
                negate = self.is_keyword("NOT")
                if negate:
                    self.advance()
                if not self.is_keyword("NULL"):
                    raise self.fail("Expected NULL after IS")
                self.advance()
                return "IS NOT NULL" if negate else "IS NULL"
        raise self.fail(f"Expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL), found {token.text!r}", token)

    def parse_scalar(self, entity: str, key: str) -> Value:
        token = self.advance()
        numeric = entity == METRIC or (entity == ATTRIBUTE and key in NUMERIC_ATTRIBUTES)
        if numeric:
            if token.kind != "number":
                raise self.fail(f"Expected a number for {entity}.{key}, found {token.text!r}", token)
            number = float(token.text)
            # MLflow keeps integer literals of numeric attributes as int (start_time > 5).
            if entity == ATTRIBUTE and re.fullmatch(r"-?\d+", token.text):
                return int(token.text)
            return number
        return self.string_value(token, f"{entity}.{key}")

    def string_value(self, token: Token, what: str) -> str:
        # MLflow takes single- or double-quoted strings and keeps the inside verbatim (no unescaping).
        if token.kind == "string" or (token.kind == "ident" and token.text[0] == '"' and token.text.endswith('"')
                                      and len(token.text) >= 2 and token.text.count('"') == 2):
            return token.text[1:-1]
        raise self.fail(f"Expected a quoted string value for {what} (e.g. 'my-value'), found {token.text!r}", token)

    def parse_list(self) -> tuple[str, ...]:
        if self.token.text != "(":
            raise self.fail("Expected '(' after IN")
        self.advance()
        items: list[str] = []
        while self.token.text != ")":
            items.append(self.string_value(self.advance(), "a list item"))
            if self.token.text == ",":
                self.advance()
            elif self.token.text != ")":
                raise self.fail("Expected ',' or ')' in the list")
        if not items:
            raise self.fail("Expected a non-empty list of quoted strings")
        self.advance()
        return tuple(items)

    def check(self, entity: str, key: str, op: str, token: Token) -> bool:
        """Refuse comparators that make no sense for the entity; return True for our extensions."""
        if entity == METRIC or (entity == ATTRIBUTE and key in NUMERIC_ATTRIBUTES):
            allowed, extra = NUMERIC_OPS, NULL_OPS if entity == METRIC else frozenset()
        elif entity in (PARAM, TAG):
            allowed, extra = STRING_OPS | NULL_OPS, LIST_OPS
        elif entity == DATASET:
            allowed, extra = STRING_OPS | LIST_OPS, frozenset()
        elif key == "run_id":
            allowed, extra = STRING_OPS | LIST_OPS, frozenset()
        else:
            allowed, extra = STRING_OPS, LIST_OPS
        if op in allowed:
            return False
        if op in extra:
            return True
        raise self.fail(f"Comparator {op} is not valid for {entity}.{key}; use one of {sorted(allowed | extra)}", token)


@functools.lru_cache(maxsize=256)
def parse_filter(text: str | None) -> Filter:
    """Parse a filter string once (cached); QueryError points at the offending token."""
    return _Parser(text or "").parse()


def _parse_one_order_by(text: str) -> OrderBy:
    tokens = tokenize(text)
    ascending = True
    if len(tokens) == 3 and tokens[1].kind == "ident" and tokens[1].text.upper() in ("ASC", "DESC"):
        ascending = tokens[1].text.upper() == "ASC"
    elif len(tokens) == 3:
        raise query_error(text, tokens[1].pos, f"Invalid ordering {tokens[1].text!r}; use ASC or DESC")
    elif len(tokens) != 2:
        at = tokens[min(2, len(tokens) - 1)].pos if len(tokens) > 1 else 0
        raise query_error(text, at, "Invalid order_by clause; expected '<key> [ASC|DESC]'")
    entity, key = _identifier(text, tokens[0], for_order_by=True)
    return OrderBy(entity, key, ascending, text)


@functools.lru_cache(maxsize=256)
def _parse_order_by_tuple(clauses: tuple[str, ...]) -> tuple[OrderBy, ...]:
    return tuple(_parse_one_order_by(clause) for clause in clauses)


def parse_order_by(order_by: str | Iterable[str] | None) -> tuple[OrderBy, ...]:
    """Parse order_by clauses (`metrics.rmse DESC`, `attributes.start_time`, ...) once."""
    if not order_by:
        return ()
    clauses = (order_by,) if isinstance(order_by, str) else tuple(order_by)
    return _parse_order_by_tuple(clauses)


def referenced_columns(filter_: Filter, order_by: Sequence[OrderBy] = ()) -> list[tuple[str, str]]:
    """(entity, key) pairs a filter and order_by read, in first-use order without repeats."""
    seen: dict[tuple[str, str], None] = {}
    for item in [*filter_.comparisons(), *order_by]:
        seen[(item.entity, item.key)] = None
    return list(seen)
