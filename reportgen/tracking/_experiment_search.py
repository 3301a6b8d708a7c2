"""MLflow's search_experiments filter and order_by, on a list of Experiment objects.

The experiment filter language is small: `name`, `creation_time`, `last_update_time` and
`tags.<key>` compared with =, !=, LIKE, ILIKE (numbers with <, <=, >, >= too), joined by AND.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from reportgen.errors import InvalidParameterValue
from reportgen.model import Experiment

_CLAUSE_RE = re.compile(
    r"""\s*(?P<key>(?:attributes?\.|attr\.|tags?\.)?(?:`[^`]+`|"[^"]+"|[\w.]+))\s*
        (?P<op>!=|<=|>=|=|<|>|\bNOT\s+ILIKE\b|\bNOT\s+LIKE\b|\bILIKE\b|\bLIKE\b)\s*
        (?P<value>'(?:[^']|'')*'|"[^"]*"|-?\d+)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_AND_RE = re.compile(r"\s+AND\s+(?=(?:[^']*'[^']*')*[^']*$)", re.IGNORECASE)
_NUMERIC = ("creation_time", "last_update_time")
_ORDER_KEYS = ("name", "experiment_id", "creation_time", "last_update_time")
DEFAULT_ORDER = ("creation_time DESC", "experiment_id ASC")


def _like(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _predicate(clause: str) -> Callable[[Experiment], bool]:
    match = _CLAUSE_RE.match(clause)
    if not match:
        raise InvalidParameterValue(f"Invalid filter string for search_experiments: {clause.strip()!r}")
    key, op, raw = match["key"], " ".join(match["op"].upper().split()), match["value"]
    entity, _, name = key.rpartition(".") if "." in key and not key.startswith(("`", '"')) else ("", "", key)
    name = name.strip('`"')
    is_tag = entity.lower() in ("tag", "tags")
    if not is_tag and name not in ("name", *_NUMERIC):
        raise InvalidParameterValue(f"Invalid attribute key '{name}' specified for search_experiments")
    if raw[0] in "'\"":
        value: Any = raw[1:-1].replace("''", "'")
    else:
        value = int(raw)
    if name in _NUMERIC and not is_tag:
        if not isinstance(value, int) or op not in ("=", "!=", "<", "<=", ">", ">="):
            raise InvalidParameterValue(f"Invalid comparison for {name}: {clause.strip()!r}")

        def numeric(experiment: Experiment) -> bool:
            current = getattr(experiment, name)
            if current is None:
                return False
            return {"=": current == value, "!=": current != value, "<": current < value,
                    "<=": current <= value, ">": current > value, ">=": current >= value}[op]

        return numeric
    if op not in ("=", "!=", "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE") or not isinstance(value, str):
        raise InvalidParameterValue(f"Invalid comparison for {key}: {clause.strip()!r}")

    def text(experiment: Experiment) -> bool:
        current = experiment.tags.get(name) if is_tag else experiment.name
        if current is None:
            return False
        if op == "=":
            return current == value
        if op == "!=":
            return current != value
        matched = bool(_like(value, ignore_case="ILIKE" in op).match(current))
        return not matched if op.startswith("NOT") else matched

    return text


def filter_experiments(experiments: Sequence[Experiment], filter_string: str | None) -> list[Experiment]:
    if not filter_string or not filter_string.strip():
        return list(experiments)
    predicates = [_predicate(clause) for clause in _AND_RE.split(filter_string)]
    return [e for e in experiments if all(p(e) for p in predicates)]


def sort_experiments(experiments: Sequence[Experiment], order_by: Sequence[str] | None) -> list[Experiment]:
    clauses = list(order_by or DEFAULT_ORDER)
    if not any(c.split()[0].lower() in ("experiment_id", "attributes.experiment_id") for c in clauses if c.split()):
        clauses.append("experiment_id ASC")  # MLflow's tie-breaker
    ordered = list(experiments)
    for clause in reversed(clauses):
        parts = clause.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC")):
            raise InvalidParameterValue(f"Invalid order_by clause '{clause}'")
        key = parts[0].split(".", 1)[1] if parts[0].lower().startswith(("attribute.", "attributes.")) else parts[0]
        if key not in _ORDER_KEYS:
            raise InvalidParameterValue(f"Invalid order_by entity: {key}")
        descending = len(parts) == 2 and parts[1].upper() == "DESC"

        def sort_key(experiment: Experiment, key: str = key) -> tuple:
            value = getattr(experiment, key)
            if key == "experiment_id" and str(value).isdigit():
                return (0, int(value), "")
            return (1 if value is None else 0, value if isinstance(value, int) else 0, str(value or ""))

        # Missing values sort last in both directions.
        present = [e for e in ordered if getattr(e, key) is not None]
        missing = [e for e in ordered if getattr(e, key) is None]
        ordered = sorted(present, key=sort_key, reverse=descending) + missing
    return ordered
