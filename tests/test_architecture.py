"""The layers of docs/architecture.md, checked: imports only point down, nothing in the
engines imports Resources, and only the backend objects ask which database engine runs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pixsearch"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
# Modules below the engines: they may not import operations/ or search/.
LOWER = ("vocabulary/", "db/", "index/", "ingest/", "runtimes/", "tenants/", "images/service.py")
LOWER += ("images/schemas.py", "backend.py", "config.py", "errors.py")


def name_of(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def imported(path: Path) -> set[str]:
    """The pixsearch modules that `path` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("pixsearch.")}


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_imports_point_down(path: Path) -> None:
    name, imports = name_of(path), imported(path)
    if name.startswith("vocabulary/"):
        assert all(i.startswith("pixsearch.vocabulary") for i in imports), imports
    if name.startswith(LOWER):
        upward = {i for i in imports if i.startswith(("pixsearch.operations", "pixsearch.search"))}
        assert not upward, upward
    if name.startswith(("operations/", "images/", "search/")):
        assert "pixsearch.resources" not in {i.rsplit(".", 1)[0] for i in imports} | imports


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_only_the_backend_asks_which_engine_runs(path: Path) -> None:
    if name_of(path) in ("backend.py", "db/dialect.py", "db/engine.py", "operations/listener.py"):
        return  # the choice; the engine made from its URL; PostgreSQL's LISTEN connection
    text = path.read_text(encoding="utf-8")
    assert "dialect.name" not in text and '"postgresql"' not in text and '"sqlite"' not in text
