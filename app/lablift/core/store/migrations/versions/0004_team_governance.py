"""Team store governance, enforced by the PostgreSQL server itself (no-op on SQLite).

Roles, grants, triggers and two SECURITY DEFINER entry points make the server refuse what
DESIGN "Roles and governance" forbids, whichever client connects (Lablift or psql):

- group roles lablift_analyst / _reviewer / _ops / _admin (NOLOGIN, cluster-wide; admin is
  a member of the other three); users are login roles granted one of them, mirrored in
  `users` by lablift_set_role(name, role) (admins only);
- every created_by / set_by / user column is session_user (BEFORE INSERT), never changed;
- four-eyes: a decision (approvals row, model_versions.status -> approved/rejected) only by a
  reviewer/admin who neither registered the version nor trained its run; the status change
  and the approvals row by the same session_user must come in the same transaction (checked
  at COMMIT, so either order works); only a pending version is decided;
- production/champion only on an approved version; bundles only of approved versions, by ops;
- audit_log, approvals, checks are append-only (no grant, and a trigger even for the owner);
- lablift_audit(action, entity, details) is the one way into audit_log: it serialises the
  chain with a private row lock, hashes exactly as core/audit.entry_hash does, and adds the
  digests (core/witness.row_digest) of every governed row the transaction changed;
- a deferred constraint trigger refuses COMMIT of a governed change no lablift_audit() call
  followed.

The owner of the tables (who ran the migrations) is the one role the triggers cannot hold:
it can disable them. Keep it for migrations; people work as login roles. Roles are
cluster-wide: a member of lablift_reviewer is a reviewer in every team store on the cluster.

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copy of core/witness.GOVERNED at this revision (a migration never imports live code).
GOVERNED = {
    "users": ("name",), "settings": ("key",), "datasets": ("id",), "sweeps": ("id",),
    "runs": ("id",), "models": ("name",), "model_versions": ("id",),
    "aliases": ("model", "alias"), "checks": ("id",), "approvals": ("id",),
    "bundles": ("id",), "batches": ("id",), "alerts": ("id",),
}
APPEND_ONLY = ("audit_log", "approvals", "checks")
# column forced to session_user on INSERT; 'update' also forces it on UPDATE (else immutable)
IDENTITY = {
    "users": ("created_by", "insert"), "datasets": ("created_by", "insert"),
    "sweeps": ("created_by", "insert"), "runs": ("created_by", "insert"),
    "models": ("created_by", "insert"), "model_versions": ("created_by", "insert"),
    "bundles": ("created_by", "insert"), "batches": ("created_by", "insert"),
    "aliases": ("set_by", "update"), "approvals": ("user", "insert"),
}
ROLES_SQL = r"""
DO $$
DECLARE g text; r record;
BEGIN
  IF current_setting('server_encoding') <> 'UTF8' THEN
    RAISE EXCEPTION 'a Lablift team store needs a UTF8 database, not %',
      current_setting('server_encoding');
  END IF;
  FOREACH g IN ARRAY ARRAY['lablift_analyst','lablift_reviewer','lablift_ops','lablift_admin']
  LOOP
    SELECT rolcanlogin, rolsuper INTO r FROM pg_roles WHERE rolname = g;
    IF NOT FOUND THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', g);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- another store's init made it meanwhile (roles are cluster-wide)
      END;
    ELSIF r.rolcanlogin OR r.rolsuper THEN
      -- a group role someone can log in as (or a superuser) would be a shared identity
      RAISE EXCEPTION 'role % exists and can log in or is a superuser: Lablift''s group roles '
        'must be NOLOGIN, NOSUPERUSER', g;
    END IF;
  END LOOP;
END $$;
GRANT lablift_analyst, lablift_reviewer, lablift_ops TO lablift_admin;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA lablift_private;
REVOKE ALL ON SCHEMA lablift_private FROM PUBLIC;

-- (txid, governed row) a transaction changed and no lablift_audit() has witnessed yet
CREATE UNLOGGED TABLE lablift_private.witness_pending (
  txid bigint NOT NULL, tbl text NOT NULL, pk text[] NOT NULL,
  PRIMARY KEY (txid, tbl, pk));
-- decisions of a transaction: kind 'status' (model_versions.status) or 'approval' (a row)
CREATE UNLOGGED TABLE lablift_private.decisions (
  txid bigint NOT NULL, version_id integer NOT NULL, kind text NOT NULL,
  decision text NOT NULL, PRIMARY KEY (txid, version_id, kind));
CREATE TABLE lablift_private.governed (tbl text PRIMARY KEY, pk text[] NOT NULL, sig text);
-- the chain's lock: a row no client can reach (an advisory key anyone could hold)
CREATE TABLE lablift_private.chain (id integer PRIMARY KEY);
INSERT INTO lablift_private.chain VALUES (1);
"""

HELPERS_SQL = r"""
-- Python's datetime.now(timezone.utc).isoformat(timespec="milliseconds") (both truncate)
CREATE FUNCTION lablift_private.utcnow() RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"') $$;

CREATE FUNCTION lablift_private.member_of(who name, VARIADIC groups text[]) RETURNS boolean
LANGUAGE sql STABLE AS
$$ SELECT EXISTS (SELECT 1 FROM unnest(groups) g WHERE pg_has_role(who, g::name, 'MEMBER')) $$;

