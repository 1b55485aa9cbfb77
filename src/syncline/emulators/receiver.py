"""A local HTTP receiver for the webhook destination: real HTTP on 127.0.0.1, state in memory.

Used by the test suite and by ``syncline demo``::

    with WebhookReceiver(auth=("bearer", "t0ken"), hmac_secret="s3cret") as rx:
        rx.url                        # http://127.0.0.1:<port>/hook
        rx.state                      # {key: record} after applying every operation
        rx.requests                   # every request received, in order
        rx.inject(status=429, retry_after="1", times=2)   # the next 2 requests answer 429
        rx.reject_keys({"3": "email is invalid"})         # per-record errors for these keys

It applies batches the way the destination's docs describe a receiver should: ``upsert``
merges into (or creates) the record, ``insert`` creates only absent keys, ``update`` merges
into present keys and answers 404 for absent ones, ``delete`` removes (absent is fine). It
answers ``{"results": [{"index", "key", "status", "error"?}, ...]}``, the per-item format the
destination reads with ``results_path: results``.

It de-duplicates the way docs/destinations/webhook.md recommends: it remembers, per record key,
the idempotency key of the last change it applied; a record arriving again with that same
idempotency key is a duplicate delivery (answered 200, ``"duplicate": true``, not applied).
A request whose ``Idempotency-Key`` was already answered, and whose records are all such
duplicates (or that carries no per-record keys), gets the same answer again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["Fault", "Received", "WebhookReceiver"]


@dataclass
class Fault:
    """What the next request gets instead of normal processing.

    ``status`` None with a ``delay`` is a slow server: it sleeps, then processes the request
    (as a real server does when the client has already given up).
    """

    status: int | None = 500
    retry_after: str | None = None
    delay: float = 0.0
    body: str = '{"error": "injected fault"}'


@dataclass
class Received:
    """One request as the receiver saw it, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival
    status: int = 0
    replayed: bool = False

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Store:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[Received] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    answered: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # idempotency cache
    last_applied: dict[str, str] = field(default_factory=dict)  # record key -> idempotency key
    deliveries: list[tuple[str, str | None]] = field(default_factory=list)


