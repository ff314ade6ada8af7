"""The layout shows the architecture: no import circles, and the kernel never reaches into the applications.

Imports are read from the source (every ``import``/``from`` statement, at module level or inside a function), so a
circle hidden in a function body counts too: it still means two modules that cannot be understood apart.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gd_core", "gd_apps", "gd_plugins_builtin")
# The kernel a plugin author reads: what it may import from the project (besides itself).
KERNEL = "gd_core"
APPLICATIONS = "gd_apps"


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports, resolved to module names (``from pkg import sub`` → ``pkg.sub``)."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    resolved = set()
    for target in targets:
        while target and target not in MODULES:  # a name inside a module → that module
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _circles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in GRAPH[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return groups


def test_the_graph_sees_the_packages():
    assert "gd_core.loop" in GRAPH and "gd_core.plugins" in GRAPH
    assert "gd_core.errors" in GRAPH["gd_core.loop"], "the import reader must find loop's import of errors"


def test_no_module_imports_one_that_imports_it_back():
    circles = _circles()
    assert not circles, "import circles: " + "; ".join(" ↔ ".join(group) for group in circles)


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if n == KERNEL or n.startswith(KERNEL + ".")))
def test_the_kernel_does_not_import_the_applications(name):
    reached = sorted(t for t in GRAPH[name] if t == APPLICATIONS or t.startswith(APPLICATIONS + "."))
    assert not reached, f"{name} imports {reached}: the kernel must not depend on the applications built on it"


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if n.startswith("gd_plugins_builtin")))
def test_builtin_plugins_use_only_what_a_third_party_plugin_can(name):
    reached = sorted(t for t in GRAPH[name] if t == APPLICATIONS or t.startswith(APPLICATIONS + "."))
    assert not reached, f"{name} imports {reached}: built-in plugins use the kernel and its helpers only"