-- repr(float) as Python's json module writes it: shortest round-trip digits (float8out
-- with extra_float_digits >= 1 gives those: lablift_audit sets it), laid out as Python's
-- float_repr_style 'short' does.
CREATE FUNCTION lablift_private.py_float(v float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE t text; neg boolean; m text; e integer := 0; digits text; p integer; decpt integer;
        n integer; x integer;
BEGIN
  IF v = 'NaN'::float8 THEN RETURN 'NaN'; END IF;
  IF v = 'Infinity'::float8 THEN RETURN 'Infinity'; END IF;
  IF v = '-Infinity'::float8 THEN RETURN '-Infinity'; END IF;
  t := v::text;
  neg := left(t, 1) = '-';
  IF neg THEN t := substr(t, 2); END IF;
  p := strpos(t, 'e');
  IF p > 0 THEN m := left(t, p - 1); e := substr(t, p + 1)::integer; ELSE m := t; END IF;
  p := strpos(m, '.');
  IF p > 0 THEN digits := left(m, p - 1) || substr(m, p + 1); decpt := p - 1 + e;
  ELSE digits := m; decpt := length(m) + e; END IF;
  n := length(digits) - length(ltrim(digits, '0'));
  digits := rtrim(ltrim(digits, '0'), '0');
  decpt := decpt - n;
  IF digits = '' THEN digits := '0'; decpt := 1; END IF;
  n := length(digits);
  IF decpt <= -4 OR decpt > 16 THEN
    x := abs(decpt - 1);
    t := left(digits, 1) || CASE WHEN n > 1 THEN '.' || substr(digits, 2) ELSE '' END
         || 'e' || CASE WHEN decpt - 1 < 0 THEN '-' ELSE '+' END
         || CASE WHEN x < 10 THEN '0' ELSE '' END || x::text;
  ELSIF decpt <= 0 THEN t := '0.' || repeat('0', -decpt) || digits;
  ELSIF decpt >= n THEN t := digits || repeat('0', decpt - n) || '.0';
  ELSE t := left(digits, decpt) || '.' || substr(digits, decpt + 1);
  END IF;
  RETURN CASE WHEN neg THEN '-' ELSE '' END || t;
END $$;

-- json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode(json.loads(j)), byte for
-- byte. The json type (not jsonb) keeps each number's token, so 1.0 / 1e+16 stay floats
-- and 1 stays an int, as json.loads reads them; a repeated key keeps its last value.
CREATE FUNCTION lablift_private.py_json(j json) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE tok text;
BEGIN
  CASE json_typeof(j)
  WHEN 'object' THEN
    RETURN '{' || coalesce((
      SELECT string_agg(to_json(s.k)::text || ': ' || lablift_private.py_json(s.v), ', '
                        ORDER BY s.k COLLATE "C")
        FROM (SELECT DISTINCT ON (e.key) e.key AS k, e.value AS v
                FROM json_each(j) WITH ORDINALITY AS e(key, value, n)
               ORDER BY e.key, e.n DESC) s), '') || '}';
  WHEN 'array' THEN
    RETURN '[' || coalesce((
      SELECT string_agg(lablift_private.py_json(e.value), ', ' ORDER BY e.n)
        FROM json_array_elements(j) WITH ORDINALITY AS e(value, n)), '') || ']';
  WHEN 'string' THEN
    RETURN to_json(j #>> '{}')::text;  -- escapes exactly as json.encoder.encode_basestring
  WHEN 'number' THEN
    tok := btrim(j::text, E' \t\n\r');
    IF tok ~ '[.eE]' THEN RETURN lablift_private.py_float(tok::float8); END IF;
    RETURN tok::numeric::text;
  WHEN 'boolean' THEN
    RETURN btrim(j::text, E' \t\n\r');
  ELSE
    RETURN 'null';
  END CASE;
END $$;

-- the client's details object plus "witness", serialised as core/audit._details_json does
CREATE FUNCTION lablift_private.details_text(j json, wit text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT '{' || coalesce(string_agg(m.kj || ': ' || m.v, ', ' ORDER BY m.k COLLATE "C"), '')
         || '}'
    FROM ((SELECT DISTINCT ON (e.key) e.key AS k, to_json(e.key)::text AS kj,
                  lablift_private.py_json(e.value) AS v
             FROM json_each(j) WITH ORDINALITY AS e(key, value, n)
            ORDER BY e.key, e.n DESC)
          UNION ALL
          SELECT 'witness', '"witness"', wit WHERE wit IS NOT NULL) m
$$;

-- A query giving (row key, core/witness.row_digest) of the pending rows of one table for
-- txid $1: sha256(table, then per non-NULL column in name order "\0name:tag:len:" + bytes).
-- Built from the catalog at each call, so a later migration's new column is included.
CREATE FUNCTION lablift_private.digest_query(tbl text, pk text[]) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE rel regclass := format('public.%I', tbl)::regclass; fields text; joins text;
BEGIN
  SELECT string_agg('coalesce(decode(''00'', ''hex'') || ' || CASE
      WHEN a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype,
                          'name'::regtype) THEN
        format('convert_to(%L || octet_length(t.%I) || '':'' || t.%I, ''UTF8'')',
               a.attname || ':s:', a.attname, a.attname)
      WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
        format('convert_to(%L || length(t.%I::text) || '':'' || t.%I::text, ''UTF8'')',
               a.attname || ':i:', a.attname, a.attname)
      WHEN a.atttypid IN ('float4'::regtype, 'float8'::regtype) THEN
        format('convert_to(%L || encode(float8send(t.%I::float8), ''hex''), ''UTF8'')',
               a.attname || ':f:16:', a.attname)
      WHEN a.atttypid = 'bool'::regtype THEN
        format('convert_to(%L || (t.%I::int)::text, ''UTF8'')', a.attname || ':i:1:', a.attname)
      WHEN a.atttypid = 'bytea'::regtype THEN
        format('(convert_to(%L || octet_length(t.%I) || '':'', ''UTF8'') || t.%I)',
               a.attname || ':b:', a.attname, a.attname)
      ELSE  -- Python's str(value) for anything else
        format('convert_to(%L || octet_length(t.%I::text) || '':'' || t.%I::text, ''UTF8'')',
               a.attname || ':s:', a.attname, a.attname)
      END || ', ''''::bytea)', ' || ' ORDER BY a.attname::text COLLATE "C")
    INTO fields
    FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped;
  SELECT string_agg(format('t.%I = p.pk[%s]::%s', u.c, u.i,
                           format_type(a.atttypid, a.atttypmod)), ' AND ')
    INTO joins
    FROM unnest(pk) WITH ORDINALITY AS u(c, i)
    JOIN pg_attribute a ON a.attrelid = rel AND a.attname = u.c;
  RETURN format('SELECT %L || '':'' || array_to_string(p.pk, ''/'') AS k, CASE WHEN t.%I IS '
                'NULL THEN NULL ELSE encode(sha256(convert_to(%L, ''UTF8'') || %s), ''hex'') '
                'END AS d FROM lablift_private.witness_pending p LEFT JOIN public.%I t ON %s '
                'WHERE p.txid = $1 AND p.tbl = %L', tbl, pk[1], tbl, fields, tbl, joins, tbl);
END $$;

-- The column list a table's digest function was built for (see build_witness).
CREATE FUNCTION lablift_private.columns_sig(tbl text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT string_agg(a.attname || ':' || a.atttypid, ',' ORDER BY a.attnum)
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = pg_catalog.to_regclass('public.' || quote_ident(tbl))
     AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- One static function per governed table (lablift_private.w_<table>), so its plan is
-- cached per session instead of built and planned at each append. A migration that changes
-- a governed table's columns calls this again; until it does, take_witness notices the
-- changed column list and uses the generic (slower) query instead, so digests stay right.
CREATE FUNCTION lablift_private.build_witness() RETURNS void LANGUAGE plpgsql AS $$
DECLARE g record;
BEGIN
  FOR g IN SELECT * FROM lablift_private.governed LOOP
    EXECUTE format('CREATE OR REPLACE FUNCTION lablift_private.%I(tx bigint) RETURNS TABLE '
                   '(k text, d text) LANGUAGE plpgsql STABLE AS %L',
                   'w_' || g.tbl, 'BEGIN RETURN QUERY ' || replace(
                     lablift_private.digest_query(g.tbl, g.pk), '$1', 'tx') || '; END');
    EXECUTE format('REVOKE ALL ON FUNCTION lablift_private.%I(bigint) FROM PUBLIC',
                   'w_' || g.tbl);
    UPDATE lablift_private.governed SET sig = lablift_private.columns_sig(g.tbl)
     WHERE tbl = g.tbl;
  END LOOP;
END $$;

-- {"table:pk": digest or null} of the rows this transaction changed (keys sorted); clears
-- the notes. NULL when there were none (then the entry has no "witness", as in Python).
CREATE FUNCTION lablift_private.take_witness() RETURNS text LANGUAGE plpgsql AS $$
DECLARE tx bigint := txid_current(); g record; parts text[] := '{}'; res text;
BEGIN
  FOR g IN SELECT gv.tbl, gv.pk, gv.sig FROM lablift_private.governed gv
            WHERE EXISTS (SELECT 1 FROM lablift_private.witness_pending p
                           WHERE p.txid = tx AND p.tbl = gv.tbl) LOOP
    parts := parts || CASE WHEN g.sig = lablift_private.columns_sig(g.tbl)
                           THEN format('SELECT * FROM lablift_private.%I($1)', 'w_' || g.tbl)
                           ELSE lablift_private.digest_query(g.tbl, g.pk) END;
  END LOOP;
  IF cardinality(parts) = 0 THEN RETURN NULL; END IF;
  EXECUTE 'SELECT ''{'' || string_agg(to_json(w.k)::text || '': '' || coalesce(''"'' || w.d '
          || '|| ''"'', ''null''), '', '' ORDER BY w.k COLLATE "C") || ''}'' FROM ('
          || array_to_string(parts, ' UNION ALL ') || ') w' INTO res USING tx;
  DELETE FROM lablift_private.witness_pending WHERE txid = tx;
  RETURN res;
END $$;
"""

AUDIT_SQL = r"""
-- The one way into audit_log. Serialised per store by a row lock held to COMMIT (the
-- private chain row: unlike an advisory key, no client can take it to stall the chain);
-- under READ COMMITTED (the default) each append sees the previous one. Under REPEATABLE
-- READ a concurrent append makes this one fail (duplicate seq): retry the transaction.
CREATE FUNCTION public.lablift_audit(action text, entity text, details text DEFAULT '{}')
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET extra_float_digits = 1 AS $$
#variable_conflict use_variable
DECLARE j json; v_details text; v_seq integer; v_prev text; v_ts text; v_hash text;
        v_user text := session_user;
BEGIN
  IF action IS NULL OR entity IS NULL THEN
    RAISE EXCEPTION 'lablift_audit: action and entity are required'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  BEGIN
    j := coalesce(details, '{}')::json;
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'lablift_audit: details is not JSON the server can read (%)', SQLERRM
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'NaN and Infinity are not JSON: send null or a string instead';
  END;
  IF json_typeof(j) <> 'object' THEN
    RAISE EXCEPTION 'lablift_audit: details must be a JSON object, not %', json_typeof(j)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM json_each(j) e WHERE e.key = 'witness') THEN
    RAISE EXCEPTION 'lablift_audit: details may not carry "witness": the server computes '
      'the row witnesses itself' USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM 1 FROM lablift_private.chain c WHERE c.id = 1 FOR UPDATE;
  IF NOT FOUND THEN  -- without its lock the chain could fork: refuse rather than append
    RAISE EXCEPTION 'lablift_audit: the chain lock row is missing (lablift_private.chain)';
  END IF;
  v_details := lablift_private.details_text(j, lablift_private.take_witness());
  SELECT a.seq, a.hash INTO v_seq, v_prev FROM public.audit_log a ORDER BY a.seq DESC LIMIT 1;
  IF FOUND THEN v_seq := v_seq + 1; ELSE v_seq := 1; v_prev := repeat('0', 64); END IF;
  v_ts := lablift_private.utcnow();
  -- core/audit.entry_hash: sha256(prev + '[seq,"ts","user","action","entity","details"]')
  v_hash := encode(sha256(convert_to(v_prev || '[' || v_seq || ',' || to_json(v_ts)::text
            || ',' || to_json(v_user)::text || ',' || to_json(action)::text || ','
            || to_json(entity)::text || ',' || to_json(v_details)::text || ']', 'UTF8')), 'hex');
  INSERT INTO public.audit_log (seq, ts, "user", action, entity, details, prev_hash, hash)
  VALUES (v_seq, v_ts, v_user, action, entity, v_details, v_prev, v_hash);
  INSERT INTO public.settings AS s (key, value)
  VALUES ('audit_head', '{"seq": ' || v_seq || ', "hash": "' || v_hash || '"}')
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
  -- decision notes of finished transactions are of no more use
  DELETE FROM lablift_private.decisions
   WHERE txid < txid_snapshot_xmin(txid_current_snapshot());
  RETURN v_seq;
END $$;

-- Admins give a login role its one Lablift role (creating the login role if missing; its
-- password is set by the DBA, never passed here) and the users row mirrors it.
CREATE FUNCTION public.lablift_set_role(name text, role text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE who text := session_user; g text; v_name text := btrim(name); prev text; twin text;
        want text := 'lablift_' || role;
BEGIN
  IF NOT lablift_private.member_of(who::name, 'lablift_admin') THEN
    RAISE EXCEPTION 'only lablift_admin members change users: % is not one', who
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF role IS NULL OR role NOT IN ('analyst', 'reviewer', 'ops', 'admin') THEN
    RAISE EXCEPTION 'role % is not one of: analyst, reviewer, ops, admin', quote_literal(role)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF v_name IS NULL OR v_name = '' THEN
    RAISE EXCEPTION 'a user name cannot be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF v_name LIKE 'lablift\_%' OR v_name LIKE 'pg\_%' THEN
    RAISE EXCEPTION '% is a group or system role, not a person', v_name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT u.name INTO twin FROM public.users u
   WHERE lower(u.name) = lower(v_name) AND u.name <> v_name;
  IF FOUND THEN  -- four-eyes compares names without case: 'Ann' and 'ann' are one person
    RAISE EXCEPTION 'user % would be the same person as % (names are compared without case)',
      v_name, twin USING ERRCODE = 'unique_violation';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = v_name) THEN
    EXECUTE format('CREATE ROLE %I LOGIN', v_name);
  ELSIF NOT (SELECT r.rolcanlogin FROM pg_roles r WHERE r.rolname = v_name) THEN
    -- granting to a group would make every member of it a Lablift user at once
    RAISE EXCEPTION '% is a role nobody logs in as: a Lablift user is a login role', v_name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOREACH g IN ARRAY ARRAY['lablift_analyst','lablift_reviewer','lablift_ops','lablift_admin']
  LOOP
    IF g <> want AND EXISTS (SELECT 1 FROM pg_auth_members m
                              WHERE m.roleid = g::regrole AND m.member = (
                                SELECT r.oid FROM pg_roles r WHERE r.rolname = v_name)) THEN
      EXECUTE format('REVOKE %I FROM %I', g, v_name);
    END IF;
  END LOOP;
  EXECUTE format('GRANT %I TO %I', want, v_name);
  SELECT u.role INTO prev FROM public.users u WHERE u.name = v_name;
  IF prev IS DISTINCT FROM role THEN
    INSERT INTO public.users AS u (name, role, created_at, created_by)
    VALUES (v_name, role, lablift_private.utcnow(), who)
    ON CONFLICT ON CONSTRAINT users_pkey DO UPDATE SET role = EXCLUDED.role;
    PERFORM public.lablift_audit('user.role', 'user:' || v_name,
                                 json_build_object('role', role, 'previous', prev)::text);
  END IF;
  RETURN role;
END $$;
"""

TRIGGER_FUNCTIONS_SQL = r"""
-- Every trigger function pins search_path (pg_temp last) and names public./lablift_private.
-- objects in full: what a trigger reads never depends on the client's session settings.
-- Identity: the column is session_user, whatever the client sent.
CREATE FUNCTION lablift_private.t_session_user() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF (to_jsonb(NEW) ->> TG_ARGV[0]) IS DISTINCT FROM session_user::text THEN
    NEW := jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[0], session_user::text));
  END IF;
  RETURN NEW;
END $$;

-- alerts.acknowledged_by: whoever sets or changes it is session_user
CREATE FUNCTION lablift_private.t_acknowledged_by() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.acknowledged_by IS NOT NULL AND (TG_OP = 'INSERT'
      OR NEW.acknowledged_by IS DISTINCT FROM OLD.acknowledged_by) THEN
    NEW.acknowledged_by := session_user;
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION lablift_private.t_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE c text; o jsonb := to_jsonb(OLD); n jsonb := to_jsonb(NEW);
BEGIN
  FOREACH c IN ARRAY TG_ARGV LOOP
    IF (o -> c) IS DISTINCT FROM (n -> c) THEN
      RAISE EXCEPTION 'lablift: %.% is set by the server when the row is made and never '
        'changes', TG_TABLE_NAME, c USING ERRCODE = 'insufficient_privilege';
    END IF;
  END LOOP;
  RETURN NEW;
END $$;

CREATE FUNCTION lablift_private.t_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'lablift: % is append-only: no % of its rows, by anyone', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION lablift_private.t_no_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'lablift: TRUNCATE of % is refused: it would bypass the append-only rule and '
    'the audit chain''s witnesses', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

-- Rows only the owner writes (from inside lablift_audit / lablift_set_role, which run as it).
-- SECURITY INVOKER on purpose: current_user is the caller, or the owner inside those.
CREATE FUNCTION lablift_private.t_owner_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF current_user <> (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c
                       WHERE c.oid = TG_RELID) THEN
    RAISE EXCEPTION 'lablift: %', TG_ARGV[0] USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

-- Witnesses: note each governed row this transaction touches (old and new key).
CREATE FUNCTION lablift_private.t_witness_note() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE r jsonb; pk text[];
BEGIN
  FOR r IN SELECT x FROM (VALUES (CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END),
                                 (CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END)) v(x)
            WHERE x IS NOT NULL LOOP
    IF TG_TABLE_NAME = 'settings' AND r ->> 'key' = 'audit_head' THEN
      CONTINUE;  -- the chain's own head, checked by audit verify itself
    END IF;
    SELECT array_agg(r ->> c ORDER BY i) INTO pk FROM unnest(TG_ARGV) WITH ORDINALITY u(c, i);
    INSERT INTO lablift_private.witness_pending VALUES (txid_current(), TG_TABLE_NAME, pk)
    ON CONFLICT DO NOTHING;
  END LOOP;
  RETURN NULL;
END $$;

-- At COMMIT (deferred constraint trigger): no governed change left unwitnessed.
CREATE FUNCTION lablift_private.t_witnessed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE keys text;
BEGIN
  SELECT string_agg(s.k, ', ') INTO keys
    FROM (SELECT p.tbl || ':' || array_to_string(p.pk, '/') AS k
            FROM lablift_private.witness_pending p WHERE p.txid = txid_current()
           ORDER BY 1 LIMIT 5) s;
  IF keys IS NOT NULL THEN
    RAISE EXCEPTION 'lablift: every governed change is witnessed by the audit chain: % '
      'changed with no lablift_audit() call after it in this transaction', keys
      USING ERRCODE = 'integrity_constraint_violation',
            HINT = 'call lablift_audit(action, entity, details) after the change, before COMMIT';
  END IF;
  RETURN NULL;
END $$;

-- Four-eyes: who may decide on version v.
CREATE FUNCTION lablift_private.require_decider(v_id integer, decision text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE who text := session_user; v record; trainer text; did text[] := '{}';
BEGIN
  SELECT mv.model, mv.version, mv.created_by, mv.run_id INTO v
    FROM public.model_versions mv WHERE mv.id = v_id;
  IF NOT lablift_private.member_of(who::name, 'lablift_reviewer', 'lablift_admin') THEN
    RAISE EXCEPTION 'lablift: four-eyes rule: % version %:% needs the role reviewer or admin; '
      '% is not a member of lablift_reviewer or lablift_admin',
      CASE decision WHEN 'approved' THEN 'approving' ELSE 'rejecting' END, v.model, v.version,
      who USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT r.created_by INTO trainer FROM public.runs r WHERE r.id = v.run_id;
  IF lower(who) = lower(trainer) THEN did := did || format('trained run %s', v.run_id); END IF;
  IF lower(who) = lower(v.created_by) THEN did := did || 'registered it'::text; END IF;
  IF cardinality(did) > 0 THEN
    RAISE EXCEPTION 'lablift: four-eyes rule: % % and cannot % version %:%; another reviewer '
      'must', who, array_to_string(did, ' and '),
      CASE decision WHEN 'approved' THEN 'approve' ELSE 'reject' END, v.model, v.version
      USING ERRCODE = 'insufficient_privilege';
  END IF;
END $$;

CREATE FUNCTION lablift_private.t_version_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT lablift_private.member_of(session_user, 'lablift_analyst', 'lablift_admin') THEN
    RAISE EXCEPTION 'lablift: registering a model version needs lablift_analyst or '
      'lablift_admin; % is neither', session_user USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.status <> 'pending' OR NEW.archived <> 0 THEN
    RAISE EXCEPTION 'lablift: a model version is registered pending (not %): only a '
      'reviewer''s decision approves or rejects it', NEW.status
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION lablift_private.t_version_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE ref text := OLD.model || ':' || OLD.version; names text;
BEGIN
  IF (NEW.id, NEW.model, NEW.version, NEW.run_id, NEW.created_at)
     IS DISTINCT FROM (OLD.id, OLD.model, OLD.version, OLD.run_id, OLD.created_at) THEN
    RAISE EXCEPTION 'lablift: version %: id, model, version, run_id and created_at never '
      'change', ref USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.status <> 'pending' AND (NEW.card, NEW.description, NEW.tags, NEW.lineage,
      NEW.challenger_of) IS DISTINCT FROM (OLD.card, OLD.description, OLD.tags, OLD.lineage,
      OLD.challenger_of) THEN
    RAISE EXCEPTION 'lablift: version % is %: its card, description, tags and lineage are '
      'frozen once decided', ref, OLD.status USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.archived IS DISTINCT FROM OLD.archived
     AND NOT (NEW.status = 'archived' AND NEW.archived = 1) THEN
    RAISE EXCEPTION 'lablift: version %: archived is set only with status archived', ref
      USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    IF NEW.status IN ('approved', 'rejected') THEN
      IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'lablift: version % is %: only a pending version can be %', ref,
          OLD.status, NEW.status USING ERRCODE = 'check_violation';
      END IF;
      PERFORM lablift_private.require_decider(OLD.id, NEW.status);
      INSERT INTO lablift_private.decisions VALUES (txid_current(), OLD.id, 'status', NEW.status)
      ON CONFLICT (txid, version_id, kind) DO UPDATE SET decision = EXCLUDED.decision;
    ELSIF NEW.status = 'archived' THEN
      IF NOT lablift_private.member_of(session_user, 'lablift_ops', 'lablift_reviewer',
                                       'lablift_admin') THEN
        RAISE EXCEPTION 'lablift: archiving version % needs the role ops, reviewer or admin; '
          '% is none of these', ref, session_user USING ERRCODE = 'insufficient_privilege';
      END IF;
      SELECT string_agg(a.alias, ', ' ORDER BY a.alias) INTO names
        FROM public.aliases a WHERE a.version_id = OLD.id;
      IF names IS NOT NULL AND OLD.status = 'approved'
         AND EXISTS (SELECT 1 FROM public.aliases a WHERE a.version_id = OLD.id
                        AND lower(a.alias) IN ('production', 'champion')) THEN
        RAISE EXCEPTION 'lablift: production and champion only point at an approved version: '
          'version % is aliased as %; move the alias before it stops being approved', ref, names
          USING ERRCODE = 'check_violation';
      ELSIF names IS NOT NULL THEN
        RAISE EXCEPTION 'lablift: version % is aliased as %: move or remove the alias before '
          'archiving it', ref, names USING ERRCODE = 'check_violation';
      END IF;
    ELSE
      RAISE EXCEPTION 'lablift: version %: status % -> % is not a transition (pending -> '
        'approved | rejected; any -> archived)', ref, OLD.status, NEW.status
        USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION lablift_private.t_approval_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE v record; ref text;
BEGIN
  IF NEW.decision IS NULL OR NEW.decision NOT IN ('approved', 'rejected') THEN
    RAISE EXCEPTION 'lablift: an approvals row records approved or rejected, not %',
      coalesce(quote_literal(NEW.decision), 'NULL') USING ERRCODE = 'check_violation';
  END IF;
  SELECT mv.id, mv.model, mv.version, mv.status INTO v
    FROM public.model_versions mv WHERE mv.id = NEW.version_id FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'lablift: model version % does not exist', NEW.version_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  ref := v.model || ':' || v.version;
  PERFORM lablift_private.require_decider(v.id, NEW.decision);
  IF v.status <> 'pending' AND NOT EXISTS (
      SELECT 1 FROM lablift_private.decisions d WHERE d.txid = txid_current()
         AND d.version_id = v.id AND d.kind = 'status' AND d.decision = NEW.decision) THEN
    RAISE EXCEPTION 'lablift: version % is %: only a pending version can be %', ref, v.status,
      NEW.decision USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.decision = 'approved' AND coalesce(btrim(NEW.override_reason), '') = ''
     AND EXISTS (SELECT 1 FROM public.checks c WHERE c.version_id = v.id AND c.passed = 0) THEN
    RAISE EXCEPTION 'lablift: version % failed a check: approving it needs an override reason',
      ref USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.decision = 'rejected' AND coalesce(btrim(NEW.comment), '') = '' THEN
    RAISE EXCEPTION 'lablift: rejecting version % needs a comment saying why', ref
      USING ERRCODE = 'check_violation';
  END IF;
  INSERT INTO lablift_private.decisions VALUES (txid_current(), v.id, 'approval', NEW.decision)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'lablift: version % was already decided in this transaction', ref
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;

-- At COMMIT: a status decision came with its approvals row, and the other way round.
CREATE FUNCTION lablift_private.t_decided() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE vid integer; want text; other text; v record;
BEGIN
  IF TG_TABLE_NAME = 'model_versions' THEN
    vid := NEW.id; want := NEW.status; other := 'approval';
  ELSE
    vid := NEW.version_id; want := NEW.decision; other := 'status';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM lablift_private.decisions d WHERE d.txid = txid_current()
                    AND d.version_id = vid AND d.kind = other AND d.decision = want) THEN
    SELECT mv.model, mv.version, mv.status INTO v FROM public.model_versions mv
     WHERE mv.id = vid;
    IF other = 'approval' THEN
      RAISE EXCEPTION 'lablift: four-eyes rule: version %:% became % without an approvals row '
        'by % in the same transaction', v.model, v.version, want, session_user
        USING ERRCODE = 'insufficient_privilege';
    ELSE
      RAISE EXCEPTION 'lablift: an approvals row (%) for version %:% needs its status to '
        'change from pending to % in the same transaction (it is %)', want, v.model, v.version,
        want, v.status USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION lablift_private.t_alias() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE v record;
BEGIN
  SELECT mv.model, mv.version, mv.status INTO v
    FROM public.model_versions mv WHERE mv.id = NEW.version_id FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'lablift: model version % does not exist', NEW.version_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF v.model <> NEW.model THEN
    RAISE EXCEPTION 'lablift: alias % of model % cannot point at version %:% of another model',
      NEW.alias, NEW.model, v.model, v.version USING ERRCODE = 'check_violation';
  END IF;
  IF lower(NEW.alias) IN ('production', 'champion') AND v.status <> 'approved' THEN
    RAISE EXCEPTION 'lablift: alias % may only point at an approved version; %:% is %',
      quote_literal(lower(NEW.alias)), v.model, v.version, v.status
      USING ERRCODE = 'check_violation';
  END IF;
  IF v.status IN ('rejected', 'archived') THEN
    RAISE EXCEPTION 'lablift: version %:% is %: no alias may point at it', v.model, v.version,
      v.status USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION lablift_private.t_bundle_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE v record;
BEGIN
  IF NOT lablift_private.member_of(session_user, 'lablift_ops', 'lablift_admin') THEN
    RAISE EXCEPTION 'lablift: recording an exported bundle needs lablift_ops or lablift_admin; '
      '% is neither', session_user USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT mv.model, mv.version, mv.status INTO v
    FROM public.model_versions mv WHERE mv.id = NEW.version_id FOR SHARE;
  IF NOT FOUND OR v.status <> 'approved' THEN
    RAISE EXCEPTION 'lablift: a bundle is recorded only for an approved version; %:% is %',
      v.model, v.version, coalesce(v.status, 'missing') USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION lablift_private.t_check_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE v record;
BEGIN
  SELECT mv.model, mv.version, mv.status INTO v
    FROM public.model_versions mv WHERE mv.id = NEW.version_id FOR SHARE;
  IF FOUND AND v.status <> 'pending' THEN
    RAISE EXCEPTION 'lablift: checks are recorded while a version is pending; %:% is %',
      v.model, v.version, v.status USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
"""

GRANTS_SQL = r"""
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA public
  TO lablift_analyst, lablift_reviewer, lablift_ops, lablift_admin;
GRANT SELECT ON alembic_version TO PUBLIC;  -- `store info` for anyone who may connect
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES
  TO lablift_analyst, lablift_reviewer, lablift_ops, lablift_admin;

GRANT INSERT ON datasets, sweeps, runs, models, model_versions, checks, batches, alerts
  TO lablift_analyst;
GRANT UPDATE ON sweeps, runs, batches TO lablift_analyst;
GRANT UPDATE (card, description, tags, lineage, challenger_of, attention)
  ON model_versions TO lablift_analyst;
GRANT UPDATE (acknowledged_by, acknowledged_at) ON alerts
  TO lablift_analyst, lablift_reviewer, lablift_ops;

GRANT INSERT ON approvals TO lablift_reviewer;
GRANT UPDATE (status, archived, attention) ON model_versions TO lablift_reviewer, lablift_ops;

GRANT INSERT, UPDATE, DELETE ON aliases TO lablift_ops;
GRANT INSERT ON bundles, batches, alerts TO lablift_ops;
GRANT UPDATE (status, path, manifest_sha256, files, tmp_path, host, pid) ON bundles
  TO lablift_ops;
GRANT UPDATE ON batches TO lablift_ops;

GRANT INSERT, UPDATE ON settings TO lablift_admin;
GRANT UPDATE ON models TO lablift_admin;

DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES
      ('datasets', 'lablift_analyst'), ('sweeps', 'lablift_analyst'),
      ('runs', 'lablift_analyst'), ('model_versions', 'lablift_analyst'),
      ('checks', 'lablift_analyst'), ('batches', 'lablift_analyst'),
      ('alerts', 'lablift_analyst'), ('approvals', 'lablift_reviewer'),
      ('bundles', 'lablift_ops'), ('batches', 'lablift_ops'), ('alerts', 'lablift_ops')) v(t, g)
  LOOP
    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I',
                   pg_get_serial_sequence('public.' || r.t, 'id'), r.g);
  END LOOP;
END $$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lablift_private FROM PUBLIC;
REVOKE ALL ON FUNCTION public.lablift_audit(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.lablift_set_role(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.lablift_audit(text, text, text)
  TO lablift_analyst, lablift_reviewer, lablift_ops, lablift_admin;
GRANT EXECUTE ON FUNCTION public.lablift_set_role(text, text) TO lablift_admin;
"""


def _triggers_sql() -> str:
    out = []
    add = out.append

    def trig(name, when, table, fn, args=(), each="ROW", cond=""):
        argv = ", ".join("'" + a.replace("'", "''") + "'" for a in args)
        add(f"CREATE TRIGGER {name} {when} ON public.{table} FOR EACH {each}"
            f"{f' WHEN ({cond})' if cond else ''} EXECUTE FUNCTION lablift_private.{fn}({argv});")

    for table, pk in GOVERNED.items():
        add(f"INSERT INTO lablift_private.governed VALUES ('{table}', "
            f"ARRAY[{', '.join(repr(c) for c in pk)}]);")
        trig("lablift_90_witness", "AFTER INSERT OR UPDATE OR DELETE", table, "t_witness_note",
             pk)
        add(f"CREATE CONSTRAINT TRIGGER lablift_99_witnessed AFTER INSERT OR UPDATE OR DELETE "
            f"ON public.{table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"EXECUTE FUNCTION lablift_private.t_witnessed();")
    for table in (*GOVERNED, "audit_log"):
        trig("lablift_00_no_truncate", "BEFORE TRUNCATE", table, "t_no_truncate",
             each="STATEMENT")
    for table in APPEND_ONLY:
        trig("lablift_00_append_only", "BEFORE UPDATE OR DELETE", table, "t_append_only")
    for table, (column, mode) in IDENTITY.items():
        trig("lablift_10_identity", "BEFORE INSERT" + (" OR UPDATE" if mode == "update" else ""),
             table, "t_session_user", (column,))
        if mode == "insert" and table not in APPEND_ONLY:
            trig("lablift_10_immutable", "BEFORE UPDATE", table, "t_immutable", (column,))
    trig("lablift_10_identity", "BEFORE INSERT OR UPDATE", "alerts", "t_acknowledged_by")
    trig("lablift_10_immutable_version", "BEFORE UPDATE", "bundles", "t_immutable",
         ("version_id",))
    trig("lablift_05_owner_only", "BEFORE INSERT", "audit_log", "t_owner_only",
         ("audit entries are appended only through lablift_audit(action, entity, details)",))
    trig("lablift_05_owner_only", "BEFORE INSERT OR UPDATE OR DELETE", "users", "t_owner_only",
         ("users change only through lablift_set_role(name, role), by a lablift_admin member",))
    head = "settings 'audit_head' is written only by lablift_audit()"
    trig("lablift_05_head_insert", "BEFORE INSERT", "settings", "t_owner_only", (head,),
         cond="NEW.key = 'audit_head'")
    trig("lablift_05_head_update", "BEFORE UPDATE", "settings", "t_owner_only", (head,),
         cond="OLD.key = 'audit_head' OR NEW.key = 'audit_head'")
    trig("lablift_05_head_delete", "BEFORE DELETE", "settings", "t_owner_only", (head,),
         cond="OLD.key = 'audit_head'")
    trig("lablift_20_rules_insert", "BEFORE INSERT", "model_versions", "t_version_insert")
    trig("lablift_20_rules_update", "BEFORE UPDATE", "model_versions", "t_version_update")
    trig("lablift_20_rules", "BEFORE INSERT", "approvals", "t_approval_insert")
    trig("lablift_20_rules", "BEFORE INSERT OR UPDATE", "aliases", "t_alias")
    trig("lablift_20_rules", "BEFORE INSERT", "bundles", "t_bundle_insert")
    trig("lablift_20_rules", "BEFORE INSERT", "checks", "t_check_insert")
    add("CREATE CONSTRAINT TRIGGER lablift_98_decided AFTER UPDATE ON public.model_versions "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM "
        "NEW.status AND NEW.status IN ('approved', 'rejected')) "
        "EXECUTE FUNCTION lablift_private.t_decided();")
    add("CREATE CONSTRAINT TRIGGER lablift_98_decided AFTER INSERT ON public.approvals "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lablift_private.t_decided();")
    add("SELECT lablift_private.build_witness();")
    return "\n".join(out)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # the embedded store's governance is the Python layer's (DESIGN)
    # The driver's own connection, in the migration's transaction: PL/pgSQL is full of
    # ':' and '%' that SQLAlchemy's text() and the driver's placeholders would rewrite.
    raw = bind.connection.driver_connection
    for script in (ROLES_SQL, HELPERS_SQL, AUDIT_SQL, TRIGGER_FUNCTIONS_SQL, _triggers_sql(),
                   GRANTS_SQL):
        raw.execute(script)