class WebhookReceiver:
    """A threaded HTTP server that stores what a webhook destination sends it."""

    def __init__(
        self,
        *,
        key_field: str = "id",
        auth: tuple[str, ...] | None = None,
        hmac_secret: str | None = None,
        signature_header: str = "X-Syncline-Signature",
        path: str = "/hook",
        port: int = 0,
    ) -> None:
        self.key_field = key_field
        self.auth = auth
        self.hmac_secret = hmac_secret
        self.signature_header = signature_header
        self.path = path
        self._store = _Store()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = "syncline-webhook-receiver"
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    # -- what tests look at ------------------------------------------------------------------

    @property
    def state(self) -> dict[str, dict[str, Any]]:
        """A copy of the records by key, as every operation received so far left them."""
        with self._lock:
            return {k: dict(v) for k, v in self._store.records.items()}

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._store.log)

    @property
    def deliveries(self) -> list[tuple[str, str | None]]:
        """Every record received, in order, as (record key, its idempotency key or None)."""
        with self._lock:
            return list(self._store.deliveries)

    def inject(
        self,
        status: int | None = 500,
        *,
        times: int = 1,
        retry_after: str | None = None,
        delay: float = 0.0,
        body: str | None = None,
    ) -> None:
        """Make the next ``times`` requests answer ``status`` (after ``delay`` seconds)."""
        fault = Fault(status, retry_after, delay, body or Fault.body)
        with self._lock:
            self._store.faults.extend([fault] * times)

    def reject_keys(self, errors: dict[str, str]) -> None:
        """Answer these records (by key) with a per-item 422 and the message, until cleared."""
        with self._lock:
            self._store.rejected.update(errors)

    def clear_faults(self) -> None:
        with self._lock:
            self._store.faults.clear()
            self._store.rejected.clear()

    def seed(self, records: dict[str, dict[str, Any]]) -> None:
        """Start from these records (a receiver that already holds data)."""
        with self._lock:
            self._store.records.update({k: dict(v) for k, v in records.items()})

    # -- request handling (server threads) ---------------------------------------------------

    def _authorised(self, headers: dict[str, str], body: bytes) -> str | None:
        """None when the request may proceed, else why it may not."""
        if self.auth:
            kind, *args = self.auth
            if kind == "bearer":
                header, value = "authorization", f"Bearer {args[0]}"
            elif kind == "basic":
                pair = base64.b64encode(f"{args[0]}:{args[1]}".encode()).decode()
                header, value = "authorization", f"Basic {pair}"
            else:  # api_key: (header, value)
                header, value = args[0].lower(), args[1]
            if not hmac.compare_digest(headers.get(header, ""), value):
                return "bad credentials"
        if self.hmac_secret is not None:
            digest = hmac.new(self.hmac_secret.encode(), body, hashlib.sha256).hexdigest()
            given = headers.get(self.signature_header.lower(), "")
            if not hmac.compare_digest(given, f"sha256={digest}"):
                return "bad signature"
        return None

    def _handle(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self._store.log.append(request)
            fault = self._store.faults.pop(0) if self._store.faults else None
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status is not None:
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return fault.status, extra, fault.body.encode()
        refused = self._authorised(request.headers, request.body)
        if refused:
            return 401, {}, json.dumps({"error": refused}).encode()
        if request.method == "HEAD":
            return 200, {}, b""
        if request.method == "GET":
            return 200, {}, json.dumps({"records": self.state}, default=str).encode()
        idem = request.headers.get("idempotency-key")
        with self._lock:
            self._log_deliveries(request)
            if idem and idem in self._store.answered and self._all_duplicates(request):
                request.replayed = True
                status, body = self._store.answered[idem]
                return status, {}, body
            try:
                status, body = self._apply(request)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return 400, {}, json.dumps({"error": f"bad request: {exc!r}"}).encode()
            if idem:
                self._store.answered[idem] = (status, body)
        return status, {}, body

    def _log_deliveries(self, request: Received) -> None:
        try:
            payload = request.json()
        except ValueError:
            return  # answered 400 when applied
        records = payload.get("records") if isinstance(payload, dict) else payload
        keys = payload.get("idempotency_keys") if isinstance(payload, dict) else None
        if not isinstance(records, list):
            return
        for index, record in enumerate(records):
            if isinstance(record, dict) and self.key_field in record:
                idem = keys[index] if keys and index < len(keys) else None
                self._store.deliveries.append((str(record[self.key_field]), idem))

    def _all_duplicates(self, request: Received) -> bool:
        """Whether every record of the request is the last change applied to its key (or the
        request carries no per-record keys: then only its ``Idempotency-Key`` can tell)."""
        payload = request.json()
        keys = payload.get("idempotency_keys") if isinstance(payload, dict) else None
        if not keys:
            return True
        records = payload["records"]
        last = self._store.last_applied
        return all(
            last.get(str(r[self.key_field])) == k for r, k in zip(records, keys, strict=False)
        )

    def _apply(self, request: Received) -> tuple[int, bytes]:
        """Apply one batch under the lock; per-item results in the documented format."""
        payload = request.json()
        records = payload["records"] if isinstance(payload, dict) else payload
        operation = request.headers.get("x-syncline-operation") or payload.get("operation")
        if operation is None:
            operation = "delete" if request.method == "DELETE" else "upsert"
        idem_keys = payload.get("idempotency_keys") if isinstance(payload, dict) else None
        store = self._store.records
        results: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            key = str(record[self.key_field])
            idem = idem_keys[index] if idem_keys else None
            item: dict[str, Any] = {"index": index, "key": key, "status": 200}
            if idem is not None and self._store.last_applied.get(key) == idem:
                item["duplicate"] = True  # delivered again: already applied, not applied twice
            elif key in self._store.rejected:
                item.update(status=422, error=self._store.rejected[key])
            elif operation == "delete":
                store.pop(key, None)
            elif operation == "insert":
                if key not in store:
                    store[key] = dict(record)
                    item["status"] = 201
            elif operation == "update" and key not in store:
                item.update(status=404, error=f"record {key} not found")
            elif operation in ("upsert", "update"):
                item["status"] = 200 if key in store else 201
                store.setdefault(key, {}).update(record)
            else:
                item.update(status=400, error=f"unknown operation {operation!r}")
            if idem is not None and item["status"] < 300:
                self._store.last_applied[key] = idem
            results.append(item)
        return 200, json.dumps({"results": results}).encode()


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the destination's pool expects
        disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Received(self.command, self.path, headers, body, time.monotonic())
            status, extra, payload = receiver._handle(request)
            request.status = status
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests and the demo read rx.requests instead

        def handle(self) -> None:
            # A client that gave up (a timeout test) leaves nothing to answer.
            with contextlib.suppress(ConnectionError, TimeoutError):
                super().handle()

    return Handler
