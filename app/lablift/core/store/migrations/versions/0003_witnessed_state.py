"""Exports record themselves before their folder appears (status, the temporary folder, the
process, every shipped file's hash); sweeps name their process. Nullable columns: a NULL
column is not part of a row's witness digest, so existing witnesses stay valid. The row
witness baseline of an older store is written by the Store after this revision.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, kind in (("status", sa.Text), ("files", sa.Text), ("tmp_path", sa.Text),
                       ("host", sa.Text), ("pid", sa.Integer)):
        op.add_column("bundles", sa.Column(name, kind))
    op.add_column("sweeps", sa.Column("host", sa.Text))
    op.add_column("sweeps", sa.Column("pid", sa.Integer))
    op.create_index("runs_running", "runs", ["status"],
                    sqlite_where=sa.text("status = 'running'"),
                    postgresql_where=sa.text("status = 'running'"))
