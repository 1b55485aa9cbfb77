"""The engine depends only on what is below it, so it can be run (and tested) on its ports."""

from __future__ import annotations

import ast
from pathlib import Path

import syncline.engine

ALLOWED = ("syncline.engine", "syncline.connectors", "syncline.store", "syncline.domain")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):  # lazy imports count too
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_engine_imports_only_engine_connectors_store_and_domain() -> None:
    root = Path(syncline.engine.__file__).parent
    bad = {
        f"{path.relative_to(root)}: {name}"
        for path in root.rglob("*.py")
        for name in _imports(path)
        if (name == "syncline" or name.startswith("syncline."))
        and not any(name == a or name.startswith(a + ".") for a in ALLOWED)
    }
    assert bad == set()


def test_engine_modules_stay_small() -> None:
    root = Path(syncline.engine.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in root.rglob("*.py")}
    assert max(sizes.values()) < 400, sizes
