"""Shared by the process-level tests: a PostgreSQL store, and starting/stopping `syncline`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from syncline.bootstrap import build_context
from syncline.context import AppContext
from syncline.settings import Settings
from syncline.store.db import upgrade

SECRET = "e2e-secret-key"
SYNCLINE = str(Path(sys.executable).parent / "syncline")


def pg_store(
    tmp_path: Path, pg_database: str, **env_settings: str
) -> Iterator[tuple[AppContext, dict[str, str]]]:
    """A migrated store, a context on it for the test, and the environment for children."""
    url = pg_database.replace("postgresql://", "postgresql+psycopg://")
    env = {
        **os.environ,
        "SYNCLINE_DATABASE_URL": url,
        "SYNCLINE_SECRET_KEY": SECRET,
        "SYNCLINE_TOKEN_PEPPER": SECRET + "-pepper",
        "SYNCLINE_DATA_DIR": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",
        **env_settings,
    }
    upgrade(url)
    ctx = build_context(
        Settings(
            data_dir=tmp_path / "lead",
            database_url=url,
            secret_key=SECRET,
            token_pepper=SECRET + "-pepper",
        )
    )
    try:
        yield ctx, env
    finally:
        ctx.dispose()


def spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``syncline <args>`` with its output in ``log_path`` (appended)."""
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([SYNCLINE, *args], env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(procs: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    """SIGTERM every live process, then SIGKILL what has not exited in time."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
