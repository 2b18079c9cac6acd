"""AS2 messages sent and received, with their MDNs (issue 17)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "as2_messages",
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("direction", sa.String(8), primary_key=True),
        sa.Column("partner", sa.String(128), nullable=False),
        sa.Column("route", sa.String(255)),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id")),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mic", sa.String(255)),
        sa.Column("mdn_status", sa.String(255)),
        sa.Column("mdn", sa.LargeBinary),
        sa.Column("path", sa.Text),
        sa.Column("sha256", sa.String(64)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("mdn_at", sa.DateTime()),
    )
    op.create_index("ix_as2_file", "as2_messages", ["file_id"])


def downgrade() -> None:
    op.drop_index("ix_as2_file", "as2_messages")
    op.drop_table("as2_messages")
