"""The shared destination suite: every mode, scenario by scenario, against every destination.

Each test goes through the engine's lifecycle (begin, write..., finish, close) via ``run`` and
checks both what ``write`` acknowledged and what the target holds afterwards.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from conformance import KEY, MODE_OF, Adapter, assert_state, run, table_of

from syncline.connectors.base import Destination, Operation, SyncMode
from syncline.connectors.registry import destination_class

SCHEMA = pa.schema([(KEY, pa.int64()), ("email", pa.string()), ("score", pa.int64())])
U, INS, UP, D = Operation.UPSERT, Operation.INSERT, Operation.UPDATE, Operation.DELETE


def people(*rows: tuple[int, str | None, int | None]) -> list[dict[str, object]]:
    return [{KEY: k, "email": e, "score": s} for k, e, s in rows]


def batch(*rows: tuple[int, str | None, int | None]) -> pa.Table:
    return table_of(people(*rows), SCHEMA)


SEED = ((1, "a@x.io", 10), (2, "b@x.io", 20), (3, "c@x.io", 30))


def seed(adapter: Adapter) -> None:
    assert run(adapter, (U, batch(*SEED)))[0].errors == []


def needs(adapter: Adapter, *ops: Operation) -> None:
    """Skip a scenario the destination's Capabilities rule out (a mode it does not declare,
    deletes without ``supports_delete``): the suite picks its cases from what is declared."""
    caps = adapter.capabilities
    missing = [
        op.value
        for op in ops
        if MODE_OF[op] not in caps.modes or (op is D and not caps.supports_delete)
    ]
    if missing:
        pytest.skip(f"the destination does not declare {', '.join(missing)}")


def test_registered_and_satisfies_the_protocol(adapter: Adapter) -> None:
    cls = destination_class(adapter.type_name)
    assert {SyncMode.UPSERT, SyncMode.INSERT, SyncMode.UPDATE} <= cls.capabilities.modes
    assert isinstance(adapter.open(), Destination)
    assert adapter.open().check().ok


def test_upsert_creates_then_updates_by_key(adapter: Adapter) -> None:
    needs(adapter, U)
    seed(adapter)
    [result] = run(adapter, (U, batch((2, "b2@x.io", 21), (4, "d@x.io", 40))))
    assert result.errors == [] and result.succeeded == 2
    assert_state(adapter, people(SEED[0], (2, "b2@x.io", 21), SEED[2], (4, "d@x.io", 40)))


def test_upsert_writes_nulls_unless_skip_nulls(adapter: Adapter) -> None:
    needs(adapter, U)
    seed(adapter)
    run(adapter, (U, batch((1, None, 11))))
    run(adapter, (U, batch((2, None, None), (5, None, 50))), skip_nulls=True)
    expected = people((1, None, 11), SEED[1], SEED[2], (5, None, 50))
    assert_state(adapter, expected)


def test_insert_creates_absent_and_leaves_existing_untouched(adapter: Adapter) -> None:
    needs(adapter, U, INS)
    seed(adapter)
    [result] = run(adapter, (INS, batch((1, "CHANGED", 0), (4, "d@x.io", 40))))
    assert result.errors == []  # an existing record is not an error: it is left as is
    assert_state(adapter, people(*SEED, (4, "d@x.io", 40)))


def test_update_changes_existing_and_never_creates(adapter: Adapter) -> None:
    needs(adapter, U, UP)
    seed(adapter)
    [result] = run(adapter, (UP, batch((1, "a2@x.io", 11), (9, "new@x.io", 90), (3, "c2", 31))))
    if adapter.capabilities.reports_not_found:
        [error] = result.errors
        assert (error.index, error.error_class) == (1, "not_found")
        assert "not found" in error.message
    else:
        assert result.errors == []  # documented: a log cannot know what exists
    assert_state(adapter, people((1, "a2@x.io", 11), SEED[1], (3, "c2", 31)))


def test_update_with_skip_nulls_keeps_existing_values(adapter: Adapter) -> None:
    needs(adapter, U, UP)
    seed(adapter)
    [result] = run(adapter, (UP, batch((1, None, 12), (2, "b3@x.io", None))), skip_nulls=True)
    assert result.errors == []
    assert_state(adapter, people((1, "a@x.io", 12), (2, "b3@x.io", 20), SEED[2]))


def test_delete_removes_and_absent_key_is_success(adapter: Adapter) -> None:
    needs(adapter, U, D)
    seed(adapter)
    [result] = run(adapter, (D, batch((1, None, None), (99, None, None))))
    assert result.errors == []
    assert_state(adapter, people(SEED[1], SEED[2]))


def test_one_run_mixes_operations_in_order(adapter: Adapter) -> None:
    needs(adapter, U, D)
    results = run(
        adapter,
        (U, batch((1, "a@x.io", 1), (2, "b@x.io", 2))),
        (D, batch((1, None, None))),
        (U, batch((3, "c@x.io", 3))),
    )
    assert [r.errors for r in results] == [[], [], []]
    assert_state(adapter, people((2, "b@x.io", 2), (3, "c@x.io", 3)))


@pytest.mark.parametrize("op", [U, INS, UP, D], ids=lambda op: op.value)
def test_resending_a_batch_changes_nothing(adapter: Adapter, op: Operation) -> None:
    """After a crash the engine resends batches it never saw acknowledged: no duplicates."""
    needs(adapter, U, op)
    seed(adapter)
    again = batch((2, "b9@x.io", 29), (3, None, 39), (7, "g@x.io", 70))
    first = run(adapter, (op, again))[0]
    after_first = adapter.state()
    second = run(adapter, (op, again), (op, again))  # in a new run, and twice in one run
    assert adapter.state() == after_first
    assert [e.index for r in second for e in r.errors] == [e.index for e in first.errors] * 2


def test_empty_batch_is_a_no_op(adapter: Adapter) -> None:
    needs(adapter, U)
    seed(adapter)
    [result] = run(adapter, (U, batch()))
    assert result.size == 0 and result.errors == []
    assert_state(adapter, people(*SEED))


def test_objects_list_fields_as_declared(adapter: Adapter) -> None:
    """``lists_fields``: ``objects()`` shows the fields a sync can map onto (here, the ones the
    seed wrote); a destination that takes any field lists none."""
    needs(adapter, U)
    seed(adapter)
    dest = adapter.open()
    try:
        objects = dest.objects()
    finally:
        dest.close()
    fields = {f.name.lower() for o in objects for f in o.fields}
    if adapter.capabilities.lists_fields:
        assert {"email", "score"} <= fields, fields
    else:
        assert fields == set()


TYPED = pa.schema(
    [
        (KEY, pa.int64()),
        ("small", pa.int32()),
        ("ratio", pa.float64()),
        ("price", pa.decimal128(12, 2)),
        ("name", pa.string()),
        ("active", pa.bool_()),
        ("born", pa.date32()),
        ("seen_at", pa.timestamp("us", tz="UTC")),
        ("attrs", pa.struct([("plan", pa.string()), ("seats", pa.int64())])),
    ]
)
PARIS = timezone(timedelta(hours=2))


def test_types_round_trip(adapter: Adapter, request: pytest.FixtureRequest) -> None:
    if not adapter.capabilities.exact_types:
        reason = "declared lossy (exact_types=False): '' may become no value, datetimes ms"
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    rows = [
        {
            KEY: 1,
            "small": -2_147_483_648,
            "ratio": 0.1,
            "price": Decimal("1234567890.12"),
            "name": 'quote " comma , newline \n tab \t unicode é ✓ backslash \\.',
            "active": True,
            "born": date(1999, 12, 31),
            "seen_at": datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC),
            "attrs": {"plan": "pro", "seats": 3},
        },
        {
            KEY: 2,
            "small": 0,
            "ratio": -1.5e300,
            "price": Decimal("-0.01"),
            "name": "",  # an empty string is not NULL
            "active": False,
            "born": date(1970, 1, 1),
            "seen_at": datetime(2024, 6, 1, 12, 0, tzinfo=PARIS),
            "attrs": {"plan": "", "seats": 0},
        },
        {KEY: 3, **dict.fromkeys(TYPED.names[1:])},  # all NULL
    ]
    [result] = run(adapter, (U, table_of(rows, TYPED)))
    assert result.errors == []
    rows[1]["seen_at"] = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)  # the same instant
    assert_state(adapter, rows)
