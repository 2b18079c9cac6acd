"""The event outbox: events about files' outcomes waiting for their broker (issue 20)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("route", sa.String(255), nullable=False),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id")),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(500)),
        sa.Column("next_try_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime()),
    )
    op.create_index("ix_event_outbox_due", "event_outbox", ["sent_at", "route", "next_try_at"])


def downgrade() -> None:
    op.drop_index("ix_event_outbox_due", "event_outbox")
    op.drop_table("event_outbox")
