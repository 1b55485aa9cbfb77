"""The house keeps its shape: layers, no import cycles, one writer of run status, small modules.

A small AST walk over ``src/syncline``. Every import counts, including the ones inside
functions (lazy imports hide cycles, they do not remove them) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "syncline"
MAX_LINES = 400
ROOT_MODULES = {"__init__", "settings", "context", "bootstrap"}

# Each layer may import itself and the layers listed (the arrows point down only).
BASE = {"domain"}
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "connectors": BASE,
    "store": BASE | {"settings"},
    "security": BASE | {"settings"},
    "runs": BASE | {"store"},
    "engine": BASE | {"connectors", "store"},
    "emulators": BASE | {"connectors"},
    "execution": BASE
    | {"connectors", "store", "runs", "engine", "security", "context", "settings"}
    | {"observability"},
    "observability": BASE | {"store", "runs", "settings"},
    "scheduler": BASE | {"store", "runs", "context", "settings", "observability"},
    "services": BASE
    | {"connectors", "store", "runs", "engine", "execution", "scheduler", "security"}
    | {"context", "settings", "observability"},
    "alerts": BASE
    | {"connectors", "store", "runs", "security", "context", "settings", "observability"},
    "runlog": BASE
    | {"connectors", "store", "runs", "security", "context", "settings"}
    | {"observability"},
    "context": BASE | {"runs", "security", "settings", "store"},
    "settings": set(),
    "bootstrap": BASE
    | {"context", "settings", "store", "security", "runs", "execution", "scheduler", "services"}
    | {"alerts", "observability", "runlog"},
}
ENTRY_POINTS = {"api", "ui", "cli", "config"}
ENTRY_MAY_NOT = {"emulators"}  # entry points may import anything else (the demo may, see below)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    is_pkg = modules()[module].name == "__init__.py"
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


@cache
def imports_of(module: str) -> frozenset[str]:
    """Every syncline module this module imports, anywhere in its body."""
    tree = ast.parse(modules()[module].read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            # `from syncline.x import y` names a module when y is one, else an attribute of x
            while name and name not in modules():
                name = name.rpartition(".")[0]
            if name.startswith("syncline.") and name != module:
                found.add(name)
    return frozenset(found)


def layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_every_module_has_a_known_layer() -> None:
    known = set(ALLOWED) | ENTRY_POINTS
    stray = sorted(m for m in modules() if m != "syncline" and layer(m) not in known)
    assert stray == []


def test_package_root_holds_only_the_composition_modules() -> None:
    at_root = {p.stem for p in PKG.glob("*.py")}
    assert at_root <= ROOT_MODULES, sorted(at_root - ROOT_MODULES)


def _violations() -> Iterator[str]:
    for module in modules():
        here = layer(module)
        for target in imports_of(module):
            there = layer(target)
            if there == here:
                continue
            if here in ENTRY_POINTS:
                if there in ENTRY_MAY_NOT and module != "syncline.cli.demo":
                    yield f"{module} -> {target}"
                continue
            if there not in ALLOWED.get(here, set()):
                yield f"{module} -> {target}"


def test_arrows_point_down_only() -> None:
    assert sorted(_violations()) == []


def test_engine_and_connectors_stay_out_of_the_application() -> None:
    """Spelled out because these two are what the layering exists for."""
    for module in modules():
        if layer(module) == "engine":
            assert {layer(t) for t in imports_of(module)} <= {
                "engine",
                "connectors",
                "store",
                "domain",
            }
        if layer(module) == "connectors":
            assert {layer(t) for t in imports_of(module)} <= {"connectors", "domain"}, module


def _cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            # a package's __init__ importing its own submodules is not a cycle of layers
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for m in graph:
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle_anywhere() -> None:
    assert _cycle({m: sorted(imports_of(m)) for m in modules()}) is None


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "p": ["p.x"], "p.x": []}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"p": ["p.x"], "p.x": []}) is None


# Raw SQL that sets the status of runs or shards: ``UPDATE sync_runs ... SET status = ...``.
_RAW_STATUS_UPDATE = re.compile(
    r"\bUPDATE\s+\"?(sync_runs|run_shards)\"?\s.*?\bSET\b.*?\bstatus\s*=", re.I | re.S
)


def _status_writers() -> Iterator[str]:
    """Modules outside ``runs/`` that assign or UPDATE the status of runs or shards."""
    for module, path in modules().items():
        if layer(module) in {"runs", "store"}:
            continue
        yield from _status_writes_in(module, path.read_text())


def _status_writes_in(module: str, source: str) -> Iterator[str]:
    """The places in ``source`` that set a run's or shard's status (ORM, Core or raw SQL)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and _RAW_STATUS_UPDATE.search(text):
            yield f"{module}:{node.lineno} raw SQL UPDATE of status"
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr == "status":
                    owner = ast.unparse(t.value)
                    if "run" in owner.lower() or "shard" in owner.lower():
                        yield f"{module}:{node.lineno} {ast.unparse(t)} ="
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            sets_status = any(k.arg == "status" for k in node.keywords) or any(
                isinstance(a, ast.Dict)
                and any(isinstance(k, ast.Constant) and k.value == "status" for k in a.keys)
                for a in node.args
            )
            chain = ast.unparse(node.func.value)
            if node.func.attr in {"values", "update"} and sets_status and "update" in chain:
                yield f"{module}:{node.lineno} {chain[:60]}.{node.func.attr}(status=...)"
            elif node.func.attr == "update" and sets_status and "query" in chain:
                yield f"{module}:{node.lineno} {chain[:60]}.update(status=...)"


def test_every_run_and_shard_status_change_goes_through_runs() -> None:
    assert sorted(_status_writers()) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "run.status = 'failed'",
        "s.execute(sa.update(SyncRun).where(SyncRun.id == i).values(status='failed'))",
        "s.query(RunShard).filter_by(id=i).update({'status': 'failed'})",
        "s.execute(sa.text(\"UPDATE sync_runs SET status = 'failed' WHERE id = :id\"))",
        "conn.execute('update run_shards\\n   set finished_at = now(), status = %s', (s,))",
    ],
)
def test_the_status_check_sees_every_kind_of_write(snippet: str) -> None:
    """The check itself can fail: each way of writing a status is found."""
    assert list(_status_writes_in("syncline.services.x", snippet))


def test_the_status_check_leaves_reads_alone() -> None:
    reads = "s.execute(sa.text('SELECT status FROM sync_runs WHERE id = :id'))\nx = run.status\n"
    assert list(_status_writes_in("syncline.services.x", reads)) == []


@pytest.mark.parametrize("module", sorted(modules()))
def test_no_module_over_the_size_limit(module: str) -> None:
    lines = len(modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines"


def test_the_walk_sees_lazy_imports() -> None:
    """The test itself can fail: a function-level import is an edge like any other."""
    tree = ast.parse("def f():\n    from syncline.api.app import create_app\n")
    assert any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree))
    assert "syncline.context" in imports_of("syncline.bootstrap")
