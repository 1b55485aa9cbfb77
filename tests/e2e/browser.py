"""What the browser tests share: Debian's Chromium, a ``syncline serve`` with a workspace, shots.

Chromium is Debian's (``/usr/bin/chromium``, driven by Playwright); when it is missing it is
installed with apt-get, and under ``CI=true`` a test that still cannot find it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.servers import SYNCLINE
from tests.fixtures.servers import ServeProcess as Server
from tests.fixtures.servers import free_port as _free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
WIDTHS = {"wide": 1280, "phone": 390}


def ensure_chromium() -> None:
    """Install Debian's chromium if it is missing; fail under CI, skip elsewhere, if it stays so."""
    if Path(CHROMIUM).exists():
        return
    if shutil.which("apt-get"):
        subprocess.run(["apt-get", "update"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=False, capture_output=True)
    if not Path(CHROMIUM).exists():
        msg = "Debian's chromium is not installed and apt-get could not install it"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)


@contextmanager
def served_workspace(
    tmp_path: Path, **settings: str
) -> Iterator[tuple[Server, httpx.Client, dict[str, Any]]]:
    """A ``syncline serve`` on a fresh SQLite store with one workspace, and an API client."""
    env = {
        **os.environ,
        "SYNCLINE_DATA_DIR": str(tmp_path / "data"),
        "SYNCLINE_HEARTBEAT_INTERVAL": "0.5",
        "SYNCLINE_SCHEDULER_INTERVAL": "1",
        **settings,
    }
    env.pop("SYNCLINE_DATABASE_URL", None)
    out = subprocess.run(
        [SYNCLINE, "workspace", "create", "Acme", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    ws = json.loads(out.stdout)
    srv = Server(env, _free_port(), tmp_path / "server.log")
    srv.start()
    http = httpx.Client(
        base_url=f"{srv.base}/api/v1/workspaces/{ws['id']}",
        timeout=30,
        headers={"Authorization": f"Bearer {ws['token']}"},
    )
    try:
        yield srv, http, ws
    finally:
        http.close()
        srv.stop()


def shoot(page: Any, name: str, folder: Path = SHOTS) -> None:
    """Full-page screenshots at 1280 px and 390 px, back to 1280 px afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
