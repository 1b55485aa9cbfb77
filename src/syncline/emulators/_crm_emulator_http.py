"""The HTTP harness of the CRM emulators: a threaded server on 127.0.0.1, faults, a call log.

Shared by ``salesforce_emulator`` and ``hubspot_emulator``. Each emulator subclasses
``EmulatorServer`` and implements ``dispatch``; tests queue ``Fault``s with ``inject`` and read
the ``calls`` log (e.g. the chunk sizes the vendor limits allow).
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Call", "EmulatorServer", "Fault", "Response", "json_response"]

Response = tuple[int, dict[str, str], bytes]


@dataclass
class Fault:
    """One injected failure: applies to the ``times`` matching requests after ``after``."""

    kind: str
    times: int = 1
    after: int = 0
    match: str | None = None  # substring of "METHOD /path"
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    message: str = ""
    body: dict[str, Any] | None = None


@dataclass
class Call:
    """One API request as the emulator saw it; ``records`` is the chunk size it carried."""

    method: str
    path: str
    records: int
    status: int = 0


class EmulatorServer:
    """A ThreadingHTTPServer on 127.0.0.1 that hands each request to ``handle``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the emulator is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body leave in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK add 40 ms to every response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out_headers, payload = emulator.dispatch(
                    self.command, self.path, headers, body
                )
                try:
                    self.send_response(status)
                    for name, value in out_headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (a timeout we injected)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, kind: str, **options: Any) -> Fault:
        """Queue a fault; see the subclass for the kinds it understands."""
        fault = Fault(kind, **options)
        with self.lock:
            self.faults.append(fault)
        return fault

    def next_fault(self, method: str, path: str) -> Fault | None:
        """The fault that applies to this request, consuming one of its uses."""
        where = f"{method} {path}"
        with self.lock:
            for fault in self.faults:
                if fault.times <= 0 or (fault.match and fault.match not in where):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                return fault
        return None

    def chunk_sizes(self, contains: str = "") -> list[int]:
        """Records per request, for requests whose "METHOD /path" contains ``contains``."""
        with self.lock:
            return [c.records for c in self.calls if contains in f"{c.method} {c.path}"]

    def dispatch(self, method: str, raw: str, headers: dict[str, str], body: bytes) -> Response:
        raise NotImplementedError


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    out = {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}
    return status, out, json.dumps(body).encode()
