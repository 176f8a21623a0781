"""Webhook configuration becomes governed: its rows are witnessed by the audit chain.

A webhook's URL and secret decide where events (and their signatures) go, so a row added or
changed outside Lablift must show in `audit verify` as any governed row does. Deliveries stay
unwitnessed: their state changes after the event, by whichever deliverer runs (docs/
webhooks.md says why that is safe).

Embedded store: nothing to change in SQL (its witnesses are TEMP triggers of Lablift's own
connections, core/witness.GOVERNED); rows made before this revision are witnessed by the
Store after it (core/webhooks.baseline_witnesses), as 0003 did for the other tables.

Team store: `webhooks` joins lablift_private.governed, gets the witness-note and the
deferred "witnessed at COMMIT" triggers of 0004, and its digest function is built. Rows
already there are witnessed by one `audit.baseline` entry, but only those that match their
own `webhook.add` (and `webhook.remove`) entries: an admin could INSERT a row with psql
before this revision, and such a row must stay unrecorded. lablift_witness_digests(tbl)
gives every role the digests of a governed table's rows (the same expression take_witness
uses), so a non-admin's `audit verify` checks `webhooks` without reading its secrets: the
digests are in the audit log everyone reads anyway.

Revision ID: 0007
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TEAM_SQL = r"""
INSERT INTO lablift_private.governed VALUES ('webhooks', ARRAY['id']);
CREATE TRIGGER lablift_90_witness AFTER INSERT OR UPDATE OR DELETE ON public.webhooks
  FOR EACH ROW EXECUTE FUNCTION lablift_private.t_witness_note('id');
CREATE CONSTRAINT TRIGGER lablift_99_witnessed AFTER INSERT OR UPDATE OR DELETE
  ON public.webhooks DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  EXECUTE FUNCTION lablift_private.t_witnessed();
SELECT lablift_private.build_witness();

-- (row key, digest) of every row of a governed table: 0004's digest_query over the table
-- itself instead of one transaction's notes (same expression, so the same digests).
CREATE FUNCTION public.lablift_witness_digests(tbl text) RETURNS TABLE (k text, d text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE g record; q text; every text;
BEGIN
  SELECT gv.tbl, gv.pk INTO g FROM lablift_private.governed gv WHERE gv.tbl = $1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'lablift: % is not a governed table', $1
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT format('(SELECT 0::bigint AS txid, %L::text AS tbl, ARRAY[%s] AS pk FROM public.%I s)',
                g.tbl, string_agg(format('s.%I::text', c), ', ' ORDER BY i), g.tbl)
    INTO every FROM unnest(g.pk) WITH ORDINALITY AS u(c, i);
  q := lablift_private.digest_query(g.tbl, g.pk);
  IF strpos(q, 'lablift_private.witness_pending p') = 0 THEN
    RAISE EXCEPTION 'lablift: digest_query changed shape; lablift_witness_digests needs updating';
  END IF;
  q := replace(q, 'lablift_private.witness_pending p', every || ' p');
  RETURN QUERY EXECUTE q USING 0::bigint;
END $$;
REVOKE ALL ON FUNCTION public.lablift_witness_digests(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.lablift_witness_digests(text)
  TO lablift_analyst, lablift_reviewer, lablift_ops, lablift_admin;

-- The baseline: rows whose add (and removal) the chain records, as the chain records them.
INSERT INTO lablift_private.witness_pending (txid, tbl, pk)
SELECT txid_current(), 'webhooks', ARRAY[w.id::text]
  FROM public.webhooks w
 WHERE EXISTS (SELECT 1 FROM public.audit_log a
                WHERE a.action = 'webhook.add' AND a.entity = 'webhook:' || w.id
                  AND a."user" = w.created_by
                  AND (a.details::json ->> 'url_sha256')
                      = encode(sha256(convert_to(w.url, 'UTF8')), 'hex')
                  AND (a.details::json -> 'events')::jsonb = w.events::jsonb)
   AND (w.removed_at IS NULL OR (w.secret = '' AND EXISTS (
          SELECT 1 FROM public.audit_log a
           WHERE a.action = 'webhook.remove' AND a.entity = 'webhook:' || w.id
             AND a."user" = w.removed_by)));
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM lablift_private.witness_pending WHERE txid = txid_current()) THEN
    PERFORM public.lablift_audit('audit.baseline', 'store:' || current_database(),
                                 '{"schema": 7, "table": "webhooks"}');
  END IF;
END $$;
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.connection.driver_connection.execute(TEAM_SQL)
