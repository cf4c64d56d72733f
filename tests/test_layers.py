"""Every import runs one way: down the layers of docs/architecture.md.

    api, seed        adapters: GraphQL and HTTP, the CLI; the demo population
    domain           the bounded contexts, privacy's and scoring's use cases among them
    privacy, scoring primitives that know nothing of lending (crypto, masking, the model)
    kernel           base types, errors, database, events, formats, metrics, tracing

A module may import its own layer or any layer below it, never one above; the two
primitive packages do not import each other. Every import counts: at module level,
inside a function, or under ``TYPE_CHECKING`` (a type-only import upward still ties a
lower layer's meaning to a higher one).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RANK = {"kernel": 0, "privacy": 1, "scoring": 1, "domain": 2, "seed": 3, "api": 4}


def imported_packages(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every absolute import in a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module.split(".")[0]


def upward_imports(root: Path) -> list[str]:
    found = []
    for layer, rank in RANK.items():
        for path in sorted((root / layer).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, package in imported_packages(tree):
                if package not in RANK or package == layer:
                    continue
                if RANK[package] >= rank:  # upward, or sideways between the primitives
                    found.append(f"{path.relative_to(root)}:{line} imports {package}")
    return found


def test_every_import_runs_down_the_layers() -> None:
    assert upward_imports(ROOT) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule itself: an upward, a sideways and a type-only import are each caught."""
    for layer in RANK:
        (tmp_path / layer).mkdir()
    (tmp_path / "kernel" / "db.py").write_text("from domain.lending import models\n")
    (tmp_path / "privacy" / "vault.py").write_text("import scoring.model\n")
    (tmp_path / "domain" / "ok.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from api.context import Context\n"
        "from kernel import base\nfrom privacy import vault\n"
    )
    assert upward_imports(tmp_path) == [
        "kernel/db.py:1 imports domain",
        "privacy/vault.py:1 imports scoring",
        "domain/ok.py:3 imports api",
    ]


def import_cycle(package: Path) -> list[str]:
    """The first cycle among a package's top-level modules and subpackages, if any."""
    prefix = package.name + "."
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        deps = graph.setdefault(prefix + path.stem, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith(prefix):
                    deps.add(".".join(node.module.split(".")[:2]))
                elif node.module == package.name:
                    deps.update(prefix + alias.name for alias in node.names)
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def walk(module: str, path: list[str]) -> list[str]:
        state[module] = 1
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep] if dep in path else [module, dep]
            if dep in graph and not state.get(dep):
                found = walk(dep, [*path, dep])
                if found:
                    return found
        state[module] = 2
        return []

    for module in sorted(graph):
        if not state.get(module):
            found = walk(module, [module])
            if found:
                return found
    return []


def test_the_request_modules_of_api_import_one_another_one_way() -> None:
    """access -> context -> disclosure, and no circle among api's modules (type-only
    imports count: the context builds disclosures; a disclosure names the request by a
    protocol, not by the context)."""
    assert import_cycle(ROOT / "api") == []


def test_the_cycle_check_finds_a_type_only_circle(tmp_path: Path) -> None:
    package = tmp_path / "api"
    package.mkdir()
    (package / "context.py").write_text("from api.disclosure import Disclosure\n")
    (package / "disclosure.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from api.context import Context\n"
    )
    assert import_cycle(package) == ["api.context", "api.disclosure", "api.context"]
