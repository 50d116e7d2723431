"""The tree is the architecture: the import rules of ARCHITECTURE.md, checked on every import.

Every import counts (top level, `TYPE_CHECKING` blocks, inside functions), as Python could
execute any of them. A package's `__init__` is its own node.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "volspike_oi"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The package modules `module` imports, by any statement anywhere in it."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            targets = [
                f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source
                for a in node.names
            ]
        else:
            continue
        for target in targets:
            resolved = resolve(target) if target.split(".")[0] == "volspike_oi" else None
            if resolved and resolved != module:
                found.add(resolved)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return found


def in_folder(module: str, folder: str) -> bool:
    return module.startswith(f"volspike_oi.{folder}.")


def test_the_package_has_no_import_cycle() -> None:
    assert cycles() == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    GRAPH["volspike_oi.clock"].add("volspike_oi.service")
    try:
        assert any("volspike_oi.service" in c for c in cycles())
    finally:
        GRAPH["volspike_oi.clock"].discard("volspike_oi.service")


@pytest.mark.parametrize("actor", sorted(m for m in MODULES if in_folder(m, "actors")))
def test_no_actor_imports_another_actor_or_the_service(actor: str) -> None:
    bad = {m for m in GRAPH[actor] if in_folder(m, "actors") or m == "volspike_oi.service"}
    assert not bad, f"{actor} imports {sorted(bad)}: read a snapshot or receive a message"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if in_folder(m, "web")))
def test_the_web_layer_imports_neither_the_service_nor_an_actor(module: str) -> None:
    bad = {m for m in GRAPH[module] if in_folder(m, "actors") or m == "volspike_oi.service"}
    assert not bad, f"{module} imports {sorted(bad)}: read it through the WebHandle"


@pytest.mark.parametrize(
    "module",
    sorted(m for m in MODULES if in_folder(m, "venues") or in_folder(m, "store")),
)
def test_venues_and_the_store_know_nothing_of_actors_web_or_simulators(module: str) -> None:
    bad = {
        m
        for m in GRAPH[module]
        if any(in_folder(m, f) for f in ("actors", "web", "sim")) or m == "volspike_oi.service"
    }
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if in_folder(m, "sim")))
def test_simulators_are_independent_of_the_service(module: str) -> None:
    allowed_prefixes = ("volspike_oi.sim", "volspike_oi.strict", "volspike_oi.envconfig")
    allowed = {"volspike_oi.hypercorn_config"}
    bad = {m for m in GRAPH[module] if not m.startswith(allowed_prefixes) and m not in allowed}
    assert not bad, f"{module} imports {sorted(bad)}: a simulator stands on its own"


def test_one_venue_never_imports_another() -> None:
    venues = {m.split(".")[2] for m in MODULES if in_folder(m, "venues") and m.count(".") >= 3}
    for module in (m for m in MODULES if in_folder(m, "venues") and m.count(".") >= 3):
        own = module.split(".")[2]
        others = {f"volspike_oi.venues.{v}" for v in venues - {own}}
        assert not any(m.startswith(tuple(others)) for m in GRAPH[module]), module
