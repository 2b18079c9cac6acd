"""source_marks (issue 20): a table source's watermark, its outstanding poll and the lease on
polling, in the ledger instead of a file on one host

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_marks",
        sa.Column("route", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(1024), primary_key=True),
        sa.Column("watermark", sa.Text),
        sa.Column("snapshot", sa.String(255)),
        sa.Column("next_watermark", sa.Text),
        sa.Column("keys", sa.Text),
        sa.Column("rows", sa.Integer),
        sa.Column("owner", sa.String(255)),
        sa.Column("lease_until", sa.DateTime()),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_marks")
