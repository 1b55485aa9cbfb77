"""Webhook / HTTP API destination: each batch as JSON requests of ``batch_size`` records.

A batch is split into requests that are sent concurrently (``concurrency``), spaced to
``requests_per_second``, retried on connection errors, timeouts, 429 and 5xx (honouring
``Retry-After``), signed with HMAC-SHA256 when a secret is set. Each record's result comes
from the response's per-item results when the receiver gives them (``results_path``), else
from the request's status. The receiver decides what upsert/insert/update/delete mean: every
request names its operation (body and ``X-Syncline-Operation``) and carries an
``Idempotency-Key`` derived from its records; every record carries its key and its own
idempotency key (the same whenever that record change is sent again, whatever run sends it).
See docs/destinations/webhook.md.
"""

from __future__ import annotations

import base64
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar, Literal, Self

import httpx
from jinja2.exceptions import SecurityError
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from syncline.connectors._netguard import BlockedAddressError
from syncline.connectors._netguard_http import validate_url
from syncline.connectors.base import (
    BatchResult,
    Capabilities,
    ChangeBatch,
    CheckResult,
    DestinationError,
    DestinationUnreachable,
    Interrupted,
    ObjectSchema,
    Operation,
    RecordError,
    RunInfo,
    SyncMode,
    saving,
)
from syncline.connectors.destinations.webhook.http import (
    Policy,
    Request,
    Sender,
    Stopped,
    snippet,
)
from syncline.connectors.destinations.webhook.payload import (
    compile_template,
    records_of,
    render_body,
    sample_variables,
    signature,
)
from syncline.domain.idempotency import request_idempotency_key
from syncline.domain.secrets import OptionalSecret, SecretUrl, SecretValues, redact_url

__all__ = ["WebhookAuth", "WebhookDestination", "WebhookDestinationConfig"]

Method = Literal["POST", "PUT", "PATCH", "DELETE"]
try:
    _USER_AGENT = f"syncline/{version('syncline')}"
except PackageNotFoundError:  # running from a source tree that was never installed
    _USER_AGENT = "syncline"
_DEFAULT_METHODS: dict[str, Method] = {
    "upsert": "POST",
    "insert": "POST",
    "update": "POST",
    "delete": "DELETE",
}


