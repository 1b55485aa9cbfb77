"""Salesforce destination: keep one sObject in step with a model, matched by an external ID.

Batches up to ``bulk_threshold_rows`` go through sObject Collections (200 records a request,
a result per record); larger batches become one Bulk API 2.0 ingest job. The decision is per
batch because ``write`` sees batches, not the run: with the engine's default batch size a run
larger than the threshold sends its full batches through Bulk API 2.0 and its remainder through
the REST API, which gives the same result. See docs/destinations/salesforce.md.

Retries: each chunk is an idempotent step (see ``salesforce.rest``) retried on timeouts, 5xx,
429 and the concurrent-request limit, honouring ``Retry-After``; then the engine's backoff
takes over with a retryable ``DestinationError``. An expired session (401 INVALID_SESSION_ID)
gets a fresh token once per request.

REST API reference: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from syncline.connectors._http import RetryPolicy, retrying
from syncline.connectors._netguard_http import validate_url
from syncline.connectors.base import (
    BatchResult,
    Capabilities,
    ChangeBatch,
    CheckResult,
    DestinationError,
    ObjectSchema,
    RunInfo,
    SyncMode,
    saving,
)
from syncline.connectors.destinations._saas_common import (
    ONE_ATTEMPT,
    ApiDestination,
    MaxRetryWait,
    Rec,
    RetryBackoff,
    batch_recs,
)
from syncline.connectors.destinations.salesforce.bulk import BulkWriter
from syncline.connectors.destinations.salesforce.client import Credentials, SalesforceClient
from syncline.connectors.destinations.salesforce.rest import CHUNK, RestWriter, Target
from syncline.connectors.destinations.salesforce.values import FieldInfo
from syncline.domain.secrets import OptionalSecret, OptionalSecretUrl, Secret

__all__ = ["SalesforceAuth", "SalesforceDestination", "SalesforceDestinationConfig"]


class SalesforceAuth(BaseModel):
    """OAuth 2.0 credentials of a connected (or external client) app; secrets are encrypted."""

    model_config = ConfigDict(extra="forbid")

    flow: Literal["client_credentials", "password"] = Field(
        "client_credentials", description="OAuth 2.0 flow used at /services/oauth2/token"
    )
    client_id: str = Field(description="Consumer key")
    client_secret: Secret = Field(description="Consumer secret")
    username: str | None = Field(None, description="password flow only")
    password: OptionalSecret = Field(None, description="password flow only")
    security_token: Secret = Field("", description="password flow: appended to the password")

    @model_validator(mode="after")
    def _password_flow_needs_a_user(self) -> SalesforceAuth:
        if self.flow == "password" and not (self.username and self.password):
            raise ValueError("the password flow needs username and password")
        return self


class SalesforceDestinationConfig(BaseModel):
    """Which org, which object, matched on which external ID field."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    instance_url: OptionalSecretUrl = Field(
        None, description="https://MyDomain.my.salesforce.com (default: from the token response)"
    )
    login_url: OptionalSecretUrl = Field(
        None, description="Where /services/oauth2/token is (default: instance_url)"
    )
    auth: SalesforceAuth
    api_version: str = Field("v60.0", description="REST API version, e.g. v60.0")
    sobject: str = Field(alias="object", description="API name of the object, e.g. Contact")
    external_id_field: str | None = Field(
        None, description="External ID field matched against the model's key (default: key field)"
    )
    bulk_threshold_rows: int = Field(
        10_000, ge=0, description="Batches with more rows than this use Bulk API 2.0"
    )
    poll_interval_seconds: float = Field(5.0, gt=0, description="Bulk job status polling")
    bulk_timeout_seconds: float = Field(3600.0, gt=0, description="Abort a Bulk job after this")
    timeout_seconds: float = Field(120.0, gt=0, description="Per HTTP request")
    max_retries: int = Field(5, ge=1, le=20, description="Attempts per chunk on transient errors")
    retry_backoff_seconds: RetryBackoff = 1.0
    max_retry_wait_seconds: MaxRetryWait = 60.0

    @field_validator("instance_url", "login_url")
    @classmethod
    def _guarded_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A parseable http(s) URL; when saved, its host passes the network guard."""
        return None if value is None else validate_url(value, saving=saving(info))

    @model_validator(mode="after")
    def _needs_a_url(self) -> SalesforceDestinationConfig:
        if not (self.instance_url or self.login_url):
            raise ValueError("set instance_url (or login_url)")
        return self


class SalesforceDestination(ApiDestination[SalesforceClient]):
    """Writes change batches into one Salesforce object."""

    config_model: ClassVar[type[BaseModel]] = SalesforceDestinationConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        modes=frozenset({SyncMode.UPSERT, SyncMode.INSERT, SyncMode.UPDATE, SyncMode.MIRROR}),
        max_batch_rows=50_000,
        supports_delete=True,
        lists_fields=True,
        exact_types=False,
    )

    def __init__(self, config: SalesforceDestinationConfig) -> None:
        super().__init__(config)
        self._config = config
        self._rest: RestWriter | None = None
        self._bulk: BulkWriter | None = None
        self._run: RunInfo | None = None

    def check(self) -> CheckResult:
        """Get a token and describe the object; never raises."""
        cfg = self._config
        try:
            with self._session() as client:
                target = self._target(client, cfg.external_id_field, policy=ONE_ATTEMPT)
                where = client.base_url
        except DestinationError as exc:
            return CheckResult(False, str(exc))
        ext = f"; external ID field {target.ext.name}" if cfg.external_id_field else ""
        return CheckResult(True, f"connected to {where}; {cfg.sobject} is writable{ext}")

    def objects(self) -> list[ObjectSchema]:
        """The configured object with its fields (from describe), then the org's other objects.

        Only the configured object is described (one request per object would be slow); the
        others are listed by name so a user can see what else the connection can reach.
        """
        with self._session() as client:
            listing = self._get(client, "/sobjects").get("sobjects", [])
            raw = self._describe(client)
        fields = [FieldInfo.from_describe(f).schema() for f in raw.get("fields", [])]
        out = [ObjectSchema(str(raw.get("name", self._config.sobject)), fields)]
        for item in listing:
            name = str(item.get("name", ""))
            if name and name != out[0].name and item.get("createable") and item.get("updateable"):
                out.append(ObjectSchema(name))
        return out

    def begin(self, run: RunInfo) -> None:
        """Authenticate, describe the object and check every mapped field exists.

        From here on every retry and every poll wait is paid from the run's retry budget (the
        polls are not retries: they only end early) and ends at once on a stop.
        """
        self._policy = replace(self._policy, run=run)
        client = self._live()
        ext_name = self._config.external_id_field or run.key_field
        target = self._target(client, ext_name)
        unknown = [
            name
            for name in run.fields
            if name != run.key_field and name.lower() not in target.fields
        ]
        if unknown:
            known = ", ".join(sorted(f.name for f in target.fields.values()))
            raise DestinationError(
                f"{target.sobject} has no field(s) {', '.join(unknown)}; its fields: {known}"
            )
        self._run = run
        self._rest = RestWriter(client, target, self._policy)
        self._bulk = BulkWriter(
            self._rest,
            poll_interval=self._config.poll_interval_seconds,
            timeout=self._config.bulk_timeout_seconds,
            sleep=run.wait,
        )

    def write(self, batch: ChangeBatch) -> BatchResult:
        """Apply one batch; every record not in the returned errors was applied."""
        if self._run is None or self._rest is None or self._bulk is None:
            raise DestinationError("write() called before begin()")
        size = len(batch)
        if size == 0:
            return BatchResult(0)
        if batch.key_field not in batch.records.column_names:
            raise DestinationError(f"batch has no key column {batch.key_field!r}")
        op = batch.operation
        if size > self._config.bulk_threshold_rows:
            errors = self._bulk.write(op, self._recs(batch, 0, size), skip_nulls=batch.skip_nulls)
        else:
            errors = []
            for start in range(0, size, CHUNK):  # convert chunk by chunk: memory stays small
                recs = self._recs(batch, start, CHUNK)
                errors += self._rest.write(op, recs, skip_nulls=batch.skip_nulls)
                self._run.report_sent(len(recs))  # live progress per chunk of 200
        return BatchResult(size, sorted(errors, key=lambda e: e.index))

    def finish(self, *, success: bool) -> None:
        """Nothing to finalise: every batch was applied by the time ``write`` returned."""
        self._run = None

    def close(self) -> None:
        self._close_client()
        self._rest = self._bulk = None

    # -- internals ---------------------------------------------------------------------------

    def _new_client(self) -> SalesforceClient:
        cfg, auth = self._config, self._config.auth
        return SalesforceClient(
            login_url=cfg.login_url or cfg.instance_url or "",
            instance_url=cfg.instance_url,
            api_version=cfg.api_version,
            credentials=Credentials(
                auth.flow,
                auth.client_id,
                auth.client_secret,
                auth.username,
                auth.password,
                auth.security_token,
            ),
            timeout=cfg.timeout_seconds,
        )

    def _get(
        self, client: SalesforceClient, path: str, policy: RetryPolicy | None = None
    ) -> dict[str, Any]:
        body = retrying(
            lambda: client.request("GET", path).json(),
            what=f"Salesforce GET {path}",
            policy=policy or self._policy,
        )
        return body if isinstance(body, dict) else {}

    def _describe(
        self, client: SalesforceClient, policy: RetryPolicy | None = None
    ) -> dict[str, Any]:
        name = self._config.sobject
        try:
            return self._get(client, f"/sobjects/{name}/describe", policy)
        except DestinationError as exc:
            if "HTTP 404" in str(exc):
                raise DestinationError(f"Salesforce object {name!r} not found: {exc}") from exc
            raise

    def _target(
        self, client: SalesforceClient, ext_name: str | None, policy: RetryPolicy | None = None
    ) -> Target:
        raw = self._describe(client, policy)
        fields = {i.name.lower(): i for i in map(FieldInfo.from_describe, raw.get("fields", []))}
        sobject = str(raw.get("name", self._config.sobject))
        ext = fields.get((ext_name or "").lower()) if ext_name else FieldInfo(name="Id", type="id")
        if ext is None or (ext_name and not ext.external_id):
            kind = "no field" if ext is None else "a field that is not an External ID:"
            raise DestinationError(
                f"{sobject} has {kind} {ext_name!r}; records are matched on an External ID "
                "field (Setup > Object Manager > Fields > External ID)"
            )
        return Target(sobject, ext, fields)

    def _recs(self, batch: ChangeBatch, start: int, length: int) -> list[Rec]:
        return batch_recs(batch, start, length)
