"""The operator CLI's HTTP side: a small REST client and the exit codes scripts rely on.

The resource commands (``syncline sync ...``, ``syncline run ...``) talk to a running server
over the public REST API rather than to the metadata store: they work from any machine that
can reach the server, see exactly what API users see, and need no database credentials.
Every failure becomes a :class:`CliError` carrying one of the documented exit codes, so a
command never ends in a stack trace for something that is the server's or the network's doing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

# Exit codes (documented in docs/cli.md): scripts branch on them, so never renumber.
EXIT_OK = 0
EXIT_FAILED = 1  # the run failed or was cancelled, or the server refused the operation (409)
EXIT_USAGE = 2  # bad arguments, or the server found the request invalid (400, 422)
EXIT_NOT_FOUND = 3  # 404: unknown id, or an id of another workspace
EXIT_AUTH = 4  # 401/403: missing, unknown or revoked token
EXIT_SERVER = 5  # cannot reach the server, or it failed (5xx)
EXIT_TIMEOUT = 6  # --wait gave up before the run ended (the run goes on)
EXIT_INTERRUPTED = 130  # Ctrl-C while waiting (the run goes on), as shells report SIGINT

DEFAULT_URL = "http://127.0.0.1:8000"


def stdout() -> Console:
    """A console on stdout, made per use so it sizes itself to the terminal of the moment."""
    return Console()


def stderr() -> Console:
    """A console on stderr (errors, notes, the live view): stdout stays for results."""
    return Console(stderr=True)


UrlOpt = Annotated[
    str,
    typer.Option("--url", envvar="SYNCLINE_URL", help="Base URL of the Syncline server."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="SYNCLINE_TOKEN", help="API token (sl_...).", show_default=False
    ),
]
WorkspaceOpt = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        "-w",
        envvar="SYNCLINE_WORKSPACE",
        help="Workspace id (the token alone does not reveal it).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON only, for scripts.")]


class CliError(Exception):
    """A failure to report in a few lines on stderr, ending the command with ``code``."""

    def __init__(self, code: int, *lines: str) -> None:
        super().__init__("; ".join(lines))
        self.code = code
        self.lines = list(lines)


@dataclass(frozen=True)
class Answer:
    """A successful API answer: the status (200 and 201/202 mean different things), the body
    and, for lists, ``X-Total-Count``.
    """

    status: int
    data: Any
    total: int | None = None


def _status_code(status: int) -> int:
    if status in (401, 403):
        return EXIT_AUTH
    if status == 404:
        return EXIT_NOT_FOUND
    if status == 409:
        return EXIT_FAILED
    if status >= 500:
        return EXIT_SERVER
    return EXIT_USAGE


def _loc(loc: Any) -> str:
    return ".".join(str(p) for p in loc) if isinstance(loc, list) else str(loc)


def error_for(response: httpx.Response) -> CliError:
    """The CLI error for an API error answer: its ``detail``, one line per validation error."""
    code = _status_code(response.status_code)
    status = f"HTTP {response.status_code}"
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        text = " ".join(response.text.split())[:200]
        return CliError(code, f"error: {status}: {text or response.reason_phrase}")
    if isinstance(detail, list):
        lines = [
            f"error: {_loc(e.get('loc'))}: {e.get('msg')}" if isinstance(e, dict) else str(e)
            for e in detail
        ]
        return CliError(code, *(lines or [f"error: {status}: invalid request"]))
    return CliError(code, f"error: {detail or response.reason_phrase} ({status})")


class ApiClient:
    """The REST API of one workspace, as the token's holder sees it.

    Paths are relative to ``/api/v1/workspaces/{workspace}``. Errors raise :class:`CliError`
    with the exit code of the answer; so do transport failures (exit 5).
    """

    def __init__(
        self,
        url: str,
        token: str,
        workspace: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.workspace = workspace
        self._http = httpx.Client(
            base_url=f"{self.url}/api/v1/workspaces/{workspace}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Answer:
        """Send one request; the answer, or :class:`CliError` for any failure."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=query, json=body)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise CliError(EXIT_USAGE, f"error: bad --url {self.url!r}: {exc}") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise CliError(
                EXIT_SERVER, f"error: cannot reach the Syncline server at {self.url}: {reason}"
            ) from None
        if response.status_code >= 400:
            raise error_for(response)
        try:
            data = response.json()
        except ValueError:
            raise CliError(
                EXIT_SERVER,
                f"error: {self.url} answered {response.status_code} without JSON "
                "(is it a Syncline server?)",
            ) from None
        total = response.headers.get("X-Total-Count")
        return Answer(response.status_code, data, int(total) if total else None)

    def get(self, path: str, **params: Any) -> Answer:
        """GET ``path`` with query ``params`` (``None`` values are left out)."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Answer:
        """POST ``body`` (no body at all when ``None``: the API's defaults apply)."""
        return self.request("POST", path, body=body)

    def put(self, path: str, body: dict[str, Any]) -> Answer:
        """PUT a partial update."""
        return self.request("PUT", path, body=body)


def connect(url: str, token: str | None, workspace: str | None) -> ApiClient:
    """A client from the global options, refusing early (exit 2) when one is missing."""
    if not token:
        raise CliError(
            EXIT_USAGE,
            "error: no API token: pass --token or set SYNCLINE_TOKEN "
            "(create one with `syncline token create --workspace ID`)",
        )
    if not workspace:
        raise CliError(
            EXIT_USAGE,
            "error: no workspace: pass --workspace or set SYNCLINE_WORKSPACE "
            "(`syncline workspace list` shows the ids)",
        )
    try:
        uuid.UUID(workspace)
    except ValueError:
        raise CliError(
            EXIT_USAGE, f"error: --workspace must be a workspace id (a UUID), not {workspace!r}"
        ) from None
    return ApiClient(url, token, workspace)


@contextmanager
def reported() -> Iterator[None]:
    """Turn a :class:`CliError` raised inside into its lines on stderr and its exit code."""
    try:
        yield
    except CliError as exc:
        for line in exc.lines:
            stderr().print(escape(line), soft_wrap=True, highlight=False)
        raise typer.Exit(exc.code) from None
