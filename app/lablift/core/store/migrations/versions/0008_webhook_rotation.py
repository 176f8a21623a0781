"""A webhook's secret can be rotated (core/webhooks.rotate): the team store's rules for it.

Rotation is an UPDATE of `webhooks.secret` (granted to lablift_admin since 0006) with its
`webhook.rotate` audit entry in the same transaction; the witness rules of 0004/0007 already
refuse at COMMIT such an UPDATE without an entry. What changes here:

- 0006's `lablift_11_removed_by` wrote the session user into `removed_by` on every UPDATE,
  so a rotation would have marked a live webhook "removed by" its admin: it now fires only
  when `removed_at` changes (the removal itself).
- `lablift_12_rules`: a removed webhook never changes again (no un-removing, no new secret
  for it); a removal blanks the secret; `removed_by` changes only with the removal; a live
  webhook's secret keeps at least 16 characters (core/webhooks.MIN_SECRET_CHARS), whoever
  writes it.

Embedded store: nothing in SQL (Lablift checks the same before writing; a hand edit of the
file shows in `audit verify` through the row's witness).

Revision ID: 0008
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MIN_SECRET_CHARS = 16  # frozen copy of core/webhooks.MIN_SECRET_CHARS at this revision

TEAM_SQL = r"""
DROP TRIGGER lablift_11_removed_by ON public.webhooks;
CREATE TRIGGER lablift_11_removed_by BEFORE UPDATE ON public.webhooks
  FOR EACH ROW WHEN (NEW.removed_at IS DISTINCT FROM OLD.removed_at)
  EXECUTE FUNCTION lablift_private.t_session_user('removed_by');

CREATE FUNCTION lablift_private.t_webhook_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF OLD.removed_at IS NOT NULL THEN
    RAISE EXCEPTION 'lablift: webhook % was removed (by % at %): a removed webhook does not '
      'change again; add a new one', OLD.id, OLD.removed_by, OLD.removed_at
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.removed_at IS NOT NULL THEN
    IF NEW.secret <> '' THEN
      RAISE EXCEPTION 'lablift: removing webhook % blanks its secret', OLD.id
        USING ERRCODE = 'check_violation';
    END IF;
  ELSIF NEW.removed_by IS DISTINCT FROM OLD.removed_by THEN
    RAISE EXCEPTION 'lablift: webhooks.removed_by is set by the server when the webhook is '
      'removed, and only then' USING ERRCODE = 'insufficient_privilege';
  ELSIF length(NEW.secret) < %(min)s THEN
    RAISE EXCEPTION 'lablift: webhook %''s secret needs at least %(min)s characters (this one '
      'has %): anyone who guesses it can forge events', OLD.id, length(NEW.secret)
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION lablift_private.t_webhook_rules() FROM PUBLIC;
CREATE TRIGGER lablift_12_rules BEFORE UPDATE ON public.webhooks
  FOR EACH ROW EXECUTE FUNCTION lablift_private.t_webhook_rules();
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.connection.driver_connection.execute(
            TEAM_SQL.replace("%(min)s", str(MIN_SECRET_CHARS)))
