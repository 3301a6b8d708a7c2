"""Baseline checks: rules such as `metrics.accuracy >= baseline - 0.01`, parsed by a tiny grammar (never
eval), evaluated on a candidate run against a baseline run, and shown as a Markdown or plain table.

    rule   := "metrics." KEY OP expr          KEY: letters, digits, _ . / - or a quoted "any name"
    OP     := >= | <= | > | < | == | !=
    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := NUMBER | "baseline" | "(" expr ")" | ("-" | "+") factor

A NaN on either side never satisfies a rule (a diverged candidate must fail the gate).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence, Union

from reportgen.aggregate import Directions
from reportgen.errors import BadInputError
from reportgen.model import Run
from reportgen.publish.baseline import RunSpec, find_run_anywhere, resolve_run
from reportgen.publish.text import fmt_value, md_escape, md_table, plain_table, plain_text
from reportgen.redaction import Redactor

OPERATORS = (">=", "<=", "==", "!=", ">", "<")
MAX_RULE = 1000
_KEY_RE = re.compile(r"[^\s<>=!]+")
_NUMBER_RE = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_EXAMPLE = 'e.g. "metrics.accuracy >= baseline - 0.01"'

# An expression tree: a number, the baseline value, or an operation on sub-trees.
Expr = Union[float, str, tuple]


@dataclass(frozen=True)
class Rule:
    text: str
    key: str
    op: str
    expr: Expr

    @property
    def uses_baseline(self) -> bool:
        def walk(node: Expr) -> bool:
            if node == "baseline":
                return True
            return isinstance(node, tuple) and any(walk(child) for child in node[1:])
        return walk(self.expr)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> BadInputError:
        return BadInputError(f"bad rule {plain_text(self.text, limit=120)!r}: {what} at column {self.pos + 1}; "
                             f"a rule reads metrics.KEY OP EXPR, {_EXAMPLE}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def rule(self) -> Rule:
        self.skip()
        if not self.text.startswith("metrics.", self.pos):
            raise self.fail("expected metrics.KEY")
        self.pos += len("metrics.")
        key = self.key()
        self.skip()
        op = next((o for o in OPERATORS if self.text.startswith(o, self.pos)), None)
        if op is None:
            raise self.fail("expected one of " + " ".join(OPERATORS) + (" (use == to compare)"
                            if self.text.startswith("=", self.pos) else ""))
        self.pos += len(op)
        expr = self.expr()
        if self.peek():
            raise self.fail(f"unexpected {self.text[self.pos]!r}")
        return Rule(self.text.strip(), key, op, expr)

    def key(self) -> str:
        quote = self.text[self.pos] if self.pos < len(self.text) else ""
        if quote in ('"', "'", "`"):
            end = self.text.find(quote, self.pos + 1)
            if end < 0:
                raise self.fail("unclosed quote in the metric name")
            key = self.text[self.pos + 1:end]
            self.pos = end + 1
        else:
            match = _KEY_RE.match(self.text, self.pos)
            key = match.group(0) if match else ""
            self.pos += len(key)
        if not key:
            raise self.fail("expected a metric name after metrics.")
        return key

    def expr(self) -> Expr:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.text[self.pos]
            self.pos += 1
            node = (op, node, self.term())
        return node

    def term(self) -> Expr:
        node = self.factor()
        while self.peek() in ("*", "/"):
            op = self.text[self.pos]
            self.pos += 1
            node = (op, node, self.factor())
        return node

    def factor(self) -> Expr:
        char = self.peek()
        if char in ("-", "+"):
            self.pos += 1
            inner = self.factor()
            return ("neg", inner) if char == "-" else inner
        if char == "(":
            self.pos += 1
            node = self.expr()
            if self.peek() != ")":
                raise self.fail("expected )")
            self.pos += 1
            return node
        if self.text.startswith("baseline", self.pos) and not self.text[self.pos + 8:self.pos + 9].isalnum():
            self.pos += len("baseline")
            return "baseline"
        match = _NUMBER_RE.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            return float(match.group(0))
        raise self.fail("expected a number, baseline or (" if char else "the expression ends early")


def parse_rule(text: str) -> Rule:
    """A Rule for `text`; BadInputError (exit 2) naming the column of the first mistake."""
    if len(text) > MAX_RULE:
        raise BadInputError(f"bad rule: longer than {MAX_RULE} characters")
    return _Parser(text).rule()


def evaluate(node: Expr, baseline: float | None) -> float:
    """The threshold a rule's expression gives for this baseline value (NaN stays NaN)."""
    if isinstance(node, float):
        return node
    if node == "baseline":
        assert baseline is not None, "rules that use baseline are checked for a baseline run first"
        return baseline
    if node[0] == "neg":
        return -evaluate(node[1], baseline)
    op, left, right = node[0], evaluate(node[1], baseline), evaluate(node[2], baseline)
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if right == 0:
        raise BadInputError("a rule divides by zero")
    return left / right


