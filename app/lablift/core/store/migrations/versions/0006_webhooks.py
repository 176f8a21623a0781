"""Webhooks: where Lablift POSTs its events, and the outbox of their deliveries.

`webhooks` (URL, the events it wants, its HMAC secret) and `webhook_deliveries` (one row per
webhook and audit entry: its state, attempts and the next attempt's time; core/webhooks.py).
A delivery row is inserted in the transaction of the audit entry it announces, so a crash
can neither lose an event nor deliver one that was rolled back.

On PostgreSQL the server inserts them: an AFTER INSERT trigger on audit_log (SECURITY
DEFINER), so whichever role causes an event, and whichever client it uses, cannot skip the
outbox; no client role may insert a delivery that names an audit entry. Only lablift_admin
reads or writes `webhooks` (the secrets) and updates deliveries (delivering needs the
secret); every role reads the delivery log. Webhooks are never deleted, only marked
removed (their secret blanked), so the delivery log keeps its references.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copy of core/webhooks.EVENTS at this revision (a migration never imports live code).
EVENTS = ("version.register", "version.approve", "version.reject", "version.attention",
          "monitor.retrain")

TEAM_SQL = r"""
REVOKE ALL ON public.webhooks, public.webhook_deliveries FROM PUBLIC;
-- the default privileges of 0004 gave every role SELECT: the secrets are admins' only
REVOKE ALL ON public.webhooks FROM lablift_analyst, lablift_reviewer, lablift_ops;
GRANT SELECT, INSERT ON public.webhooks TO lablift_admin;
GRANT UPDATE (secret, removed_at, removed_by) ON public.webhooks TO lablift_admin;
GRANT SELECT ON public.webhook_deliveries
  TO lablift_analyst, lablift_reviewer, lablift_ops, lablift_admin;
GRANT INSERT ON public.webhook_deliveries TO lablift_admin;  -- `webhooks test` only (seq NULL)
GRANT UPDATE (state, attempts, next_attempt_at, last_status, last_error, delivered_at)
  ON public.webhook_deliveries TO lablift_admin;
DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SEQUENCE %s, %s TO lablift_admin',
                 pg_get_serial_sequence('public.webhooks', 'id'),
                 pg_get_serial_sequence('public.webhook_deliveries', 'id'));
END $$;

CREATE TRIGGER lablift_10_identity BEFORE INSERT ON public.webhooks
  FOR EACH ROW EXECUTE FUNCTION lablift_private.t_session_user('created_by');
CREATE TRIGGER lablift_10_immutable BEFORE UPDATE ON public.webhooks
  FOR EACH ROW EXECUTE FUNCTION lablift_private.t_immutable('created_by', 'url', 'events',
                                                            'created_at', 'id');
CREATE TRIGGER lablift_11_removed_by BEFORE UPDATE ON public.webhooks
  FOR EACH ROW EXECUTE FUNCTION lablift_private.t_session_user('removed_by');
CREATE TRIGGER lablift_00_no_truncate BEFORE TRUNCATE ON public.webhooks
  FOR EACH STATEMENT EXECUTE FUNCTION lablift_private.t_no_truncate();
CREATE TRIGGER lablift_00_no_truncate BEFORE TRUNCATE ON public.webhook_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION lablift_private.t_no_truncate();
CREATE TRIGGER lablift_05_owner_only BEFORE INSERT ON public.webhook_deliveries
  FOR EACH ROW WHEN (NEW.seq IS NOT NULL) EXECUTE FUNCTION lablift_private.t_owner_only(
    'a delivery of an audit entry is inserted only by the server, with the entry');
CREATE TRIGGER lablift_10_immutable BEFORE UPDATE ON public.webhook_deliveries
  FOR EACH ROW EXECUTE FUNCTION lablift_private.t_immutable('id', 'webhook_id', 'seq', 'event',
                                                            'delivery_id', 'created_at');

-- The outbox: one pending delivery per live webhook that wants this entry's action.
CREATE FUNCTION lablift_private.t_webhook_outbox() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO public.webhook_deliveries (webhook_id, seq, event, delivery_id, state, attempts,
                                         next_attempt_at, created_at)
  SELECT w.id, NEW.seq, NEW.action, replace(gen_random_uuid()::text, '-', ''), 'pending', 0,
         NEW.ts, NEW.ts
    FROM public.webhooks w
   WHERE w.removed_at IS NULL
     AND EXISTS (SELECT 1 FROM json_array_elements_text(w.events::json) e(v)
                  WHERE e.v = NEW.action)
   ORDER BY w.id;
  RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION lablift_private.t_webhook_outbox() FROM PUBLIC;
"""


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("removed_at", sa.Text),
        sa.Column("removed_by", sa.Text))
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("webhook_id", sa.Integer, sa.ForeignKey("webhooks.id"), nullable=False),
        sa.Column("seq", sa.Integer, sa.ForeignKey("audit_log.seq")),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("delivery_id", sa.Text, nullable=False, unique=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.Text, nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("delivered_at", sa.Text),
        sa.UniqueConstraint("webhook_id", "seq"))
    op.create_index("webhook_deliveries_due", "webhook_deliveries",
                    ["state", "next_attempt_at"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        events = ", ".join(f"'{e}'" for e in EVENTS)
        bind.connection.driver_connection.execute(
            TEAM_SQL + "CREATE TRIGGER lablift_90_webhook_outbox AFTER INSERT ON "
            "public.audit_log FOR EACH ROW WHEN (NEW.action IN (" + events + ")) "
            "EXECUTE FUNCTION lablift_private.t_webhook_outbox();\n")
