"""``syncline demo``: the whole product on embedded defaults, in about a minute.

It builds a DuckDB warehouse with sample customers, accounts and events, starts a real server
(API + scheduler + workers), creates models, file destinations and syncs through the REST API,
runs them, changes source rows and runs again so the diff shows: only the changes are sent.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from syncline.api.app import create_app
from syncline.bootstrap import build_context, executor_hooks
from syncline.emulators.receiver import WebhookReceiver
from syncline.services.workspaces import create_workspace
from syncline.settings import Settings
from syncline.store.db import upgrade

console = Console(width=120)


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def build_warehouse(path: Path, *, customers: int = 20_000) -> None:
    """Sample data with a realistic shape (and two bad rows, to show rejections)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("SELECT setseed(0.42)")
        con.execute(f"""CREATE OR REPLACE TABLE accounts AS
            SELECT i AS account_id, 'Account ' || i AS name,
                   ['Retail','Software','Finance','Health','Energy'][1 + i % 5] AS industry,
                   round(random() * 5e6, 2) AS annual_revenue,
                   ['free','team','enterprise'][1 + i % 3] AS plan
            FROM range(1, {customers // 10 + 1}) t(i)""")
        con.execute(f"""CREATE OR REPLACE TABLE customers AS
            SELECT i AS customer_id, 'user' || i || '@example.com' AS email,
                   ['Ada','Grace','Alan','Edsger','Barbara','Linus'][1 + i % 6] AS first_name,
                   'Lovelace' || (i % 97) AS last_name, 1 + i % {customers // 10} AS account_id,
                   CAST(round(random() * 1000, 2) AS VARCHAR) AS lifetime_value,
                   TIMESTAMP '2024-01-01' + to_days(i % 365) AS signed_up_at
            FROM range(1, {customers + 1}) t(i)""")
        # A duplicated key and a value that cannot be cast: the runs record them as rejected.
        con.execute("""INSERT INTO customers VALUES
            (42, 'duplicate@example.com', 'Dup', 'Key', 1, '10', TIMESTAMP '2024-02-02'),
            (999999, 'bad@example.com', 'Bad', 'Value', 1, 'n/a', TIMESTAMP '2024-02-02')""")
        con.execute(f"""CREATE OR REPLACE TABLE events AS
            SELECT i AS event_id, 1 + i % {customers} AS customer_id,
                   ['page_view','signup','purchase','logout'][1 + i % 4] AS event,
                   TIMESTAMP '2024-06-01' + to_seconds(i * 7) AS occurred_at
            FROM range(1, {customers * 2 + 1}) t(i)""")
    finally:
        con.close()


def change_warehouse(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path))
    try:
        changed = con.execute(
            "UPDATE customers SET email = 'new.' || email WHERE customer_id % 200 = 0"
        ).fetchall()[0][0]
        con.execute("""INSERT INTO customers SELECT 100000 + i, 'late' || i || '@example.com',
            'Late', 'Joiner', 1, '5', TIMESTAMP '2024-12-01' FROM range(50) t(i)""")
        deleted = con.execute("DELETE FROM accounts WHERE account_id % 100 = 0").fetchall()[0][0]
        n_events = int(con.execute("SELECT max(event_id) FROM events").fetchall()[0][0])
        con.execute(f"""INSERT INTO events SELECT {n_events} + i, 1, 'purchase',
            TIMESTAMP '2025-01-01' + to_seconds(i) FROM range(1, 1001) t(i)""")
        return {
            "customers_changed": int(changed),
            "customers_added": 50,
            "accounts_deleted": int(deleted),
            "events_added": 1000,
        }
    finally:
        con.close()


class _Client:
    def __init__(self, base: str, workspace_id: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=f"{base}/api/v1/workspaces/{workspace_id}",
            headers={"Authorization": f"Bearer {token}", "X-Workspace-ID": workspace_id},
            timeout=60,
        )

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.http.post(path, json=body)
        if r.status_code >= 400:
            raise RuntimeError(f"POST {path} -> {r.status_code}: {r.text}")
        out: dict[str, Any] = r.json()
        return out

    def post_id(self, path: str, body: dict[str, Any]) -> str:
        """Create an object; its id."""
        return str(self.post(path, body)["id"])

    def get(self, path: str) -> Any:
        r = self.http.get(path)
        r.raise_for_status()
        return r.json()


def _run_all(api: _Client, syncs: dict[str, str], label: str) -> None:
    runs = {name: api.post(f"/syncs/{sid}/trigger")["id"] for name, sid in syncs.items()}
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 300
    while len(done) < len(runs) and time.monotonic() < deadline:
        for name, rid in runs.items():
            run = api.get(f"/syncs/{syncs[name]}/runs/{rid}")
            if run["status"] in ("completed", "failed", "cancelled"):
                done[name] = run
        time.sleep(0.3)
    table = Table(title=label)
    for col in (
        "sync",
        "status",
        "added",
        "changed",
        "removed",
        "unchanged",
        "sent",
        "rejected",
        "seconds",
    ):
        table.add_column(col)
    for name, run in done.items():
        s = run["summary"]
        table.add_row(
            name,
            run["status"],
            str(s.get("added", 0)),
            str(s.get("changed", 0)),
            str(s.get("removed", 0)),
            str(s.get("unchanged", 0)),
            str(run["rows_synced"]),
            str(run["rows_failed"]),
            str(s.get("duration_seconds", "")),
        )
    console.print(table)
    for name, run in done.items():
        if run["status"] != "completed":
            console.print(f"[red]{name}: {run['error_message']}[/red]")


