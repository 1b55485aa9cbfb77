"""Conformance adapters of the SaaS destinations, each over a fresh local emulator.

* ``salesforce``: sObject Collections (batches under the bulk threshold).
* ``salesforce-bulk``: the same suite with ``bulk_threshold_rows=0``, so every batch is a
  Bulk API 2.0 ingest job.
* ``hubspot``: a custom object type keyed by a unique ``external_id`` property.

Both vendors store an empty string as "no value" and keep datetimes to the millisecond, so
the shared type round trip cannot hold for them; it is marked as an expected failure here,
and ``test_salesforce_destination.py`` / ``test_hubspot_destination.py`` check the encodings
they do guarantee.
"""

from __future__ import annotations

from typing import Any

import pytest
from conformance import KEY, Adapter, State

from syncline.emulators.hubspot_emulator import HsProperty, HubSpotEmulator
from syncline.emulators.salesforce_emulator import SalesforceEmulator, SfField

SF_OBJECT = "Person__c"
SF_EXT = "External_Id__c"
SF_FIELDS = [
    SfField(SF_EXT, external_id=True, unique=True),
    SfField("email"),
    SfField("score", "double"),
    SfField("small", "int"),
    SfField("ratio", "double"),
    SfField("price", "currency"),
    SfField("name", "textarea", length=32_768),
    SfField("active", "boolean"),
    SfField("born", "date"),
    SfField("seen_at", "datetime"),
    SfField("attrs", "textarea", length=32_768),
]
HS_OBJECT = "p_people"
HS_ID = "external_id"
HS_PROPERTIES = [
    HsProperty(HS_ID, unique=True),
    HsProperty("email"),
    HsProperty("score", "number", "number"),
    HsProperty("small", "number", "number"),
    HsProperty("ratio", "number", "number"),
    HsProperty("price", "number", "number"),
    HsProperty("name", "string", "textarea"),
    HsProperty("active", "bool", "booleancheckbox"),
    HsProperty("born", "date", "date"),
    HsProperty("seen_at", "datetime", "date"),
    HsProperty("attrs", "string", "textarea"),
]


def salesforce_config(sf: SalesforceEmulator, **extra: Any) -> dict[str, Any]:
    """A destination config for the emulator, with test-speed waits."""
    return {
        "instance_url": sf.url,
        "auth": {"client_id": sf.client_id, "client_secret": sf.client_secret},
        "object": SF_OBJECT,
        "external_id_field": SF_EXT,
        "poll_interval_seconds": 0.01,
        "retry_backoff_seconds": 0.01,
        "timeout_seconds": 5,
        **extra,
    }


def hubspot_config(hs: HubSpotEmulator, **extra: Any) -> dict[str, Any]:
    return {
        "access_token": hs.token,
        "base_url": hs.url,
        "object_type": HS_OBJECT,
        "id_property": HS_ID,
        "retry_backoff_seconds": 0.01,
        "timeout_seconds": 5,
        **extra,
    }


class SalesforceAdapter(Adapter):
    """The org's ``Person__c`` records keyed by their external ID (the model's ``id``)."""

    def __init__(self, sf: SalesforceEmulator, *, bulk: bool) -> None:
        super().__init__()
        self.sf = sf
        self.name = "salesforce-bulk" if bulk else "salesforce"
        self.bulk = bulk

    def config(self) -> dict[str, Any]:
        return salesforce_config(self.sf, bulk_threshold_rows=0 if self.bulk else 10_000)

    def state(self) -> State:
        return {
            str(r[SF_EXT]): {KEY: r[SF_EXT], **{f.name: r.get(f.name) for f in SF_FIELDS[1:]}}
            for r in self.sf.records(SF_OBJECT)
        }


class HubSpotAdapter(Adapter):
    """The account's ``p_people`` objects keyed by ``external_id`` (the model's ``id``)."""

    name = "hubspot"

    def __init__(self, hs: HubSpotEmulator) -> None:
        super().__init__()
        self.hs = hs

    def config(self) -> dict[str, Any]:
        return hubspot_config(self.hs)

    def state(self) -> State:
        out: State = {}
        for obj in self.hs.objects(HS_OBJECT):
            props = obj["properties"]
            fields = {p.name: props.get(p.name) for p in HS_PROPERTIES[1:]}
            out[str(props[HS_ID])] = {KEY: props[HS_ID], **fields}
        return out


def saas_adapter(request: pytest.FixtureRequest, name: str) -> Adapter:
    """A fresh emulator for one test (stopped at its end) and its adapter."""
    if name == "hubspot":
        hs = HubSpotEmulator({HS_OBJECT: HS_PROPERTIES})
        hs.start()
        request.addfinalizer(hs.stop)
        return HubSpotAdapter(hs)
    sf = SalesforceEmulator({SF_OBJECT: SF_FIELDS})
    sf.start()
    request.addfinalizer(sf.stop)
    return SalesforceAdapter(sf, bulk=name == "salesforce-bulk")
