"""The YAML format stays in step with the API's sync body."""

from __future__ import annotations

from syncline.config.schema import ConfigFile, SyncDecl, json_schema
from syncline.services.sync_spec import SyncSpec

BY_NAME = {
    "model_id": "model",
    "destination_id": "destination",
    "trigger_after_sync_ids": "trigger_after",
}


def test_every_api_sync_field_can_be_written_in_yaml() -> None:
    api = {BY_NAME.get(f, f) for f in SyncSpec.model_fields}
    assert api == set(SyncDecl.model_fields)


def test_the_schema_refuses_unknown_keys_everywhere() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    for name in ("SourceDecl", "ModelDecl", "DestinationDecl", "SyncDecl"):
        assert schema["$defs"][name]["additionalProperties"] is False
    assert set(schema["properties"]) == set(ConfigFile.model_fields)
