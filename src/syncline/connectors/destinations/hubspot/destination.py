"""HubSpot destination: keep one CRM object type in step with a model, keyed by a unique property.

Records are matched on ``id_property`` (``email`` for contacts, or any property with unique
values); the model's key is written there. Batches are sent 100 inputs a request through the
CRM v3 batch endpoints (see ``hubspot.batch`` for each mode), with the private app token as a
bearer token. Property values are strings: NULL clears a property (HubSpot clears with an
empty string), unless ``skip_nulls``, when the property is left out.

Requests draw from the account's shared rolling-window rate budget, synced with the
``X-HubSpot-RateLimit-*`` headers, so a 429 is not earned; a 429 waits its ``Retry-After``
(or for a free slot) and the chunk is resent (see ``hubspot.client``).

API reference: https://developers.hubspot.com/docs/api/crm/understanding-the-crm
Properties API: https://developers.hubspot.com/docs/api/crm/properties
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from syncline.connectors._http import RetryPolicy, retrying
from syncline.connectors._netguard_http import validate_url
from syncline.connectors.base import (
    BatchResult,
    Capabilities,
    ChangeBatch,
    CheckResult,
    DestinationError,
    FieldSchema,
    ObjectSchema,
    RunInfo,
    SyncMode,
    saving,
)
from syncline.connectors.destinations._saas_common import (
    ONE_ATTEMPT,
    ApiDestination,
    MaxRetryWait,
    RetryBackoff,
    batch_recs,
)
from syncline.connectors.destinations.hubspot.batch import BatchWriter
from syncline.connectors.destinations.hubspot.client import HubSpotClient, message_of
from syncline.domain.secrets import Secret, SecretUrl

__all__ = ["HubSpotDestination", "HubSpotDestinationConfig"]


class HubSpotDestinationConfig(BaseModel):
    """Which account (by its private app token), which object type, keyed on what."""

    model_config = ConfigDict(extra="forbid")

    access_token: Secret = Field(description="Private app access token (pat-...)")
    base_url: SecretUrl = Field("https://api.hubapi.com", description="API root")
    object_type: str = Field("contacts", description="contacts, companies, deals, or 2-xxxx")
    id_property: str = Field("email", description="Unique property matched against the model's key")
    timeout_seconds: float = Field(60.0, gt=0, description="Per HTTP request")
    max_retries: int = Field(6, ge=1, le=20, description="Attempts per chunk on transient errors")
    retry_backoff_seconds: RetryBackoff = 1.0
    max_retry_wait_seconds: MaxRetryWait = 60.0

    @field_validator("base_url")
    @classmethod
    def _guarded_url(cls, value: str, info: ValidationInfo) -> str:
        """A parseable http(s) URL; when saved, its host passes the network guard."""
        return validate_url(value, saving=saving(info))


class HubSpotDestination(ApiDestination[HubSpotClient]):
    """Writes change batches into one HubSpot object type."""

    config_model: ClassVar[type[BaseModel]] = HubSpotDestinationConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        modes=frozenset({SyncMode.UPSERT, SyncMode.INSERT, SyncMode.UPDATE, SyncMode.MIRROR}),
        max_batch_rows=10_000,
        rate_limit_per_second=10.0,  # private apps: 100 requests per 10 s on the base tiers
        supports_delete=True,
        lists_fields=True,
        exact_types=False,
    )

    def __init__(self, config: HubSpotDestinationConfig) -> None:
        super().__init__(config)
        self._config = config
        self._writer: BatchWriter | None = None

    def check(self) -> CheckResult:
        """Read the object type's properties with the token; never raises."""
        cfg = self._config
        try:
            with self._session() as client:
                properties = self._properties(client, ONE_ATTEMPT)
            problem = self._id_problem(properties)
        except DestinationError as exc:
            return CheckResult(False, str(exc))
        if problem:
            return CheckResult(False, problem)
        return CheckResult(
            True,
            f"connected; {cfg.object_type} has {len(properties)} properties, "
            f"matched on {cfg.id_property}",
        )

    def objects(self) -> list[ObjectSchema]:
        """The configured object type with its properties (from the properties API)."""
        with self._session() as client:
            properties = self._properties(client)
        idp = self._config.id_property
        fields = [
            FieldSchema(
                name,
                str(p.get("type", "string")),
                is_key=bool(p.get("hasUniqueValue")) or name == idp,
            )
            for name, p in properties.items()
        ]
        return [ObjectSchema(self._config.object_type, fields)]

    def begin(self, run: RunInfo) -> None:
        """Check the token, the id property and that every mapped property is writable.

        From here on every retry and every pause of the pacer is paid from the run's retry
        budget and ends at once when the run is asked to stop.
        """
        self._policy = replace(self._policy, run=run)
        client = self._live()
        client.limiter.wait = run.wait  # waiting for the rate budget ends at once on a stop
        properties = self._properties(client)
        problem = self._id_problem(properties)
        fields = [f for f in run.fields if f != run.key_field]
        unknown = [f for f in fields if f not in properties]
        read_only = [f for f in fields if f in properties and _read_only(properties[f])]
        if unknown:
            problem = f"{self._config.object_type} has no properties {', '.join(unknown)}"
        elif read_only:
            problem = f"properties {', '.join(read_only)} are read-only in HubSpot"
        if problem:
            raise DestinationError(problem)
        cfg = self._config
        self._writer = BatchWriter(client, cfg.object_type, cfg.id_property, self._policy)
        self._writer.on_chunk = run.report_sent  # live progress per request of 100

    def write(self, batch: ChangeBatch) -> BatchResult:
        """Apply one batch; every record not in the returned errors was applied."""
        if self._writer is None:
            raise DestinationError("write() called before begin()")
        size = len(batch)
        if size == 0:
            return BatchResult(0)
        recs = batch_recs(batch)
        errors = self._writer.write(batch.operation, recs, skip_nulls=batch.skip_nulls)
        return BatchResult(size, sorted(errors, key=lambda e: e.index))

    def finish(self, *, success: bool) -> None:
        """Nothing to finalise: every batch was applied by the time ``write`` returned."""

    def close(self) -> None:
        self._close_client()
        self._writer = None

    # -- internals ---------------------------------------------------------------------------

    def _new_client(self) -> HubSpotClient:
        cfg = self._config
        return HubSpotClient(
            base_url=cfg.base_url,
            token=cfg.access_token,
            timeout=cfg.timeout_seconds,
            max_wait=cfg.max_retry_wait_seconds,
        )

    def _properties(
        self, client: HubSpotClient, policy: RetryPolicy | None = None
    ) -> dict[str, dict[str, Any]]:
        """``GET /crm/v3/properties/{objectType}``: property definitions by name."""
        path = f"/crm/v3/properties/{self._config.object_type}"
        status, body = retrying(
            lambda: client.request("GET", path),
            what=f"HubSpot GET {path}",
            policy=policy or self._policy,
        )
        if status != 200 or not isinstance(body, dict):
            raise DestinationError(f"HubSpot GET {path} answered {message_of(body, status)}")
        return {str(p["name"]): p for p in body.get("results", []) if "name" in p}

    def _id_problem(self, properties: dict[str, dict[str, Any]]) -> str | None:
        cfg = self._config
        prop = properties.get(cfg.id_property)
        if prop is None:
            return f"{cfg.object_type} has no property {cfg.id_property!r} (id_property)"
        if not prop.get("hasUniqueValue") and (cfg.object_type, cfg.id_property) != (
            "contacts",
            "email",
        ):
            return (
                f"id_property {cfg.id_property!r} does not have unique values; records are "
                "matched on it, so use a property created with hasUniqueValue=true"
            )
        return None


def _read_only(prop: dict[str, Any]) -> bool:
    return bool((prop.get("modificationMetadata") or {}).get("readOnlyValue"))
