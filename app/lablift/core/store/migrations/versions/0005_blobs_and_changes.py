"""Artifacts in the store, and word of every change.

`blobs` (one row per content hash) and `blob_chunks` (its bytes in 1 MiB pieces) hold a team
store's artifacts (core/store/blobs.py); an embedded store keeps its artifacts as files and
leaves both empty.

On PostgreSQL every Lablift role may add and read blobs, nobody may change or delete one
(content-addressed: a blob is never rewritten), created_by is the session user, and chunks
are stored uncompressed (EXTERNAL): artifacts are Parquet and pickles, compressing them
again costs CPU for nothing.

Every audit entry, when its transaction commits, is announced on the channel `lablift`
(NOTIFY, payload {"seq", "action", "entity"}): a GUI at another desk LISTENs and refreshes
what changed without polling (core/store/changes.py).

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TEAM_SQL = r"""
ALTER TABLE public.blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
REVOKE ALL ON public.blobs, public.blob_chunks FROM PUBLIC;
GRANT SELECT, INSERT ON public.blobs, public.blob_chunks
  TO lablift_analyst, lablift_reviewer, lablift_ops, lablift_admin;
CREATE TRIGGER lablift_00_append_only BEFORE UPDATE OR DELETE ON public.blobs
  FOR EACH ROW EXECUTE FUNCTION lablift_private.t_append_only();
CREATE TRIGGER lablift_00_append_only BEFORE UPDATE OR DELETE ON public.blob_chunks
  FOR EACH ROW EXECUTE FUNCTION lablift_private.t_append_only();
CREATE TRIGGER lablift_00_no_truncate BEFORE TRUNCATE ON public.blobs
  FOR EACH STATEMENT EXECUTE FUNCTION lablift_private.t_no_truncate();
CREATE TRIGGER lablift_00_no_truncate BEFORE TRUNCATE ON public.blob_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION lablift_private.t_no_truncate();
CREATE TRIGGER lablift_10_identity BEFORE INSERT ON public.blobs
  FOR EACH ROW EXECUTE FUNCTION lablift_private.t_session_user('created_by');

CREATE FUNCTION lablift_private.t_announce() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM pg_notify('lablift', json_build_object('seq', NEW.seq, 'action', NEW.action,
                                                 'entity', NEW.entity)::text);
  RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION lablift_private.t_announce() FROM PUBLIC;
CREATE TRIGGER lablift_95_announce AFTER INSERT ON public.audit_log
  FOR EACH ROW EXECUTE FUNCTION lablift_private.t_announce();
"""


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False))
    op.create_table(
        "blob_chunks",
        sa.Column("sha256", sa.Text, sa.ForeignKey("blobs.sha256"), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("sha256", "n"))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.connection.driver_connection.execute(TEAM_SQL)
