"""The peers a user would pick instead, each in its own virtual environment.

``ensure(name)`` builds ``bench/.peers/<name>`` with ``uv venv`` + ``uv pip install`` of the
pinned packages (never project dependencies) and returns its Python. The peer scripts in
this package (``dlt_sync.py``, ``drt_sync.py``) run inside those environments as
subprocesses; they import nothing from Syncline or from ``bench``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench.core import ROOT, BenchError

PEERS_DIR = ROOT / "bench" / ".peers"
SCRIPTS = Path(__file__).resolve().parent
PACKAGES = {
    # dlt: an Arrow resource read from DuckDB, loaded into PostgreSQL with merge.
    "dlt": ["dlt[postgres]==1.31.0", "duckdb", "pyarrow"],
    # drt-core: the nearest reverse-ETL peer in Python; DuckDB source, postgres destination.
    "drt": ["drt-core[duckdb,postgres]==1.2.1"],
}


def ensure(name: str) -> Path:
    """The Python of the peer's venv, built (once) if missing; BenchError if it cannot be."""
    venv = PEERS_DIR / name
    python = venv / "bin" / "python"
    stamp = venv / ".bench-packages"
    want = "\n".join(PACKAGES[name])
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise BenchError("uv is not on PATH: cannot build the peer environments")
    try:
        subprocess.run(
            [uv, "venv", "-q", "--clear", "-p", "3.11", str(venv)],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), *PACKAGES[name]],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        raise BenchError(f"cannot build the {name} venv: {exc.stderr[-1500:]}") from exc
    stamp.write_text(want)
    return python


def script(name: str) -> str:
    return str(SCRIPTS / f"{name}_sync.py")
