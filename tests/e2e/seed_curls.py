# ruff: noqa: E501  (the seeds' commands are kept verbatim, long lines included)
"""The curl examples of seeds 000 and 004, copied verbatim (only the host differs between them).

Placeholders are the seeds' own: ``{id}``, ``{syncId}``, ``{runId}``, ``<token>``,
``<workspace-id>``; the test substitutes them and the host, and nothing else.
"""

from __future__ import annotations

SEED_000_HOST = "https://your-instance.signalsmith.io"
SEED_004_HOST = "https://composable.zeotap.com"

# In the order the seed lists them; each with the status the seed says it answers.
SEED_000: list[tuple[str, int, str]] = [
    (
        "list",
        200,
        """curl -X GET https://your-instance.signalsmith.io/api/v1/workspaces/{id}/syncs \\
-H "Authorization: Bearer <token>" \\
-H "X-Workspace-ID: <workspace-id>\"""",
    ),
    (
        "create",
        201,
        """curl -X POST https://your-instance.signalsmith.io/api/v1/workspaces/{id}/syncs \\
-H "Authorization: Bearer <token>" \\
-H "X-Workspace-ID: <workspace-id>" \\
-H "Content-Type: application/json" \\
-d '{
"name": "Customers to Salesforce",
"model_id": "770e8400-e29b-41d4-a716-446655440000",
"destination_id": "880e8400-e29b-41d4-a716-446655440000",
"field_mapping": [
{"source_column": "email", "destination_field": "Email"},
{"source_column": "first_name", "destination_field": "FirstName"}
],
"sync_mode": "upsert",
"primary_key": "customer_id",
"schedule": "0 */6 * * *"
}'""",
    ),
    (
        "get",
        200,
        """curl -X GET https://your-instance.signalsmith.io/api/v1/workspaces/{id}/syncs/{syncId} \\
-H "Authorization: Bearer <token>" \\
-H "X-Workspace-ID: <workspace-id>\"""",
    ),
    (
        "update",
        200,
        """curl -X PUT https://your-instance.signalsmith.io/api/v1/workspaces/{id}/syncs/{syncId} \\
-H "Authorization: Bearer <token>" \\
-H "X-Workspace-ID: <workspace-id>" \\
-H "Content-Type: application/json" \\
-d '{
"schedule": "0 */12 * * *",
"status": "paused"
}'""",
    ),
    (
        "trigger",
        201,
        """curl -X POST https://your-instance.signalsmith.io/api/v1/workspaces/{id}/syncs/{syncId}/trigger \\
-H "Authorization: Bearer <token>" \\
-H "X-Workspace-ID: <workspace-id>\"""",
    ),
    (
        "run",
        200,
        """curl -X GET https://your-instance.signalsmith.io/api/v1/workspaces/{id}/syncs/{syncId}/runs/{runId} \\
-H "Authorization: Bearer <token>" \\
-H "X-Workspace-ID: <workspace-id>\"""",
    ),
]

# Seed 004's page prints the same commands (its rendering joins the continuation lines),
# under its own host.
SEED_004: list[tuple[str, int, str]] = [
    (name, code, cmd.replace(SEED_000_HOST, SEED_004_HOST)) for name, code, cmd in SEED_000
]
