"""The worked example of docs/cli.md, step by step, as a script would run it."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli, Server


def test_worked_example(cli: Cli, server: Server) -> None:
    server.sync("Customers to CRM", schedule="0 */6 * * *")

    # SYNC=$(syncline sync list --q "customers to crm" --json | jq -r '.[0].id')
    listed = cli("sync", "list", "--q", "customers to crm", "--json")
    sync_id = json.loads(listed.stdout)[0]["id"]

    # syncline sync dry-run "$SYNC" --sample 3
    plan = cli("sync", "dry-run", sync_id, "--sample", "3")
    assert plan.exit_code == 0 and "would create" in plan.stdout

    # syncline sync trigger "$SYNC" --wait --json > run.json
    triggered = cli("sync", "trigger", sync_id, "--wait", "--json")
    assert triggered.exit_code == 0  # completed: partial counts as success
    run = json.loads(triggered.stdout)

    # jq '.rows_failed' run.json  -> then look at what was rejected
    assert run["rows_failed"] == 2
    records = cli("run", "records", sync_id, run["id"], "--status", "failed")
    assert records.exit_code == 0 and "duplicate_primary_key" in records.stdout

    # syncline sync pause "$SYNC" ... syncline sync resume "$SYNC"
    assert cli("sync", "pause", sync_id).exit_code == 0
    assert cli("sync", "resume", sync_id).exit_code == 0