def compare(value: float, op: str, threshold: float) -> bool:
    if math.isnan(value) or math.isnan(threshold):
        return False
    return {">=": value >= threshold, "<=": value <= threshold, ">": value > threshold,
            "<": value < threshold, "==": value == threshold, "!=": value != threshold}[op]


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    baseline: float | None
    candidate: float
    threshold: float
    holds: bool


@dataclass(frozen=True)
class CheckReport:
    baseline: Run | None
    candidate: Run
    results: list[RuleResult]

    @property
    def passed(self) -> bool:
        return all(result.holds for result in self.results)


def _pick(store, spec: RunSpec, runs: Sequence[Run], *, option: str, metric: str,
          directions: Directions | None) -> Run:
    if spec.kind == "id":
        return find_run_anywhere(store, spec.key or "", option=option)
    run = resolve_run(spec, runs, metric=metric, directions=directions)
    if run is None:
        raise BadInputError(f"{option} {spec.text!r}: no run matches ({spec.describe()})")
    return run


def _metric(run: Run, key: str, role: str) -> float:
    if key not in run.data.metrics:
        known = ", ".join(sorted(run.data.metrics)[:20]) or "none"
        raise BadInputError(f"unknown metric {key!r} in the {role} run {run.info.run_id} "
                            f"({plain_text(run.info.run_name, limit=60)}); it has: {known}")
    return float(run.data.metrics[key])


def check_runs(store, *, baseline: RunSpec | None, candidate: RunSpec, rules: Sequence[str],
               experiment_ids: Sequence[str] | None = None, directions: Directions | None = None) -> CheckReport:
    """Evaluate each rule on the candidate against the baseline. Everything is validated (rules parsed,
    runs found, metrics present) before any rule is judged, so bad input never reads as a failure."""
    if not rules:
        raise BadInputError('no rule given: add --rule "metrics.KEY >= baseline - 0.01" (repeatable)')
    parsed = [parse_rule(text) for text in rules]
    runs = store.get_runs(list(experiment_ids) if experiment_ids is not None else None)
    first_key = parsed[0].key
    cand = _pick(store, candidate, runs, option="--candidate", metric=first_key, directions=directions)
    for rule in parsed:  # an unknown metric is named before `best` tries to rank by it
        _metric(cand, rule.key, "candidate")
    base = None
    if baseline is not None:
        base = _pick(store, baseline, runs, option="--baseline", metric=first_key, directions=directions)
    elif any(rule.uses_baseline for rule in parsed):
        raise BadInputError("a rule uses baseline: give --baseline RUN_ID, best, tag:KEY=VALUE or latest")
    results = []
    for rule in parsed:
        value = _metric(cand, rule.key, "candidate")
        base_value = _metric(base, rule.key, "baseline") if base is not None and rule.uses_baseline else None
        threshold = evaluate(rule.expr, base_value)
        results.append(RuleResult(rule, base_value, value, threshold, compare(value, rule.op, threshold)))
    return CheckReport(base, cand, results)


def _run_label(run: Run | None, redactor: Redactor) -> str:
    if run is None:
        return "none"
    return f"{plain_text(redactor.text(run.info.run_name or '(unnamed)'), limit=60)} ({run.info.run_id})"


def render_check(report: CheckReport, fmt: str = "md", *, redactor: Redactor | None = None) -> str:
    """The results as a Markdown (md) or plain-text (plain) table, with the runs and a verdict line;
    run names through `redactor` (default: the built-in policy)."""
    redactor = redactor if redactor is not None else Redactor.from_options()
    failed = sum(not r.holds for r in report.results)
    total = len(report.results)
    if total == 1:
        verdict = "The rule holds." if not failed else "The rule failed."
    else:
        verdict = f"All {total} rules hold." if not failed else f"{failed} of {total} rules failed."
    if fmt not in ("md", "plain"):
        raise BadInputError(f"unknown format {fmt!r}: use md or plain")
    rows = []
    for r in report.results:
        result = ("✅ holds" if fmt == "md" else "PASS") if r.holds else ("❌ fails" if fmt == "md" else "FAIL")
        rows.append([r.rule.text, fmt_value(r.baseline, digits=6), fmt_value(r.candidate, digits=6),
                     fmt_value(r.threshold, digits=6), result])
    headers = ["Rule", "Baseline", "Candidate", "Threshold", "Result"]
    if fmt == "plain":
        return "\n".join([f"Baseline:  {_run_label(report.baseline, redactor)}",
                          f"Candidate: {_run_label(report.candidate, redactor)}",
                          "", plain_table(headers, [[plain_text(c, limit=200) for c in row] for row in rows]),
                          "", verdict]) + "\n"
    table = md_table(headers, [[md_escape(c, limit=200) for c in row] for row in rows],
                     right=[False, True, True, True, False])
    return "\n".join(["### Baseline check", "",
                      f"Baseline: {md_escape(_run_label(report.baseline, redactor), limit=200)}  ",
                      f"Candidate: {md_escape(_run_label(report.candidate, redactor), limit=200)}", "", table, "",
                      f"**{verdict}**"]) + "\n"
