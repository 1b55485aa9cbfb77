"""The sync form: constants and casts, the frequency picker, alerts, Validate, fragments."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import psycopg
import pytest
from api_helpers import Tenant
from fastapi.testclient import TestClient
from test_ui import csrf_of
from test_ui_actions import _login

from syncline.ui import form_fields as ff
from syncline.ui import views


def test_suggestions_ignore_case_and_separators() -> None:
    columns = ["email", "first_name", "LastName", "customer_id", "unmatched"]
    fields = ["Email", "FirstName", "last_name", "Customer-ID", "Other"]
    assert ff.suggestions(columns, fields) == {
        "email": "Email",
        "first_name": "FirstName",
        "LastName": "last_name",
        "customer_id": "Customer-ID",
    }
    already = [{"source_column": "email", "destination_field": "Email"}]
    added = ff.apply_suggestions(already, {"email": "Email", "first_name": "FirstName"})
    assert added == [*already, {"source_column": "first_name", "destination_field": "FirstName"}]


def test_mapping_rows_carry_constants_and_casts() -> None:
    form = {
        "src_0": "revenue",
        "dst_0": "Annual_Revenue",
        "cast_0": "number",
        "const_1": "web",
        "dst_1": "LeadSource",
        "src_2": "",
        "dst_2": "",
        "src_3": "email",
        "const_3": "x",
        "dst_3": "Email",
    }
    assert ff.mapping_from_form(form) == [
        {"destination_field": "Annual_Revenue", "source_column": "revenue", "type_cast": "number"},
        {"destination_field": "LeadSource", "constant_value": "web"},
        {"destination_field": "Email", "source_column": "email", "constant_value": "x"},
    ]


@pytest.mark.parametrize(
    ("form", "stored"),
    [
        ({"sched_kind": "manual"}, None),
        ({"sched_kind": "minutes", "sched_every": "15"}, "*/15 * * * *"),
        ({"sched_kind": "hours", "sched_every": "6"}, "0 */6 * * *"),
        ({"sched_kind": "hours", "sched_every": "1"}, "0 * * * *"),
        (
            {"sched_kind": "daily", "sched_time": "06:30"},
            {"frequency": "daily", "hour": 6, "minute": 30},
        ),
        (
            {"sched_kind": "weekly", "sched_day": "Monday", "sched_time": "07:05"},
            {"frequency": "weekly", "day": "Monday", "hour": 7, "minute": 5},
        ),
        ({"sched_kind": "cron", "sched_cron": "5 4 * * 1-5"}, "5 4 * * 1-5"),
        ({"sched_kind": "continuous"}, {"frequency": "continuous"}),
    ],
)
def test_frequency_picker_round_trips(form: dict[str, str], stored: Any) -> None:
    assert ff.schedule_from_form(form) == stored
    assert ff.schedule_from_form(ff.schedule_fields(stored)) == stored


@pytest.mark.parametrize(
    "form",
    [
        {"sched_kind": "minutes", "sched_every": "0"},
        {"sched_kind": "hours", "sched_every": "24"},
        {"sched_kind": "daily", "sched_time": "25:00"},
        {"sched_kind": "weekly", "sched_day": "Someday", "sched_time": "06:00"},
    ],
)
def test_frequency_picker_refuses_out_of_range(form: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ff.schedule_from_form(form)


def test_alert_rules_keep_options_the_form_does_not_show() -> None:
    current = [
        {"type": "FailureAlertConfiguration", "send_for": "first_time", "channel_ids": ["c1"]},
        {"type": "RuntimeAlertConfiguration", "threshold": 30},
    ]
    form = {
        "alert_FailureAlertConfiguration": "on",
        "alert_send_FailureAlertConfiguration": "every_time",
        "alert_InvalidRecordPercentAlertConfiguration": "on",
        "alert_threshold_InvalidRecordPercentAlertConfiguration": "2.5",
    }
    rules, errors = ff.alerts_from_form(form, current)
    assert errors == {}
    assert rules == [
        {"type": "FailureAlertConfiguration", "send_for": "every_time", "channel_ids": ["c1"]},
        {
            "type": "InvalidRecordPercentAlertConfiguration",
            "send_for": "first_time",
            "threshold": 2.5,
        },
    ]
    bad = {**form, "alert_threshold_InvalidRecordPercentAlertConfiguration": "lots"}
    assert ff.alerts_from_form(bad, current)[1] == {
        "alert.InvalidRecordPercentAlertConfiguration": "enter a number"
    }


def _form(tenant: Tenant, page: str, **fields: str) -> dict[str, str]:
    ids = tenant.ids or tenant.setup()
    return {
        "csrf_token": csrf_of(page),
        "name": "Formed",
        "model_id": ids["model"],
        "destination_id": ids["destination"],
        "sync_mode": "upsert",
        "primary_key": "customer_id",
        "src_0": "email",
        "dst_0": "Email",
        "src_1": "revenue",
        "dst_1": "Revenue",
        "cast_1": "number",
        "const_2": "web",
        "dst_2": "LeadSource",
        "sched_kind": "daily",
        "sched_time": "06:30",
        "alert_InvalidRecordPercentAlertConfiguration": "on",
        "alert_threshold_InvalidRecordPercentAlertConfiguration": "5",
        "alert_send_InvalidRecordPercentAlertConfiguration": "every_time",
        "action": "save",
        **fields,
    }


def test_create_with_constants_casts_schedule_and_alerts(
    client: TestClient, tenant: Tenant
) -> None:
    tenant.setup()
    _login(client, tenant.token)
    form = _form(tenant, client.get("/ui/syncs/new").text)
    saved = client.post("/ui/syncs/new", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    sync_id = saved.headers["location"].split("/ui/syncs/")[1].split("?")[0]
    stored = tenant.get(f"/syncs/{sync_id}").json()
    assert stored["field_mapping"] == [
        {"source_column": "email", "destination_field": "Email"},
        {"source_column": "revenue", "destination_field": "Revenue", "type_cast": "number"},
        {"constant_value": "web", "destination_field": "LeadSource"},
    ]
    assert stored["schedule"] == {"frequency": "daily", "hour": 6, "minute": 30}
    assert stored["alert_attributes"] == [
        {"type": "InvalidRecordPercentAlertConfiguration", "send_for": "every_time", "threshold": 5}
    ]
    page = client.get(f"/ui/syncs/{sync_id}").text
    assert "constant <code>&#34;web&#34;</code>" in page or 'constant <code>"web"</code>' in page
    assert "<code>number</code>" in page
    assert "Rejected records above 5 %" in page and "Daily at 06:30 UTC" in page
    edit = client.get(f"/ui/syncs/{sync_id}/edit").text
    assert 'name="const_2" value="web"' in edit and "<option selected>number</option>" in edit
    assert 'value="daily" selected' in edit and 'value="06:30"' in edit
    assert 'name="alert_threshold_InvalidRecordPercentAlertConfiguration" value="5"' in edit


def test_errors_are_shown_next_to_their_field(client: TestClient, tenant: Tenant) -> None:
    tenant.setup()
    _login(client, tenant.token)
    page = client.get("/ui/syncs/new").text
    cases = {
        "err-field_mapping-3": {"src_3": "email", "const_3": "x", "dst_3": "Email2"},
        "err-schedule": {"sched_kind": "cron", "sched_cron": "0 0 31 2 *"},
        "err-alert-InvalidRecordPercentAlertConfiguration": {
            "alert_threshold_InvalidRecordPercentAlertConfiguration": "-1"
        },
        "err-field_mapping-1-type_cast": {"cast_1": "colour"},
    }
    for anchor, fields in cases.items():
        resp = client.post("/ui/syncs/new", data=_form(tenant, page, action="validate", **fields))
        assert resp.status_code == 422, (anchor, resp.text)
        assert f'id="{anchor}"' in resp.text, anchor
    bad = client.post("/ui/syncs/new", data=_form(tenant, page, action="validate", src_0="nope"))
    assert 'aria-invalid="true" aria-describedby="err-field_mapping-0-source_column"' in bad.text
    assert tenant.get("/syncs").json() == []


def test_validate_on_edit_saves_nothing(client: TestClient, tenant: Tenant) -> None:
    """Before update_sync took validate_only, Validate on the edit page saved the change."""
    sync = tenant.sync(name="Keep me")
    _login(client, tenant.token)
    page = client.get(f"/ui/syncs/{sync['id']}/edit").text
    form = _form(tenant, page, name="Renamed", action="validate")
    form |= {"model_id": sync["model_id"], "destination_id": sync["destination_id"]}
    resp = client.post(f"/ui/syncs/{sync['id']}/edit", data=form)
    assert resp.status_code == 200 and "Valid: nothing was saved yet." in resp.text
    assert tenant.get(f"/syncs/{sync['id']}").json()["name"] == "Keep me"
    bad = client.post(f"/ui/syncs/{sync['id']}/edit", data={**form, "src_0": "nope"})
    assert bad.status_code == 422 and 'id="err-field_mapping-0-source_column"' in bad.text


def test_preview_and_schedule_fragments(client: TestClient, tenant: Tenant) -> None:
    ids = tenant.setup()
    _login(client, tenant.token)
    csrf = csrf_of(client.get("/ui/syncs/new").text)
    preview = client.post(
        "/ui/syncs/form/preview", data={"csrf_token": csrf, "model_id": ids["model"]}
    )
    assert preview.status_code == 200 and "<html" not in preview.text
    assert preview.text.count("<tr>") == 11 and "user1@example.com" in preview.text
    assert client.post("/ui/syncs/form/preview", data={"model_id": ids["model"]}).status_code == 403
    missing = client.post(
        "/ui/syncs/form/preview", data={"csrf_token": csrf, "model_id": str(uuid.uuid4())}
    )
    assert "not found" in missing.text.lower()
    sched = client.post(
        "/ui/syncs/form/schedule",
        data={"csrf_token": csrf, "sched_kind": "hours", "sched_every": "6"},
    )
    assert "Every 6 hours" in sched.text and sched.text.count("<time") == 3
    bad = client.post(
        "/ui/syncs/form/schedule",
        data={"csrf_token": csrf, "sched_kind": "cron", "sched_cron": "61 * * * *"},
    )
    assert "out of range" in bad.text and "<time" not in bad.text


@pytest.mark.postgres
def test_catalog_offers_objects_fields_and_suggestions(
    client: TestClient, tenant: Tenant, pg_database: str
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute('CREATE TABLE contacts (id int primary key, "E_mail" text, "FirstName" text)')
        conn.execute("CREATE TABLE other (x int)")
    ids = tenant.setup()
    dest = tenant.created(
        "/destinations",
        {"name": "PG", "type": "postgres", "config": {"dsn": pg_database, "table": "contacts"}},
    )
    _login(client, tenant.token)
    csrf = csrf_of(client.get("/ui/syncs/new").text)
    body = {"csrf_token": csrf, "model_id": ids["model"], "destination_id": dest["id"]}
    cat = client.post("/ui/syncs/form/catalog", data=body).text
    assert "<option selected>contacts</option>" in cat and "<option>other</option>" in cat
    assert 'option value="FirstName"' in cat and "id (key)" in cat
    assert "email → E_mail" in cat and "first_name → FirstName" in cat
    other = client.post("/ui/syncs/form/catalog", data={**body, "object": "other"}).text
    assert 'option value="x"' in other and "→" not in other
    page = client.get("/ui/syncs/new").text
    filled = client.post(
        "/ui/syncs/new",
        data={
            "csrf_token": csrf_of(page),
            "model_id": ids["model"],
            "destination_id": dest["id"],
            "action": "suggest",
        },
    )
    assert filled.status_code == 200
    assert 'name="src_0" value="email"' in filled.text
    assert 'name="dst_0" value="E_mail"' in filled.text
    assert tenant.get("/syncs").json() == []


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0 */6 * * *", "Every 6 hours"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("30 6 * * *", "At 06:30"),
        ({"frequency": "daily", "hour": 6, "minute": 30}, "Daily at 06:30 UTC"),
        (
            {"frequency": "weekly", "day": "Friday", "hour": 18, "minute": 0},
            "Weekly on Friday at 18:00 UTC",
        ),
        ({"frequency": "continuous"}, "Continuously"),
        (None, "Manual"),
    ],
)
def test_schedules_in_words(value: Any, words: str) -> None:
    assert views.schedule_words(value) == words


def test_edit_keeps_a_constant_s_json_type(client: TestClient, tenant: Tenant) -> None:
    """Saving the edit form unchanged turned API constants 5 / true into "5" / "true"."""
    mapping = [
        {"source_column": "email", "destination_field": "Email"},
        {"constant_value": 5, "destination_field": "Score"},
        {"constant_value": True, "destination_field": "Active"},
        {"constant_value": {"a": [1]}, "destination_field": "Meta"},
        {"constant_value": "7", "destination_field": "Code"},
    ]
    sync = tenant.sync(name="Typed", field_mapping=mapping)
    _login(client, tenant.token)
    page = client.get(f"/ui/syncs/{sync['id']}/edit").text
    fields = dict(re.findall(r'name="((?:src|const|dst|cast|ctype)_\d+)" value="([^"]*)"', page))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    form = {
        "csrf_token": csrf_of(page),
        "name": "Typed",
        "model_id": sync["model_id"],
        "destination_id": sync["destination_id"],
        "sync_mode": sync["sync_mode"],
        "primary_key": sync["primary_key"],
        "sched_kind": "manual",
        "action": "save",
        **fields,
    }
    assert client.post(f"/ui/syncs/{sync['id']}/edit", data=form).status_code == 200
    assert tenant.get(f"/syncs/{sync['id']}").json()["field_mapping"] == mapping
    client.post(f"/ui/syncs/{sync['id']}/edit", data={**form, "const_1": "high"})
    assert tenant.get(f"/syncs/{sync['id']}").json()["field_mapping"][1]["constant_value"] == "high"
