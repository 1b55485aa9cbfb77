"""Output of the operator CLI's commands, and following a run to its end (``--wait``).

Scripts get ``--json``: the API's JSON alone on stdout. People get views from
:mod:`syncline.cli.render`, and while a run is followed a live progress table on stderr, so
stdout still holds only the final line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import typer
from rich.console import RenderableType
from rich.live import Live

from syncline.cli.http import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_SERVER,
    EXIT_TIMEOUT,
    ApiClient,
    CliError,
    stderr,
    stdout,
)
from syncline.cli.render import FINISHED, final_line, progress_line, progress_view

POLL_SECONDS = 0.5
# Without a terminal (CI logs) a changed progress line is printed at most this often.
LINE_SECONDS = 2.0
# A server restarting under a long run should not end the wait: tolerate ~5 s of errors.
MAX_POLL_ERRORS = 10


def show(data: Any, as_json: bool, view: Callable[[], RenderableType]) -> None:
    """The API's JSON for scripts, else ``view()`` (built only for people)."""
    if as_json:
        typer.echo(json.dumps(data))
    else:
        stdout().print(view(), highlight=False)


def wait_for_run(
    api: ApiClient, run: dict[str, Any], *, timeout: float | None, live: bool
) -> dict[str, Any]:
    """Poll ``run`` until it ends (showing progress on stderr when ``live``); the last state."""
    started = time.monotonic()
    path = f"/syncs/{run['sync_id']}/runs/{run['id']}"
    errors = 0
    lines = _Lines() if live and not stderr().is_terminal else None
    with ExitStack() as stack:
        display: Live | None = None
        if live:
            display = stack.enter_context(
                Live(progress_view(run, 0.0), console=stderr(), refresh_per_second=4)
            )
        if lines is not None:
            lines.show(run, 0.0)
        try:
            while run["status"] not in FINISHED:
                elapsed = time.monotonic() - started
                if timeout is not None and elapsed >= timeout:
                    raise CliError(
                        EXIT_TIMEOUT,
                        f"error: run {run['id']} still {run['status']} after {timeout:g} s "
                        f"(it goes on: syncline run get {run['sync_id']} {run['id']})",
                    )
                time.sleep(POLL_SECONDS)
                try:
                    run = api.get(path).data
                    errors = 0
                except CliError as exc:
                    errors += 1
                    if exc.code != EXIT_SERVER or errors > MAX_POLL_ERRORS:
                        raise
                    continue
                if display is not None:
                    display.update(progress_view(run, time.monotonic() - started))
                if lines is not None:
                    lines.show(run, time.monotonic() - started)
        except KeyboardInterrupt:
            raise CliError(EXIT_INTERRUPTED, f"stopped waiting; run {run['id']} goes on") from None
    return run


class _Lines:
    """Progress as plain lines on stderr, where a live table cannot redraw (a CI log)."""

    def __init__(self) -> None:
        self._last = ""
        self._at = float("-inf")

    def show(self, run: dict[str, Any], elapsed: float) -> None:
        line = progress_line(run, 0.0)
        if line != self._last and time.monotonic() - self._at >= LINE_SECONDS:
            stderr().print(progress_line(run, elapsed), highlight=False, soft_wrap=True)
            self._last, self._at = line, time.monotonic()


def follow(
    api: ApiClient, run: dict[str, Any], *, wait: bool, timeout: float | None, as_json: bool
) -> None:
    """Report a run just created; with ``wait``, follow it and exit 1 unless it completed."""
    if not wait:
        hint = f"syncline run get {run['sync_id']} {run['id']}"
        show(run, as_json, lambda: f"run {run['id']} {run['status']} (follow it: {hint})")
        return
    run = wait_for_run(api, run, timeout=timeout, live=not as_json)
    if as_json:
        typer.echo(json.dumps(run))
    else:
        style = "green" if run["status"] == "completed" else "red"
        stdout().print(final_line(run), style=style, highlight=False, soft_wrap=True)
    if run["status"] != "completed":  # a partial run completed: that is still success
        raise typer.Exit(EXIT_FAILED)