def run_demo(
    *, data_dir: Path, port: int = 8000, keep_running: bool = False, customers: int = 20_000
) -> None:
    """Set up, run, change, run again; print where to look."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    # The demo's file destinations write in <data_dir>/output: its file root.
    settings = Settings(
        data_dir=data_dir,
        database_url=None,
        heartbeat_interval=2.0,
        file_root=data_dir / "output",
    )
    upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    with ctx.sessions.begin() as s:
        ws, token = create_workspace(s, name="demo", pepper=ctx.token_pepper)
        ws_id = ws.id
    port = _free_port(port)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx, lifespan_hooks=executor_hooks(ctx)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    while not server.started:
        time.sleep(0.05)
    console.print(f"[bold]Syncline demo[/bold] — server on {base} (data in {data_dir})")

    wh = data_dir / "warehouse.duckdb"
    build_warehouse(wh, customers=customers)
    out_dir = data_dir / "output"
    api = _Client(base, ws_id, token)
    src = api.post(
        "/sources", {"name": "warehouse", "type": "duckdb", "config": {"path": str(wh)}}
    )["id"]

    def model(name: str, sql: str, pk: str) -> str:
        return api.post_id(
            "/models",
            {
                "name": name,
                "description": f"demo {name}",
                "source_id": src,
                "sql": sql,
                "primary_key": pk,
            },
        )

    def dest(name: str, fmt: str) -> str:
        return api.post_id(
            "/destinations",
            {"name": name, "type": "file", "config": {"path": str(out_dir / name), "format": fmt}},
        )

    m_cust = model("customers", "SELECT * FROM customers", "customer_id")
    m_acct = model("accounts", "SELECT * FROM accounts", "account_id")
    m_evt = model("events", "SELECT * FROM events", "event_id")
    syncs = {
        "customers→csv upsert": api.post(
            "/syncs",
            {
                "name": "Customers to CRM export",
                "model_id": m_cust,
                "destination_id": dest("crm", "csv"),
                "sync_mode": "upsert",
                "primary_key": "customer_id",
                "schedule": "0 */6 * * *",
                "field_mapping": [
                    {"source_column": "email", "destination_field": "Email"},
                    {"source_column": "first_name", "destination_field": "FirstName"},
                    {"source_column": "last_name", "destination_field": "LastName"},
                    {
                        "source_column": "lifetime_value",
                        "destination_field": "LTV",
                        "type_cast": "number",
                    },
                    {"constant_value": "syncline-demo", "destination_field": "LeadSource"},
                ],
            },
        )["id"],
        "accounts→parquet mirror": api.post(
            "/syncs",
            {
                "name": "Accounts mirror",
                "model_id": m_acct,
                "destination_id": dest("accounts", "parquet"),
                "sync_mode": "mirror",
                "primary_key": "account_id",
                "field_behavior": "sync_all_properties",
                "field_normalization": "camel_case",
                "field_mapping": [],
            },
        )["id"],
        "events→jsonl append": api.post(
            "/syncs",
            {
                "name": "Events stream",
                "model_id": m_evt,
                "destination_id": dest("events", "jsonl"),
                "sync_mode": "append",
                "primary_key": "event_id",
                "high_water_mark": "occurred_at",
                "field_mapping": [
                    {"source_column": "customer_id", "destination_field": "customer"},
                    {"source_column": "event", "destination_field": "type"},
                    {"source_column": "occurred_at", "destination_field": "at"},
                ],
            },
        )["id"],
    }
    # A local HTTP receiver stands in for a CRM's webhook endpoint: it needs nothing installed.
    receiver = WebhookReceiver(key_field="account_id", hmac_secret="demo-signing-secret").start()
    hook = api.post_id(
        "/destinations",
        {
            "name": "crm-webhook",
            "type": "webhook",
            "config": {
                "url": receiver.url,
                "batch_size": 200,
                "hmac_secret": "demo-signing-secret",
                "results_path": "results",
            },
        },
    )
    syncs["accounts→webhook upsert"] = api.post_id(
        "/syncs",
        {
            "name": "Accounts to CRM webhook",
            "model_id": m_acct,
            "destination_id": hook,
            "sync_mode": "upsert",
            "primary_key": "account_id",
            "field_mapping": [
                {"source_column": "account_id", "destination_field": "account_id"},
                {"source_column": "name", "destination_field": "name"},
                {"source_column": "plan", "destination_field": "plan"},
            ],
        },
    )
    _run_all(api, syncs, "First run: everything is new")
    changes = change_warehouse(wh)
    console.print(f"Changed the warehouse: {changes}")
    _run_all(api, syncs, "Second run: only the changes are sent")
    first = next(iter(syncs.values()))
    last_run = api.get(f"/syncs/{first}/runs")[0]["id"]
    console.print(
        "\n[bold]Where to look[/bold]\n"
        f"  API docs:        {base}/docs\n"
        f"  Dashboard:       {base}/ui/  (log in with the API token below)\n"
        f"  Syncs:           {base}/api/v1/workspaces/{ws_id}/syncs\n"
        f"  Output files:    {out_dir.resolve()}\n"
        f"  Webhook:         {receiver.url} received {len(receiver.state)} accounts in "
        f"{len(receiver.requests)} signed requests\n"
        f"  Rejected rows:   {base}/api/v1/workspaces/{ws_id}/syncs/{first}/runs/"
        f"{last_run}/records?status=failed\n"
        f"  API token:       {token}\n"
    )
    if not keep_running:
        console.print(
            "The server stops now; run `syncline demo --keep-running` to browse the URLs above "
            "(the files stay in place either way)."
        )
    if keep_running:
        console.print("Server left running; Ctrl-C to stop.")
        try:
            while thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    server.should_exit = True
    thread.join(timeout=30)
    receiver.stop()
    ctx.dispose()
