"""console file list: indexes for its filters and sort order at volume (newest received
first, alone, within a route, within a state; and a sha256 prefix across routes)

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
    op.create_index("ix_files_route_received", "files", ["route", "received_at", "id"])
    op.create_index("ix_files_state_received", "files", ["state", "received_at", "id"])
    op.create_index("ix_files_sha256", "files", ["sha256"])


def downgrade() -> None:
    for name in ("ix_files_sha256", "ix_files_state_received", "ix_files_route_received",
                 "ix_files_received"):
        op.drop_index(name, table_name="files")
