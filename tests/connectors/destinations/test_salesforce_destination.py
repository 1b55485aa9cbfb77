"""Salesforce destination against the emulator: limits, retries, auth, errors, Bulk API 2.0.

The shared suite (``test_destination_conformance.py``) covers the modes; these tests cover
what only a SaaS API does: chunking to 200, waiting out limits without losing or doubling a
record, refreshing an expired session, per-record vendor errors and the Bulk API path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pyarrow as pa
import pytest
from conformance_saas import SF_EXT, SF_FIELDS, SF_OBJECT, salesforce_config

from syncline.connectors.base import (
    BatchResult,
    ChangeBatch,
    DestinationAuthError,
    DestinationError,
    Operation,
    RunInfo,
    SyncMode,
)
from syncline.connectors.destinations.salesforce.destination import SalesforceDestination
from syncline.connectors.registry import open_destination
from syncline.emulators.salesforce_emulator import CONTACT_FIELDS, SalesforceEmulator, SfField

COLLECTIONS = "/composite/sobjects"


@pytest.fixture
def sf() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator({SF_OBJECT: SF_FIELDS, "Contact": CONTACT_FIELDS}) as emulator:
        yield emulator


def open_sf(sf: SalesforceEmulator, **extra: Any) -> SalesforceDestination:
    dest = open_destination("salesforce", salesforce_config(sf, **extra))
    assert isinstance(dest, SalesforceDestination)
    return dest


def begin(dest: SalesforceDestination, fields: list[str] | None = None) -> SalesforceDestination:
    dest.begin(RunInfo("s1", "r1", SyncMode.MIRROR, "id", fields or ["id", "email", "score"]))
    return dest


def people(ids: range | list[int]) -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "email": [f"p{i}@x.io" for i in ids],
            "score": pa.array([float(i) for i in ids]),
        }
    )


def write(dest: SalesforceDestination, op: Operation, table: pa.Table, **kw: Any) -> BatchResult:
    keys = [str(k) for k in table.column("id").to_pylist()]
    return dest.write(ChangeBatch(op, table, keys, "id", **kw))


def stored(sf: SalesforceEmulator, sobject: str = SF_OBJECT) -> list[str]:
    return sorted(str(r[SF_EXT]) for r in sf.records(sobject))


def test_batches_are_sent_200_records_a_request(sf: SalesforceEmulator) -> None:
    dest = begin(open_sf(sf))
    assert write(dest, Operation.UPSERT, people(range(1, 451))).errors == []
    assert sf.chunk_sizes(f"PATCH /services/data/v60.0{COLLECTIONS}/") == [200, 200, 50]
    assert stored(sf) == sorted(str(i) for i in range(1, 451))
    assert write(dest, Operation.DELETE, people(range(1, 451)).select(["id"])).errors == []
    assert sf.chunk_sizes(f"DELETE /services/data/v60.0{COLLECTIONS}") == [200, 200, 50]
    assert stored(sf) == []


def test_each_chunk_is_reported_as_sent_before_the_batch_returns(sf: SalesforceEmulator) -> None:
    reported: list[int] = []
    dest = open_sf(sf)
    fields = ["id", "email", "score"]
    dest.begin(RunInfo("s1", "r1", SyncMode.UPSERT, "id", fields, on_sent=reported.append))
    assert write(dest, Operation.UPSERT, people(range(1, 451))).errors == []
    assert reported == [200, 200, 50]  # the engine's live "N of M sent", chunk by chunk


def test_the_emulator_refuses_more_than_200_records(sf: SalesforceEmulator) -> None:
    token = httpx.post(
        f"{sf.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sf.client_id,
            "client_secret": sf.client_secret,
        },
    ).json()["access_token"]
    records = [{"attributes": {"type": SF_OBJECT}, SF_EXT: str(i)} for i in range(201)]
    response = httpx.post(
        f"{sf.url}/services/data/v60.0{COLLECTIONS}",
        json={"allOrNone": False, "records": records},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert sf.records(SF_OBJECT) == []


@pytest.mark.parametrize(
    ("kind", "status"),
    [("request_limit", 403), ("status", 429), ("status", 503)],
    ids=["REQUEST_LIMIT_EXCEEDED", "429", "503"],
)
def test_a_limit_with_retry_after_mid_run_is_waited_out(
    sf: SalesforceEmulator, kind: str, status: int
) -> None:
    dest = begin(open_sf(sf))
    sf.inject(kind, status=status, after=1, match=COLLECTIONS, retry_after=1)
    started = time.monotonic()
    result = write(dest, Operation.UPSERT, people(range(1, 451)))
    assert result.errors == []
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    statuses = [c.status for c in sf.calls if COLLECTIONS in c.path]
    assert statuses == [200, status, 200, 200]  # the refused chunk was sent again, once
    records = sf.records(SF_OBJECT)
    assert len(records) == 450 and stored(sf) == sorted(str(i) for i in range(1, 451))


def test_insert_after_a_lost_answer_creates_no_duplicate() -> None:
    """The create was applied but its answer timed out: the retry must not create it again."""
    fields = [SfField(SF_EXT, external_id=True), SfField("email"), SfField("score", "double")]
    with SalesforceEmulator({SF_OBJECT: fields}) as sf:  # a non-unique external ID
        dest = begin(open_sf(sf, timeout_seconds=0.3))
        sf.inject("slow", delay=1.0, match=f"POST /services/data/v60.0{COLLECTIONS}")
        result = write(dest, Operation.INSERT, people([1, 2, 3]))
        assert result.errors == []
        assert stored(sf) == ["1", "2", "3"]
        assert [c.status for c in sf.calls if c.method == "POST"] == [200]  # sent once


def test_server_errors_then_success(sf: SalesforceEmulator) -> None:
    dest = begin(open_sf(sf))
    sf.inject("status", status=500, times=2, match=COLLECTIONS)
    assert write(dest, Operation.UPSERT, people(range(1, 4))).errors == []
    assert stored(sf) == ["1", "2", "3"]


def test_persistent_server_errors_hand_over_to_the_engine(sf: SalesforceEmulator) -> None:
    dest = begin(open_sf(sf, max_retries=2))
    sf.inject("status", status=503, times=5, match=COLLECTIONS)
    with pytest.raises(DestinationError) as caught:
        write(dest, Operation.UPSERT, people(range(1, 4)))
    assert caught.value.retryable and "gave up after 2 attempts" in str(caught.value)


def test_the_daily_request_limit_stops_the_run(sf: SalesforceEmulator) -> None:
    dest = begin(open_sf(sf))
    sf.inject("request_limit", message="TotalRequests Limit exceeded.", match=COLLECTIONS)
    with pytest.raises(DestinationError, match="TotalRequests") as caught:
        write(dest, Operation.UPSERT, people(range(1, 4)))
    assert not caught.value.retryable


def test_an_expired_session_is_refreshed_mid_run(sf: SalesforceEmulator) -> None:
    dest = begin(open_sf(sf))
    sf.inject("expire_token", after=1, match=COLLECTIONS)
    assert write(dest, Operation.UPSERT, people(range(1, 451))).errors == []
    assert sf.token_requests == 2
    assert [c.status for c in sf.calls if COLLECTIONS in c.path] == [200, 401, 200, 200]
    assert len(stored(sf)) == 450


def test_validation_errors_reject_exactly_those_records(sf: SalesforceEmulator) -> None:
    sf.reject("Contact", SF_EXT, ["7"], "Contacts from that source are blocked")
    dest = open_sf(sf, object="Contact")
    dest.begin(RunInfo("s1", "r1", SyncMode.UPSERT, "id", ["id", "LastName", "Email"]))
    table = pa.table(
        {
            "id": [1, 2, 3, 4, 7],
            "LastName": ["Lovelace", "Hopper", "Curie", None, "Noether"],
            "Email": ["ada@x.io", "not-an-email", "marie@x.io", "x@x.io", "emmy@x.io"],
        }
    )
    result = write(dest, Operation.UPSERT, table)
    messages = {e.index: e.message for e in result.errors}
    assert sorted(messages) == [1, 3, 4]
    assert (
        messages[1]
        == "INVALID_EMAIL_ADDRESS: Email: invalid email address: not-an-email (fields: Email)"
    )
    assert messages[3].startswith("REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]")
    assert messages[4].startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION: Contacts from that source")
    assert stored(sf, "Contact") == ["1", "3"]


def test_unknown_fields_fail_begin_and_a_field_deleted_mid_run_fails_records(
    sf: SalesforceEmulator,
) -> None:
    with pytest.raises(DestinationError, match=r"has no field.*nickname"):
        begin(open_sf(sf), ["id", "email", "nickname"])
    dest = begin(open_sf(sf))
    sf.remove_field(SF_OBJECT, "score")
    result = write(dest, Operation.UPSERT, people([1, 2]))
    assert [e.index for e in result.errors] == [0, 1]
    assert "INVALID_FIELD: No such column 'score'" in result.errors[0].message
    assert stored(sf) == []


def test_update_and_delete_with_a_non_unique_external_id() -> None:
    fields = [SfField(SF_EXT, external_id=True), SfField("email"), SfField("score", "double")]
    with SalesforceEmulator({SF_OBJECT: fields}) as sf:
        sf.seed(SF_OBJECT, [{SF_EXT: "1"}, {SF_EXT: "1"}, {SF_EXT: "2"}])
        dest = begin(open_sf(sf))
        result = write(dest, Operation.UPDATE, people([1, 2]))
        assert [(e.index, e.message.split(":")[0]) for e in result.errors] == [
            (0, "MULTIPLE_CHOICES")
        ]
        assert write(dest, Operation.DELETE, people([1]).select(["id"])).errors == []
        assert stored(sf) == ["2"]


def test_lookups_follow_next_records_url() -> None:
    with SalesforceEmulator({SF_OBJECT: SF_FIELDS}, query_page_size=50) as sf:
        dest = begin(open_sf(sf))
        assert write(dest, Operation.UPSERT, people(range(1, 131))).errors == []
        result = write(dest, Operation.UPDATE, people(range(1, 131)))
        assert result.errors == []
        assert any("/query/01g" in c.path for c in sf.calls)


def test_large_batches_use_bulk_api_2(sf: SalesforceEmulator) -> None:
    sf.reject(SF_OBJECT, SF_EXT, ["17", "1001"], "score out of range")
    dest = begin(open_sf(sf, bulk_threshold_rows=500))
    result = write(dest, Operation.UPSERT, people(range(1, 1201)))
    assert [e.index for e in result.errors] == [16, 1000]
    assert result.errors[0].message.startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION:score out of")
    assert sf.chunk_sizes(COLLECTIONS) == []  # nothing went through sObject Collections
    assert sf.chunk_sizes("/batches") == [1200]
    [job] = sf.bulk.jobs.values()
    assert job["info"]["operation"] == "upsert" and job["info"]["state"] == "JobComplete"
    assert len(stored(sf)) == 1198
    # update: absent keys (1001 was rejected, 1201+ never sent) are "not found"
    result = write(dest, Operation.UPDATE, people(range(701, 1301)))
    assert {e.error_class for e in result.errors} == {"not_found"}
    assert [e.index for e in result.errors] == [300, *range(500, 600)]
    # delete: absent keys are fine
    assert write(dest, Operation.DELETE, people(range(1, 1301)).select(["id"])).errors == []
    assert stored(sf) == []
    operations = [job["info"]["operation"] for job in sf.bulk.jobs.values()]
    assert operations == ["upsert", "update", "delete"]
    assert sf.chunk_sizes(COLLECTIONS) == []


def test_a_failed_bulk_job_acknowledges_nothing(sf: SalesforceEmulator) -> None:
    dest = begin(open_sf(sf, bulk_threshold_rows=1))
    sf.remove_field(SF_OBJECT, "score")
    result = write(dest, Operation.UPSERT, people([1, 2, 3]))
    assert [e.index for e in result.errors] == [0, 1, 2]
    assert "Field name not found : score" in result.errors[0].message
    assert stored(sf) == []


def test_values_are_encoded_by_field_type(sf: SalesforceEmulator) -> None:
    table = pa.table(
        {
            "id": [1],
            "small": pa.array([-2_147_483_648], pa.int32()),
            "price": pa.array([Decimal("1234567890.12")], pa.decimal128(12, 2)),
            "name": [""],
            "active": [True],
            "born": pa.array([date(1999, 12, 31)]),
            "seen_at": pa.array([datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)]),
            "attrs": pa.array([{"plan": "pro", "seats": 3}]),
            "email": pa.array([42]),  # a number into a text field is sent as text
        }
    )
    dest = begin(open_sf(sf), table.column_names)
    assert write(dest, Operation.UPSERT, table).errors == []
    [row] = sf.records(SF_OBJECT)
    assert row["small"] == -2_147_483_648 and row["price"] == 1234567890.12
    assert row["name"] is None  # Salesforce stores an empty string as null
    assert row["active"] is True and row["born"] == "1999-12-31"
    assert row["seen_at"] == "2024-02-29T23:59:59.123+0000"
    assert row["attrs"] == '{"plan": "pro", "seats": 3}' and row["email"] == "42"


def test_objects_come_from_describe(sf: SalesforceEmulator) -> None:
    objects = open_sf(sf, object="Contact").objects()
    contact = objects[0]
    assert contact.name == "Contact" and [o.name for o in objects[1:]] == [SF_OBJECT]
    fields = {f.name: f for f in contact.fields}
    assert fields["LastName"].required and not fields["FirstName"].required
    assert fields[SF_EXT].is_key and fields["Id"].is_key and fields["Email"].type == "email"


def test_auth_failures(sf: SalesforceEmulator) -> None:
    cfg = salesforce_config(sf)
    cfg["auth"]["client_secret"] = "wrong"
    dest = open_destination("salesforce", cfg)
    check = dest.check()
    assert not check.ok and "invalid_client" in check.message
    with pytest.raises(DestinationAuthError, match="Salesforce login failed"):
        begin(dest)  # type: ignore[arg-type]


def test_password_flow(sf: SalesforceEmulator) -> None:
    auth = {
        "flow": "password",
        "client_id": sf.client_id,
        "client_secret": sf.client_secret,
        "username": sf.username,
        "password": sf.password,
    }
    assert open_sf(sf, auth=auth).check().ok
    bad = open_sf(sf, auth={**auth, "password": "nope"})
    with pytest.raises(DestinationAuthError, match="invalid_grant"):
        begin(bad)


def test_the_match_field_must_be_an_external_id(sf: SalesforceEmulator) -> None:
    dest = open_sf(sf, external_id_field="email")
    assert "not an External ID" in dest.check().message
    with pytest.raises(DestinationError, match="not an External ID"):
        begin(dest)
    assert "not found" in open_sf(sf, object="Nope__c").check().message


@pytest.fixture
def engine(tmp_path: Any) -> Iterator[Any]:
    """The engine harness of tests/engine (SQLite metadata store, DuckDB warehouse)."""
    from tests.fixtures.harness import make_harness as _harness

    yield from _harness(tmp_path, None)


def test_a_mirror_sync_through_the_engine(engine: Any, sf: SalesforceEmulator) -> None:
    """Rate limited mid-run, one record rejected: the rest commits, the reject is resent."""
    from syncline.store.tables import RunRecord

    engine.sql(
        "CREATE TABLE people AS SELECT i AS id, 'p' || i || '@x.io' AS email, i * 1.5 AS score"
        " FROM range(1, 601) t(i)"
    )
    sync_id = engine.make_sync(
        model_sql="SELECT * FROM people",
        primary_key="id",
        destination_type="salesforce",
        destination_config=salesforce_config(sf),
        mapping=[
            {"source_column": "id", "destination_field": "id"},
            {"source_column": "email", "destination_field": "email"},
            {"source_column": "score", "destination_field": "score"},
        ],
        mode="mirror",
    )
    sf.reject(SF_OBJECT, SF_EXT, ["7"], "no sevens")
    sf.inject("request_limit", after=1, match=COLLECTIONS, retry_after=1)
    _, run = engine.run(sync_id)
    assert (run.status, run.result_class) == ("completed", "partial")
    assert (run.rows_synced, run.rows_failed) == (599, 1)
    with engine.ctx.sessions() as s:
        [record] = s.query(RunRecord).filter(RunRecord.run_id == run.id).all()
    assert record.primary_key == "7" and "no sevens" in record.error_message
    assert len(stored(sf)) == 599

    sf.objects[SF_OBJECT.lower()].rejects.clear()
    engine.sql("DELETE FROM people WHERE id <= 5")
    _, run = engine.run(sync_id)
    assert (run.rows_synced, run.rows_failed) == (6, 0)  # 7 again, and 5 deletes
    assert stored(sf) == sorted(str(i) for i in range(6, 601))
    assert sf.by_field(SF_OBJECT, SF_EXT)["7"]["score"] == 10.5


def test_check_reports_an_unreachable_org_at_once(sf: SalesforceEmulator) -> None:
    started = time.monotonic()
    check = open_sf(sf, instance_url="http://127.0.0.1:9").check()
    assert not check.ok and "failed" in check.message
    assert time.monotonic() - started < 2


def test_text_keys_are_escaped_in_soql_and_matched_like_salesforce(sf: SalesforceEmulator) -> None:
    dest = begin(open_sf(sf), ["id", "email"])
    keys = ["O'Brien", "back\\slash", 'quo"te', "MiXeD"]
    table = pa.table({"id": keys, "email": ["a", "b", "c", "d"]})
    assert dest.write(ChangeBatch(Operation.UPSERT, table, keys, "id")).errors == []
    again = pa.table({"id": [*keys[:3], "mixed"], "email": ["A", "B", "C", "D"]})
    result = dest.write(ChangeBatch(Operation.UPDATE, again, again["id"].to_pylist(), "id"))
    assert result.errors == []  # external IDs match case-insensitively, as in Salesforce
    assert {r[SF_EXT]: r["email"] for r in sf.records(SF_OBJECT)} == dict(
        zip(keys, ["A", "B", "C", "D"], strict=True)
    )
