"""compat: sync label and mode, integer ids of the compatibility API

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("syncs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("mode", sa.String(length=16), nullable=False, server_default="triggered")
        )
    op.create_table(
        "compat_ids",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compat_ids")),
        sa.UniqueConstraint("kind", "uuid", name="uq_compat_ids_kind_uuid"),
    )


def downgrade() -> None:
    op.drop_table("compat_ids")
    with op.batch_alter_table("syncs", schema=None) as batch_op:
        batch_op.drop_column("mode")
        batch_op.drop_column("label")
