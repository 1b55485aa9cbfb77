"""Property-based API tests: generated requests never cause a 500 and answers match the schema.

Runs in-process against the ASGI app with a real workspace's token; path ids are replaced by
ids of real objects so the generated bodies reach the services, not just the 404 path.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
import schemathesis
from api_helpers import Tenant, set_run
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from syncline.api.app import create_app
from syncline.context import AppContext
from syncline.store.tables import utcnow

PATH_IDS = {
    "sourceId": "source",
    "modelId": "model",
    "destinationId": "destination",
    "syncId": "sync",
    "runId": "run",
}


@pytest.fixture
def real_ids(tenant: Tenant, ctx: AppContext) -> dict[str, str]:
    ids = dict(tenant.setup())
    sync = tenant.sync()
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    set_run(ctx, run["id"], status="failed", completed_at=utcnow())
    ids.update(sync=sync["id"], run=run["id"], workspace=tenant.workspace_id)
    return ids


# The schema is read from an app built at import time (schemathesis' fixture-based loader does
# not support this pytest); each test binds the app to its store before the first request.
APP = create_app(cast(AppContext, None))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms(case: Any, ctx: AppContext, tenant: Tenant, real_ids: dict[str, str]) -> None:
    APP.state.ctx = ctx
    if case.path_parameters:
        for name in list(case.path_parameters):
            if name == "id":
                case.path_parameters[name] = real_ids["workspace"]
            elif name in PATH_IDS:
                case.path_parameters[name] = real_ids[PATH_IDS[name]]
    # Authenticate every request; generated auth headers would only ever test the 401 path
    # (covered in test_auth.py) and hide everything behind it.
    headers = {
        k: v
        for k, v in (case.headers or {}).items()
        if k.lower() not in ("authorization", "x-api-key", "x-workspace-id")
    }
    headers["Authorization"] = f"Bearer {tenant.token}"
    case.headers = headers
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
