"""The layout's rules, read from the imports themselves (ARCHITECTURE.md states them for people).

- nothing under search/ imports indexer/ or api/: the core library stands alone;
- indexer/ imports api/ only in its `serve` command module;
- no import cycles between modules, lazy (function-level) and type-only imports included;
- inside search/, a folder imports only the folders listed before it in ARCHITECTURE.md;
- every package folder has its paragraph in ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("search", "indexer", "api")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports, anywhere in the file (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            # `from search import settings` names a module; `from search.x import Class` names x.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


GRAPH = {name: imports(path, set(modules())) - {name} for name, path in modules().items()}


def test_the_core_library_imports_neither_the_command_line_nor_the_api() -> None:
    offenders = sorted(
        f"{m} -> {d}"
        for m, deps in GRAPH.items()
        if m.split(".")[0] == "search"
        for d in deps
        if d.split(".")[0] in {"indexer", "api"}
    )
    assert offenders == []


def test_the_command_line_imports_the_api_only_to_serve_it() -> None:
    offenders = sorted(
        f"{m} -> {d}"
        for m, deps in GRAPH.items()
        if m.split(".")[0] == "indexer"
        for d in deps
        if d.split(".")[0] == "api" and m != "indexer.commands.serve"
    )
    assert offenders == []


LAYERS = ("text", "models", "storage", "retrieval", "access", "ingest", "generation", "evaluation")


def test_core_folders_import_only_the_folders_before_them() -> None:
    """The order ARCHITECTURE.md lists search/'s folders in: data flows one way through them."""
    offenders = []
    for module, deps in GRAPH.items():
        parts = module.split(".")
        if parts[0] != "search" or len(parts) < 3 or parts[1] not in LAYERS:
            continue
        for dep in deps:
            layer = dep.split(".")[1] if dep.startswith("search.") else None
            if layer in LAYERS and LAYERS.index(layer) > LAYERS.index(parts[1]):
                offenders.append(f"{module} -> {dep}")
    assert offenders == []
    listed = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    positions = [listed.index(f"- `search/{layer}/`") for layer in LAYERS]
    assert positions == sorted(positions), "ARCHITECTURE.md lists the folders in the order enforced here"


def test_no_import_cycles() -> None:
    """Package `__init__` modules re-export their package's front door, so edges into a package's own
    `__init__` from inside that package are not counted (they are not a dependency of the re-exported code)."""

    def edges(module: str) -> set[str]:
        return {d for d in GRAPH[module] if not (module.startswith(d + ".") and d in PACKAGES)}

    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(edges(module)):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize(
    "folder", sorted({str(p.parent.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py")})
)
def test_every_folder_is_described_in_architecture_md(folder: str) -> None:
    assert f"`{folder}/`" in (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
