"""procrastinate job queue schema (PostgreSQL only)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

The distributed execution backend keeps its jobs in the metadata store so a run row and its
job commit in one transaction. The schema is procrastinate's own (pinned in uv.lock); a later
procrastinate upgrade adds a revision applying its migration files.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite deployments use the embedded executor: no job table
    from procrastinate.schema import SchemaManager

    if bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is None:
        # Straight to psycopg without parameters: the script holds literal '%' signs.
        driver = bind.connection.driver_connection
        assert driver is not None
        driver.execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # Functions and types go with the tables they serve (CASCADE).
    bind.exec_driver_sql(
        """
        DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
            procrastinate_jobs, procrastinate_workers CASCADE;
        DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type,
            procrastinate_job_to_defer_v1 CASCADE;
        """
    )
