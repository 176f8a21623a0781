"""Run timings per stage, notes and per-fold CV metrics (experiments).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("details", sa.Text, nullable=False,
                                    server_default=sa.text("'{}'")))
