"""Helpers shared by the API tests (imported by name: this directory is on ``sys.path``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from syncline.context import AppContext
from syncline.services.workspaces import authenticate, create_workspace
from syncline.store.tables import SyncRun


class RecordingQueue:
    """A JobQueue that remembers what was enqueued and checks it happens inside the transaction."""

    def __init__(self) -> None:
        self.enqueued: list[str] = []
        self.in_transaction: list[bool] = []

    def enqueue(self, session: Session, run: SyncRun) -> None:
        # The run must already be flushed in the creating transaction, not yet committed.
        self.in_transaction.append(session.in_transaction() and run in session)
        self.enqueued.append(run.id)


@dataclass
class Tenant:
    """A workspace with a token, and helpers to call its part of the API."""

    client: TestClient
    workspace_id: str
    token: str
    token_id: str
    tmp: Path
    warehouse: str
    ids: dict[str, str] = field(default_factory=dict)

    def url(self, path: str = "") -> str:
        return f"/api/v1/workspaces/{self.workspace_id}{path}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, self.url(path), headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.post(path, json=body)
        assert resp.status_code == 201, resp.text
        out: dict[str, Any] = resp.json()
        return out

    def source(self, name: str = "Warehouse") -> dict[str, Any]:
        return self.created(
            "/sources", {"name": name, "type": "duckdb", "config": {"path": self.warehouse}}
        )

    def model(self, source_id: str, **overrides: Any) -> dict[str, Any]:
        body = {
            "name": "Customers",
            "source_id": source_id,
            "sql": "SELECT * FROM customers",
            "primary_key": "customer_id",
            **overrides,
        }
        return self.created("/models", body)

    def destination(self, name: str = "Export", fmt: str = "csv") -> dict[str, Any]:
        out_dir = self.tmp / f"out-{uuid.uuid4().hex[:8]}"
        out_dir.mkdir()
        return self.created(
            "/destinations",
            {"name": name, "type": "file", "config": {"path": str(out_dir), "format": fmt}},
        )

    def setup(self) -> dict[str, str]:
        """A source, a model on it and a destination; their ids in ``self.ids``."""
        source = self.source()
        model = self.model(source["id"])
        destination = self.destination()
        self.ids.update(source=source["id"], model=model["id"], destination=destination["id"])
        return self.ids

    def sync_body(self, **overrides: Any) -> dict[str, Any]:
        """The seed 000 create example, pointed at this tenant's model and destination."""
        if not self.ids:
            self.setup()
        body: dict[str, Any] = {
            "name": "Customers to Salesforce",
            "model_id": self.ids["model"],
            "destination_id": self.ids["destination"],
            "field_mapping": [
                {"source_column": "email", "destination_field": "Email"},
                {"source_column": "first_name", "destination_field": "FirstName"},
            ],
            "sync_mode": "upsert",
            "primary_key": "customer_id",
            "schedule": "0 */6 * * *",
        }
        body.update(overrides)
        return body

    def sync(self, **overrides: Any) -> dict[str, Any]:
        return self.created("/syncs", self.sync_body(**overrides))


def make_tenant(
    ctx: AppContext, client: TestClient, tmp: Path, warehouse: str, name: str
) -> Tenant:
    with ctx.sessions() as session:
        workspace, token = create_workspace(session, name=name, pepper=ctx.token_pepper)
        found = authenticate(session, token=token, pepper=ctx.token_pepper)
        assert found is not None
        token_id = found.id
    return Tenant(client, workspace.id, token, token_id, tmp, warehouse)


def set_run(ctx: AppContext, run_id: str, **values: Any) -> None:
    """Change a run behind the API's back, as a worker would."""
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(SyncRun).where(SyncRun.id == run_id).values(**values))
