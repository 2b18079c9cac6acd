"""file identity by content, atomic duplicate keys, follow-up steps

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 23:10:00

- files: ``token`` (the source's change detector), ``raw_name`` (hex of a non-UTF-8 name) and
  ``generation`` (a file re-sent with the same name, size and mtime but new content), which
  joins the identity;
- interchanges: one owner per interchange key (older duplicate rows are dropped, the newest
  kept);
- content_keys: one owner per route and sha256;
- followups: the steps after a delivery or a quarantine, recorded with it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("raw_name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("generation", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.drop_constraint("uq_files_identity", type_="unique")
        batch_op.create_unique_constraint(
            "uq_files_identity", ["route", "source", "name", "size", "mtime_ns", "generation"])

    op.execute(
        "DELETE FROM interchanges WHERE id NOT IN (SELECT MAX(id) FROM interchanges"
        " GROUP BY route, sender, recipient, control_ref)")
    with op.batch_alter_table("interchanges", schema=None) as batch_op:
        batch_op.drop_index("ix_interchange_key")
        batch_op.create_unique_constraint(
            "uq_interchange_key", ["route", "sender", "recipient", "control_ref"])

    op.create_table(
        "content_keys",
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"]),
        sa.PrimaryKeyConstraint("route", "sha256"),
    )
    op.execute(
        "INSERT INTO content_keys (route, sha256, file_id, at)"
        " SELECT route, sha256, MIN(id), MIN(updated_at) FROM files"
        " WHERE sha256 IS NOT NULL AND state IN ('delivered', 'archived')"
        " GROUP BY route, sha256")

    op.create_table(
        "followups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.create_index("ix_followups_file_id", ["file_id"], unique=False)
        batch_op.create_index("ix_followups_open", ["done_at", "file_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_index("ix_followups_open")
        batch_op.drop_index("ix_followups_file_id")
    op.drop_table("followups")
    op.drop_table("content_keys")
    with op.batch_alter_table("interchanges", schema=None) as batch_op:
        batch_op.drop_constraint("uq_interchange_key", type_="unique")
        batch_op.create_index("ix_interchange_key",
                              ["route", "sender", "recipient", "control_ref"], unique=False)
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_constraint("uq_files_identity", type_="unique")
        batch_op.create_unique_constraint(
            "uq_files_identity", ["route", "source", "name", "size", "mtime_ns"])
        batch_op.drop_column("generation")
        batch_op.drop_column("raw_name")
        batch_op.drop_column("token")
