"""partner control-number sequences (issue 17): the next number per partner, standard and
kind, and the numbers each file's output was given (reused on a retry)

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-07 12:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_sequences",
        sa.Column("partner", sa.String(64), primary_key=True),
        sa.Column("standard", sa.String(8), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("next_value", sa.BigInteger, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "control_numbers",
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id"), primary_key=True),
        sa.Column("output", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("standard", sa.String(8), nullable=False),
        sa.Column("first_value", sa.BigInteger, nullable=False),
        sa.Column("numbers", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("allocated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("partner", "standard", "kind", "cycle", "first_value",
                            name="uq_control_number"),
    )


def downgrade() -> None:
    op.drop_table("control_numbers")
    op.drop_table("partner_sequences")
