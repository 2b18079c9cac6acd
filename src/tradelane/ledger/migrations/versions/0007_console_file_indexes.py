"""console file list: indexes for its filters and sort orders at volume (received date,
route, state and sha256 prefix, each in id order as the list is)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 11:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_files_received", "files", ["received_at", "id"])
    op.create_index("ix_files_route_id", "files", ["route", "id"])
    op.create_index("ix_files_state_id", "files", ["state", "id"])
    op.create_index("ix_files_sha256", "files", ["sha256"])


def downgrade() -> None:
    for name in ("ix_files_sha256", "ix_files_state_id", "ix_files_route_id",
                 "ix_files_received"):
        op.drop_index(name, table_name="files")
