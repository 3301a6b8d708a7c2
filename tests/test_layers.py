"""The import structure of reportgen: no cycles among its modules, and publish/ independent of site/.

Imports are read with ast (nothing is imported), at the top of a module and inside functions alike,
TYPE_CHECKING blocks included: a function-level import that closes a cycle is still two modules that
cannot be understood (or moved) one without the other.

`from a.b import c` is an edge to a.b.c when that is a module, else to a.b. The root package's own
`__init__` is the public facade (reportgen.open_store, reportgen.build_site): its function-level
imports are deferred to call time by design, and modules only take the `__version__` constant from it,
so only its top-level imports count.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "reportgen"

KNOWN_CYCLES: set[frozenset[str]] = set()  # none: a new cycle is a design question, not an entry here


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(tree: ast.AST, *, top_level_only: bool) -> list[ast.AST]:
    if not top_level_only:
        return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    nodes = []
    for node in tree.body:  # type: ignore[attr-defined]
        nodes.extend(n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))
                     and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
    return nodes


def _resolve(module: str, package: str, level: int) -> str:
    if not level:
        return module
    base = package.split(".")[: len(package.split(".")) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in _imports(tree, top_level_only=name == "reportgen"):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in modules)
                continue
            target = _resolve(node.module or "", package, node.level)
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:
                    edges.add(f"{target}.{alias.name}")
                elif target in modules:
                    edges.add(target)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's, with an explicit stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e2"}, "e2": set()}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_and_type_checking_imports(tmp_path, monkeypatch):
    package = tmp_path / "reportgen"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("def f():\n    from reportgen.a import x\n")
    (package / "a.py").write_text("def g():\n    from reportgen.sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from reportgen.a import g\nfrom . import c\n")
    (package / "sub" / "c.py").write_text("from reportgen import __version__\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    graph = import_graph()
    assert graph["reportgen"] == set()  # the facade's deferred imports do not count
    assert graph["reportgen.a"] == {"reportgen.sub.b"}
    assert graph["reportgen.sub.b"] == {"reportgen.a", "reportgen.sub.c"}
    assert graph["reportgen.sub.c"] == {"reportgen"}
    assert cycles(graph) == [frozenset({"reportgen.a", "reportgen.sub.b"})]


def test_no_import_cycles():
    found = set(cycles(import_graph()))
    unexpected = sorted(sorted(c) for c in found - KNOWN_CYCLES)
    assert not unexpected, f"import cycles among reportgen's modules: {unexpected}"


def test_publish_does_not_import_the_site():
    graph = import_graph()
    reaching = {name: sorted(e for e in edges if e == "reportgen.site" or e.startswith("reportgen.site."))
                for name, edges in graph.items() if name.startswith("reportgen.publish")}
    assert {name: e for name, e in reaching.items() if e} == {}