class WebhookAuth(BaseModel):
    """How requests authenticate; ``token``, ``password`` and ``api_key`` are secrets."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, populate_by_name=True)

    type: Literal["none", "bearer", "basic", "api_key"] = "none"
    token: OptionalSecret = Field(None, description="bearer: the token")
    username: str | None = Field(None, description="basic: the user name")
    password: OptionalSecret = Field(None, description="basic: the password")
    header: str = Field("X-API-Key", description="api_key: the header carrying the key")
    # "value" is accepted too (both are secrets: aliases are read from the marker's field).
    api_key: OptionalSecret = Field(
        None, validation_alias=AliasChoices("api_key", "value"), description="api_key: the key"
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        needs = {"bearer": ["token"], "basic": ["username", "password"], "api_key": ["api_key"]}
        missing = [f for f in needs.get(self.type, []) if getattr(self, f) in (None, "")]
        if missing:
            raise ValueError(f"auth type {self.type!r} needs {', '.join(missing)}")
        return self

    def headers(self) -> dict[str, str]:
        if self.type == "bearer":
            return {"Authorization": f"Bearer {self.token}"}
        if self.type == "basic":
            raw = f"{self.username}:{self.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
        if self.type == "api_key":
            return {self.header: str(self.api_key)}
        return {}


class WebhookDestinationConfig(BaseModel):
    """Where to send, how to shape, sign and pace the requests, and how to read responses."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: SecretUrl = Field(description="Endpoint receiving the batches (http or https)")
    methods: dict[Literal["upsert", "insert", "update", "delete"], Method] = Field(
        default_factory=dict, description="HTTP method per operation (default POST, DELETE)"
    )
    batch_size: int = Field(100, ge=1, le=10_000, description="Records per request")
    payload_template: str | None = Field(
        None, description="Jinja2 template (sandboxed) producing the JSON body"
    )
    headers: SecretValues = Field(default_factory=dict, description="Extra request headers")
    auth: WebhookAuth = Field(default_factory=WebhookAuth)
    hmac_secret: OptionalSecret = Field(None, description="Sign each body with HMAC-SHA256")
    signature_header: str = Field("X-Syncline-Signature", description="Header of the signature")
    concurrency: int = Field(4, ge=1, le=64, description="Requests in flight per batch")
    requests_per_second: float | None = Field(None, gt=0, description="Rate limit (all requests)")
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="Per request attempt")
    max_retries: int = Field(5, ge=0, le=20, description="Retries of one request")
    backoff_initial_seconds: float = Field(1.0, ge=0, le=60)
    backoff_max_seconds: float = Field(60.0, ge=0, le=3600)
    max_retry_after_seconds: float = Field(
        300.0, ge=0, description="Longest Retry-After honoured; longer waits are cut to this"
    )
    results_path: str | None = Field(
        None, description="Dotted path of the per-record results in the response JSON"
    )
    results_list: Literal["all", "errors"] = Field(
        "all", description="Results list every record, or only the failed ones"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        try:
            return validate_url(value, saving=saving(info))
        except ValueError as exc:
            raise ValueError(f"url {exc}") from None

    @field_validator("payload_template")
    @classmethod
    def _sandboxed(cls, value: str | None) -> str | None:
        """Parse the template and try it on a sample, so a bad one fails when it is saved."""
        if value is None:
            return None
        template = compile_template(value)
        try:
            template.render(**sample_variables())
        except SecurityError as exc:
            raise ValueError(f"payload_template is not allowed to do that: {exc}") from exc
        except Exception:  # data-dependent failures are reported per batch
            pass
        return value

    def method(self, operation: Operation) -> str:
        return self.methods.get(operation.value, _DEFAULT_METHODS[operation.value])


class WebhookDestination:
    """Sends change batches to an HTTP endpoint as JSON."""

    config_model: ClassVar[type[BaseModel]] = WebhookDestinationConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        modes=frozenset(SyncMode),
        max_batch_rows=10_000,  # split into batch_size requests inside write()
        supports_delete=True,
        lists_fields=False,
    )

    def __init__(self, config: WebhookDestinationConfig) -> None:
        self._config = config
        self._run: RunInfo | None = None
        self._sender: Sender | None = None

    def check(self) -> CheckResult:
        """A HEAD request with the credentials: the endpoint answers and accepts them."""
        headers = self._headers(Operation.UPSERT)
        if self._config.hmac_secret:  # a receiver that verifies signatures sees a signed HEAD
            headers[self._config.signature_header] = signature(self._config.hmac_secret, b"")
        try:
            response = self._send().head(headers)
        except httpx.HTTPError as exc:
            return CheckResult(False, f"cannot reach {self._where}: {exc}")
        except BlockedAddressError as exc:
            return CheckResult(False, f"{self._where}: {exc}")
        finally:
            self.close()
        status = response.status_code
        if status in (401, 403):
            return CheckResult(False, f"{self._where} refused the credentials (HTTP {status})")
        if status >= 500:
            return CheckResult(False, f"{self._where} answered HTTP {status}: {snippet(response)}")
        return CheckResult(True, f"{self._where} is reachable (HTTP {status} to HEAD)")

    def objects(self) -> list[ObjectSchema]:
        """An endpoint takes any fields: there is no object to map against."""
        return []

    def begin(self, run: RunInfo) -> None:
        self._run = run

    def write(self, batch: ChangeBatch) -> BatchResult:
        """Send the batch; every record not in the returned errors was accepted by the receiver.

        Raises:
            DestinationAuthError: the endpoint refused the credentials (401/403).
            DestinationError: retryable when every request gave up on a retryable failure
                (nothing of the batch was acknowledged); not retryable for a bad template.
        """
        if self._run is None:
            raise DestinationError("write() called before begin()")
        size = len(batch)
        if size == 0:
            return BatchResult(0)
        requests = self._requests(batch)
        try:
            outcomes = self._send().send(requests, self._run)
        except Stopped as stopped:
            raise self._interrupted(requests, stopped) from None
        errors: list[RecordError] = []
        for request, outcome in zip(requests, outcomes, strict=True):
            errors += [
                RecordError(request.start + offset, message, error_class)
                for offset, (message, error_class) in sorted(outcome.errors.items())
            ]
        gave_up = [o for o in outcomes if not o.answered]
        if gave_up and len(errors) == size:
            # Nothing was acknowledged: let the engine retry the whole batch with backoff.
            message, error_class = next(iter(gave_up[0].errors.values()))
            if error_class in ("connection_error", "timeout"):
                raise DestinationUnreachable(f"{self._where}: {message}", retryable=True)
            raise DestinationError(f"{self._where}: {message}", retryable=True)
        return BatchResult(size, errors)

    @staticmethod
    def _interrupted(requests: list[Request], stopped: Stopped) -> Interrupted:
        """What the receiver answered before the stop, as batch indexes (the rest: unsent)."""
        acknowledged: list[int] = []
        errors: list[RecordError] = []
        for n, outcome in stopped.answered.items():
            request = requests[n]
            if not outcome.answered:
                continue
            for offset in range(len(request.keys)):
                if offset in outcome.errors:
                    message, error_class = outcome.errors[offset]
                    errors.append(RecordError(request.start + offset, message, error_class))
                else:
                    acknowledged.append(request.start + offset)
        return Interrupted(acknowledged=acknowledged, errors=errors)

    def finish(self, *, success: bool) -> None:
        """Nothing is buffered: every batch was fully answered inside write()."""

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    # -- internals ---------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        """The URL for messages: its password and query values masked."""
        return redact_url(self._config.url)

    def _send(self) -> Sender:
        if self._sender is None:
            c = self._config
            self._sender = Sender(
                Policy(
                    url=c.url,
                    concurrency=c.concurrency,
                    requests_per_second=c.requests_per_second,
                    timeout_seconds=c.timeout_seconds,
                    max_retries=c.max_retries,
                    backoff_initial=c.backoff_initial_seconds,
                    backoff_max=c.backoff_max_seconds,
                    max_retry_after=c.max_retry_after_seconds,
                    results_path=c.results_path,
                    results_list=c.results_list,
                )
            )
        return self._sender

    def _headers(self, operation: Operation) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
        headers.update(self._config.headers)
        headers.update(self._config.auth.headers())
        headers["X-Syncline-Operation"] = operation.value
        if self._run is not None:
            headers["X-Syncline-Sync-Id"] = self._run.sync_id
            headers["X-Syncline-Run-Id"] = self._run.run_id
        return headers

    def _requests(self, batch: ChangeBatch) -> list[Request]:
        """The batch as requests of ``batch_size`` records, bodies rendered and signed."""
        assert self._run is not None
        c = self._config
        records = batch.records
        if batch.operation is Operation.DELETE:
            records = records.select([batch.key_field])
        rows: list[dict[str, Any]] = records_of(records, skip_nulls=batch.skip_nulls)
        base = self._headers(batch.operation)
        # Derived from the records, not from the run: a resumed attempt or a retry run that
        # sends the same record changes sends the same keys (docs: "De-duplicating deliveries").
        record_keys = batch.idempotency_keys(self._run.sync_id)
        op = batch.operation.value
        out = []
        for number, start in enumerate(range(0, len(rows), c.batch_size)):
            chunk = rows[start : start + c.batch_size]
            chunk_keys = record_keys[start : start + len(chunk)]
            variables = {
                "records": chunk,
                "idempotency_keys": chunk_keys,
                "operation": op,
                "sync_id": self._run.sync_id,
                "run_id": self._run.run_id,
                "batch_seq": batch.seq,
                "request_index": number,
                "key_field": batch.key_field,
            }
            body = render_body(c.payload_template, variables)
            headers = dict(base)
            headers["Idempotency-Key"] = request_idempotency_key(op, chunk_keys)
            if c.hmac_secret:
                headers[c.signature_header] = signature(c.hmac_secret, body)
            keys = batch.keys[start : start + len(chunk)]
            out.append(Request(start, keys, c.method(batch.operation), body, headers))
        return out
