"""interchanges sent and the acknowledgements received for them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 11:20:00

- sent_interchanges: every EDI interchange an EDIFACT target wrote, with the acknowledgement
  it waits for (due by the route's ``ack_within``);
- received_acks: every CONTRL, APERAK, 997 or 999 an inbound route received, with the sent
  interchange it answers (none: unmatched).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sent_interchanges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("standard", sa.String(length=8), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("control_ref", sa.String(length=64), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("documents", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("ack_due_at", sa.DateTime(), nullable=True),
        sa.Column("ack_state", sa.String(length=16), nullable=False),
        sa.Column("ack_at", sa.DateTime(), nullable=True),
        sa.Column("ack_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_id", "output", "control_ref", name="uq_sent_interchange"),
    )
    with op.batch_alter_table("sent_interchanges", schema=None) as batch_op:
        batch_op.create_index("ix_sent_waiting", ["ack_state", "ack_due_at"], unique=False)
        batch_op.create_index("ix_sent_ref", ["control_ref"], unique=False)

    op.create_table(
        "received_acks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("control_ref", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("errors", sa.Text(), nullable=True),
        sa.Column("sent_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"]),
        sa.ForeignKeyConstraint(["sent_id"], ["sent_interchanges.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_id", "seq", name="uq_received_ack"),
    )
    with op.batch_alter_table("received_acks", schema=None) as batch_op:
        batch_op.create_index("ix_received_sent", ["sent_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("received_acks", schema=None) as batch_op:
        batch_op.drop_index("ix_received_sent")
    op.drop_table("received_acks")
    with op.batch_alter_table("sent_interchanges", schema=None) as batch_op:
        batch_op.drop_index("ix_sent_ref")
        batch_op.drop_index("ix_sent_waiting")
    op.drop_table("sent_interchanges")
