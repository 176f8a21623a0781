"""A team store's governance is the server's (migration 0004): every forbidden write, tried
directly with psycopg as the role that would try it, is refused by PostgreSQL itself, and
the allowed paths work. The audit chain the server builds is checked with Lablift's own
Python (audit.entry_hash, witness.row_digest), so `audit verify` code serves both engines."""

from __future__ import annotations

import json
import random
import re
import struct
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg
import pytest
from psycopg import errors, sql

import pg
from lablift.core import audit, witness
from lablift.core.errors import LabliftError
from lablift.core.store import migrate, team

ROLE_OF = {"analyst": "analyst", "analyst2": "analyst", "reviewer": "reviewer",
           "reviewer2": "reviewer", "ops": "ops", "admin": "admin"}
GROUPS = ("lablift_analyst", "lablift_reviewer", "lablift_ops", "lablift_admin")
NOW = "2026-01-01T00:00:00.000+00:00"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


@dataclass
class Team:
    url: str  # the superuser who ran init: owner of the tables, first admin
    names: dict[str, str] = field(default_factory=dict)  # alias -> login role
    urls: dict[str, str] = field(default_factory=dict)
    conns: list = field(default_factory=list)

    def connect(self, who: str) -> psycopg.Connection:
        conn = psycopg.connect(self.urls[who] if who != "owner" else self.url, autocommit=True,
                               connect_timeout=10)
        self.conns.append(conn)
        return conn

    def add_user(self, who: str, role: str | None, name: str | None = None) -> str:
        name = name or pg.unique_name(who)
        self.urls[who] = pg.pg_role(self.url, name)
        self.names[who] = name
        if role:
            with psycopg.connect(self.url, autocommit=True) as c:
                c.execute("SELECT lablift_set_role(%s, %s)", (name, role))
        return name


@pytest.fixture
def t(pg_database):
    store = Team(pg_database)
    team.init(pg_database)
    for who, role in ROLE_OF.items():
        store.add_user(who, role)
    store.add_user("outsider", None)
    yield store
    for conn in store.conns:
        conn.close()


# -- helpers: what a client (Lablift or psql) sends -----------------------------------------------
def note(conn, action="test", entity="test", details=None) -> int:
    return conn.execute("SELECT lablift_audit(%s, %s, %s)",
                        (action, entity, audit._details_json(details or {}))).fetchone()[0]


def train(conn, name=None) -> int:
    """A dataset and a finished run, witnessed (as the connection's user)."""
    with conn.transaction():
        ds = conn.execute(
            "INSERT INTO datasets (name, version, sha256, artifact, rows, columns, schema, "
            "profile, created_at, created_by) VALUES (%s, 1, %s, 'a', 10, 2, '{}', '{}', %s, "
            "'somebody_else') RETURNING id",
            (name or pg.unique_name("ds"), pg.unique_name("sha"), NOW)).fetchone()[0]
        run = conn.execute(
            "INSERT INTO runs (dataset_id, status, spec, params, created_by, created_at, "
            "duration_s) VALUES (%s, 'finished', '{}', '{}', 'somebody_else', %s, 0.1) "
            "RETURNING id", (ds, NOW)).fetchone()[0]
        note(conn, "run.finish", f"run:{run}")
    return run


def register(conn, run_id, model=None, checks=(("gate", True),)) -> int:
    """A pending version of `model` from `run_id`, with its checks, witnessed."""
    model = model or pg.unique_name("m")
    with conn.transaction():
        conn.execute("INSERT INTO models (name, created_at, created_by) VALUES (%s, %s, 'x') "
                     "ON CONFLICT DO NOTHING", (model, NOW))
        version = conn.execute("SELECT coalesce(max(version), 0) + 1 FROM model_versions "
                               "WHERE model = %s", (model,)).fetchone()[0]
        vid = conn.execute(
            "INSERT INTO model_versions (model, version, run_id, status, created_at, "
            "created_by) VALUES (%s, %s, %s, 'pending', %s, 'x') RETURNING id",
            (model, version, run_id, NOW)).fetchone()[0]
        for name, passed in checks:
            conn.execute("INSERT INTO checks (version_id, kind, name, passed, details, "
                         "created_at) VALUES (%s, 'gate', %s, %s, '{}', %s)",
                         (vid, name, int(passed), NOW))
        note(conn, "version.register", f"model_version:{model}:{version}")
    return vid


def pending(t, trainer="analyst", registrant="analyst", **kw) -> int:
    return register(t.connect(registrant), train(t.connect(trainer)), **kw)


def decide(conn, vid, decision="approved", comment="looks right", override=None,
           row_first=False) -> None:
    def status():
        n = conn.execute("UPDATE model_versions SET status = %s WHERE id = %s AND status = "
                         "'pending'", (decision, vid)).rowcount
        assert n == 1

    def row():
        conn.execute("INSERT INTO approvals (version_id, decision, \"user\", comment, "
                     "override_reason, at) VALUES (%s, %s, 'somebody_else', %s, %s, %s)",
                     (vid, decision, comment, override, NOW))

    with conn.transaction():
        for step in ((row, status) if row_first else (status, row)):
            step()
        note(conn, {"approved": "version.approve", "rejected": "version.reject"}[decision],
             f"version:{vid}")


def approved(t, **kw) -> int:
    vid = pending(t, **kw)
    decide(t.connect("reviewer"), vid)
    return vid


def model_of(conn, vid) -> str:
    return conn.execute("SELECT model FROM model_versions WHERE id = %s", (vid,)).fetchone()[0]


def set_alias(conn, vid, alias) -> None:
    with conn.transaction():
        conn.execute("INSERT INTO aliases (model, alias, version_id, set_by, set_at) VALUES "
                     "(%s, %s, %s, 'x', %s) ON CONFLICT (model, alias) DO UPDATE SET "
                     "version_id = excluded.version_id, set_by = excluded.set_by",
                     (model_of(conn, vid), alias, vid, NOW))
        note(conn, "alias.set", f"version:{vid}")


def refused(conn, statement, params=None, match=None, error=psycopg.Error, witness_it=True):
    """Run `statement` in a transaction (then lablift_audit, then COMMIT): the server must
    refuse it, with a message matching `match`. Returns the error."""
    with pytest.raises(error, match=match) as exc:
        with conn.transaction():
            conn.execute(statement, params)
            if witness_it:
                note(conn)
    return exc.value


def rows(conn, table):
    cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def check_chain(conn) -> list[dict]:
    """Recompute every entry's hash with audit.entry_hash, then replay the witnesses to what
    every governed row must hold and compare with the tables (what `audit verify` does).
    Returns the entries; asserts on the first discrepancy."""
    entries = rows(conn, "audit_log")
    entries.sort(key=lambda e: e["seq"])
    prev = audit.GENESIS
    expected: dict[str, str | None] = {}
    for i, e in enumerate(entries, start=1):
        assert e["seq"] == i, f"gap or duplicate at {i}"
        assert e["prev_hash"] == prev
        assert audit.entry_hash(prev, e["seq"], e["ts"], e["user"], e["action"], e["entity"],
                                e["details"]) == e["hash"], f"entry {i} hash"
        assert TS_RE.match(e["ts"]), e["ts"]
        expected.update(json.loads(e["details"]).get("witness", {}))
        prev = e["hash"]
    head = conn.execute("SELECT value FROM settings WHERE key = 'audit_head'").fetchone()[0]
    assert head == json.dumps({"seq": len(entries), "hash": prev})
    current = {}
    for table, pk in witness.GOVERNED.items():
        if table in witness.SERVER_DIGESTS and not conn.execute(
                "SELECT has_table_privilege(%s, 'SELECT')", (table,)).fetchone()[0]:
            # admins only (secrets): what a non-admin's `audit verify` reads instead
            current.update(conn.execute("SELECT k, d FROM lablift_witness_digests(%s)",
                                        (table,)).fetchall())
            continue
        for r in rows(conn, table):
            if table == "settings" and r["key"] == "audit_head":
                continue
            current[witness.row_key(table, [r[c] for c in pk])] = witness.row_digest(table, r)
    for key, digest in current.items():
        assert expected.get(key) == digest, f"{key} differs from the chain"
    for key, digest in expected.items():
        assert digest is None or key in current, f"{key} vanished"
    return entries


# -- init and info --------------------------------------------------------------------------------
def test_init_prepares_an_empty_database_and_records_its_admin(pg_database):
    info = team.init(pg_database)
    assert info["engine"] == "postgresql" and info["schema_version"] == migrate.HEAD == 8
    assert info["user"] == "postgres" and info["role"] == "admin"
    assert info["database"] == pg.dbname_of(pg_database)
    assert info["server_version"].split(".")[0].isdigit()
    with psycopg.connect(pg_database) as conn:
        (admin,) = rows(conn, "users")
        assert (admin["name"], admin["role"], admin["created_by"]) == ("postgres", "admin",
                                                                       "postgres")
        assert TS_RE.match(admin["created_at"])
        assert conn.execute("SELECT pg_has_role('postgres', 'lablift_admin', 'MEMBER')"
                            ).fetchone()[0]
        entries = check_chain(conn)
        assert [(e["seq"], e["action"], e["user"]) for e in entries] == [
            (1, "store.create", "postgres")]
        assert json.loads(entries[0]["details"])["admin"] == "postgres"
        assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")
                ] == list(range(1, migrate.HEAD + 1))


def test_group_roles_are_nologin_and_admin_holds_the_other_three(t):
    conn = t.connect("owner")
    got = dict(conn.execute("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE "
                            "'lablift\\_%'").fetchall())
    assert got == {g: False for g in GROUPS}
    for g in ("lablift_analyst", "lablift_reviewer", "lablift_ops"):
        assert conn.execute("SELECT pg_has_role('lablift_admin', %s, 'MEMBER')", (g,)
                            ).fetchone()[0]
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(pg.with_user(t.url, "lablift_admin"), connect_timeout=10)


def test_init_refuses_a_database_that_has_tables(pg_database):
    with psycopg.connect(pg_database) as conn:
        conn.execute("CREATE TABLE precious (x int)")
    name = pg.dbname_of(pg_database)
    with pytest.raises(LabliftError, match=rf"database '{name}'.*not empty.*public\.precious"):
        team.init(pg_database)
    with psycopg.connect(pg_database) as conn:  # nothing of Lablift's was left behind
        assert conn.execute("SELECT to_regclass('public.audit_log'), "
                            "to_regnamespace('lablift_private')").fetchone() == (None, None)


def test_init_refuses_a_store_that_is_already_initialised(t):
    with pytest.raises(LabliftError, match="not empty"):
        team.init(t.url)


def test_a_password_never_appears_in_messages_or_results(t):
    rules = t.connect("owner").execute("SELECT auth_method FROM pg_hba_file_rules WHERE "
                                       "type = 'host' AND '127.0.0.1' = address").fetchall()
    if ("scram-sha-256",) not in rules:
        pytest.skip(f"this server does not ask for passwords on 127.0.0.1 ({rules})")
    secret = "Sup3r:s@cret/pass"
    name = pg.unique_name("pw")
    url = pg.tcp_url(pg.pg_role(t.url, name, password=secret), name, secret)
    assert "s%40cret" in url or secret in url
    with psycopg.connect(t.url, autocommit=True) as c:
        c.execute("SELECT lablift_set_role(%s, 'analyst')", (name,))
    got = team.info(url)
    assert got["user"] == name and got["role"] == "analyst" and got["schema_version"] == migrate.HEAD
    assert "s@cret" not in repr(got) and "s%40cret" not in repr(got)
    masked = team.mask_url(url)
    assert "***" in masked and "s%40cret" not in masked and name in masked
    for bad, match in ((pg.tcp_url(url, name, secret + "x"), "password authentication failed"),
                       (pg.with_database(url, "no_such_db"), "no_such_db"),
                       (url, "CREATEROLE")):  # init as a role that may not make roles
        with pytest.raises(LabliftError, match=match) as exc:
            (team.init if bad == url else team.info)(bad)
        text = str(exc.value)
        assert "s@cret" not in text and "s%40cret" not in text and "3r:s" not in text, text
        assert "***" in text
    assert team.mask_url("postgresql://u@h/db?password=abc&sslmode=require") == \
        "postgresql://u@h/db?password=***&sslmode=require"


# -- rule 1: roles, users, grants ----------------------------------------------------------------
def test_only_an_admin_sets_roles(t):
    for who in ("analyst", "reviewer", "ops"):
        refused(t.connect(who), "SELECT lablift_set_role('someone', 'admin')",
                match="permission denied for function lablift_set_role", witness_it=False)
    # even with EXECUTE granted by mistake, the function itself asks for lablift_admin
    t.connect("owner").execute(sql.SQL("GRANT EXECUTE ON FUNCTION lablift_set_role(text, text) "
                                       "TO {}").format(sql.Identifier(t.names["analyst"])))
    refused(t.connect("analyst"), "SELECT lablift_set_role(%s, 'admin')", (t.names["analyst"],),
            match=f"only lablift_admin members change users: {t.names['analyst']} is not one",
            witness_it=False)
    assert t.connect("owner").execute("SELECT role FROM users WHERE name = %s",
                                      (t.names["analyst"],)).fetchone() == ("analyst",)


def test_an_admin_sets_a_role_creating_the_login_and_mirroring_users(t):
    admin, name = t.connect("admin"), pg.unique_name("newcomer")
    owner = t.connect("owner")
    try:
        assert admin.execute("SELECT lablift_set_role(%s, 'reviewer')", (name,)
                             ).fetchone() == ("reviewer",)
        assert owner.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (name,)
                             ).fetchone() == (True,)
        assert admin.execute("SELECT role, created_by FROM users WHERE name = %s", (name,)
                             ).fetchone() == ("reviewer", t.names["admin"])
        admin.execute("SELECT lablift_set_role(%s, 'ops')", (name,))
        member = {g: owner.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (name, g)
                                   ).fetchone()[0] for g in GROUPS}
        assert member == {"lablift_analyst": False, "lablift_reviewer": False,
                          "lablift_ops": True, "lablift_admin": False}
        entries = check_chain(admin)
        last = entries[-1]
        assert (last["action"], last["entity"], last["user"]) == (
            "user.role", f"user:{name}", t.names["admin"])
        details = json.loads(last["details"])
        assert details["role"] == "ops" and details["previous"] == "reviewer"
        assert list(details["witness"]) == [f"users:{name}"]
    finally:
        owner.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_set_role_refuses_a_name_that_differs_only_in_case(t):
    twin = t.names["reviewer"].upper()
    refused(t.connect("admin"), "SELECT lablift_set_role(%s, 'reviewer')", (twin,),
            match=f"would be the same person as {t.names['reviewer']}", witness_it=False)


def test_set_role_refuses_a_role_nobody_logs_in_as(t):
    group = pg.unique_name("team")
    pg.pg_role(t.url, group, login=False)
    refused(t.connect("admin"), "SELECT lablift_set_role(%s, 'reviewer')", (group,),
            match="a Lablift user is a login role", witness_it=False)
    refused(t.connect("admin"), "SELECT lablift_set_role('lablift_ops', 'admin')",
            match="is a group or system role", witness_it=False)


def test_users_change_only_through_lablift_set_role(t):
    statement = ("INSERT INTO users (name, role, created_at, created_by) VALUES "
                 "('mallory', 'admin', 'now', 'mallory')")
    refused(t.connect("admin"), statement, match="permission denied for table users")
    t.connect("owner").execute(sql.SQL("GRANT INSERT, UPDATE ON users TO {}").format(
        sql.Identifier(t.names["admin"])))
    refused(t.connect("admin"), statement, match="users change only through lablift_set_role")
    refused(t.connect("admin"), "UPDATE users SET role = 'admin' WHERE name = %s",
            (t.names["analyst"],), match="users change only through lablift_set_role")


FORBIDDEN = [  # (who, statement, table named in the refusal)
    ("analyst", "INSERT INTO approvals (version_id, decision, \"user\", at) VALUES "
                "(1, 'approved', 'x', 'now')", "approvals"),
    ("analyst", "UPDATE model_versions SET status = 'approved' WHERE id = 1", "model_versions"),
    ("analyst", "INSERT INTO aliases (model, alias, version_id, set_by, set_at) VALUES "
                "('m', 'production', 1, 'x', 'now')", "aliases"),
    ("analyst", "INSERT INTO bundles (version_id, path, manifest_sha256, created_by, "
                "created_at) VALUES (1, '/b', 'h', 'x', 'now')", "bundles"),
    ("analyst", "INSERT INTO settings (key, value) VALUES ('policy', '1')", "settings"),
    ("ops", "INSERT INTO model_versions (model, version, run_id, status, created_at, "
            "created_by) VALUES ('m', 1, 1, 'pending', 'now', 'x')", "model_versions"),
    ("ops", "INSERT INTO runs (dataset_id, status, spec, params, created_by, created_at) "
            "VALUES (1, 'finished', '{}', '{}', 'x', 'now')", "runs"),
    ("ops", "INSERT INTO approvals (version_id, decision, \"user\", at) VALUES "
            "(1, 'approved', 'x', 'now')", "approvals"),
    ("reviewer", "INSERT INTO datasets (name, version, sha256, artifact, rows, columns, "
                 "schema, profile, created_at, created_by) VALUES ('d', 1, 's', 'a', 1, 1, "
                 "'{}', '{}', 'now', 'x')", "datasets"),
    ("reviewer", "UPDATE model_versions SET card = '{}' WHERE id = 1", "model_versions"),
    ("reviewer", "DELETE FROM aliases", "aliases"),
    ("ops", "DELETE FROM runs", "runs"),
    ("admin", "UPDATE datasets SET sha256 = 'forged'", "datasets"),
    ("outsider", "SELECT * FROM runs", "runs"),
]


@pytest.mark.parametrize("who, statement, table", FORBIDDEN,
                         ids=[f"{w}-{s.split()[0].lower()}-{tb}" for w, s, tb in FORBIDDEN])
def test_a_role_cannot_write_outside_its_part(t, who, statement, table):
    refused(t.connect(who), statement, match=f"permission denied for table {table}",
            error=errors.InsufficientPrivilege)


def test_every_lablift_role_reads_every_table(t):
    tables = [r[0] for r in t.connect("owner").execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert set(witness.GOVERNED) | {"audit_log", "alembic_version"} <= set(tables)
    admins_only = {"webhooks"}  # its secrets (0006; tests/test_webhooks.py)
    for who in ROLE_OF:
        conn = t.connect(who)
        for table in tables:
            if table in admins_only and who != "admin":
                continue
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))


# -- rule 2: identity ----------------------------------------------------------------------------
def test_created_by_set_by_and_user_are_the_session_user(t):
    vid = approved(t)  # every insert above claimed 'somebody_else' or 'x'
    ops = t.connect("ops")
    set_alias(ops, vid, "staging")
    with ops.transaction():
        batch = ops.execute("INSERT INTO batches (version_id, created_at, created_by) VALUES "
                            "(%s, %s, 'x') RETURNING id", (vid, NOW)).fetchone()[0]
        alert = ops.execute("INSERT INTO alerts (version_id, batch_id, kind, message, "
                            "created_at, acknowledged_by) VALUES (%s, %s, 'drift', 'm', %s, "
                            "'x') RETURNING id", (vid, batch, NOW)).fetchone()[0]
        note(ops)
    with t.connect("reviewer").transaction() as tx:
        tx.connection.execute("UPDATE alerts SET acknowledged_by = 'ops_person', "
                              "acknowledged_at = %s WHERE id = %s", (NOW, alert))
        note(tx.connection)
    owner = t.connect("owner")
    one = lambda q, *p: owner.execute(q, p).fetchone()[0]  # noqa: E731
    analyst = t.names["analyst"]
    assert one("SELECT created_by FROM runs") == analyst
    assert one("SELECT created_by FROM datasets") == analyst
    assert one("SELECT created_by FROM model_versions WHERE id = %s", vid) == analyst
    assert one("SELECT created_by FROM models") == analyst
    assert one('SELECT "user" FROM approvals') == t.names["reviewer"]
    assert one("SELECT set_by FROM aliases") == t.names["ops"]
    assert one("SELECT created_by FROM batches") == t.names["ops"]
    assert one("SELECT acknowledged_by FROM alerts") == t.names["reviewer"]
    assert {e["user"] for e in check_chain(owner)} == {
        "postgres", analyst, t.names["reviewer"], t.names["ops"]}


def test_created_by_never_changes(t):
    run = train(t.connect("analyst"))
    refused(t.connect("analyst"), "UPDATE runs SET created_by = %s WHERE id = %s",
            (t.names["reviewer"], run), match="runs.created_by is set by the server")
    vid = register(t.connect("analyst"), run)
    # not even the owner may re-attribute a version (four-eyes relies on it)
    refused(t.connect("owner"), "UPDATE model_versions SET created_by = 'someone' WHERE id = %s",
            (vid,), match="model_versions.created_by is set by the server")


# -- rule 3: four-eyes ---------------------------------------------------------------------------
def test_the_registrant_cannot_approve(t):
    vid = pending(t, trainer="analyst", registrant="admin")
    err = refused(t.connect("admin"), "UPDATE model_versions SET status = 'approved' WHERE id = %s",
                  (vid,), error=errors.InsufficientPrivilege)
    assert f"four-eyes rule: {t.names['admin']} registered it and cannot approve" in str(err)
    refused(t.connect("admin"), "INSERT INTO approvals (version_id, decision, \"user\", at) "
            "VALUES (%s, 'approved', 'x', 'now')", (vid,), match="registered it and cannot")


def test_the_trainer_cannot_approve_or_reject(t):
    vid = pending(t, trainer="admin", registrant="analyst")
    refused(t.connect("admin"), "UPDATE model_versions SET status = 'rejected' WHERE id = %s",
            (vid,), match=r"four-eyes rule: \S+ trained run \d+ and cannot reject")


def test_four_eyes_compares_names_without_case(t):
    vid = pending(t)
    twin = t.names["analyst"].upper()  # another login role, granted reviewer by hand
    owner = t.connect("owner")
    t.urls["twin"] = pg.pg_role(t.url, twin)
    owner.execute(sql.SQL("GRANT lablift_reviewer TO {}").format(sql.Identifier(twin)))
    refused(t.connect("twin"), "UPDATE model_versions SET status = 'approved' WHERE id = %s",
            (vid,), match=f"four-eyes rule: {twin} trained run .* and registered it")


def test_a_non_reviewer_cannot_decide_even_with_the_privilege(t):
    vid = pending(t)
    # ops may change status (to archive), never to approved
    refused(t.connect("ops"), "UPDATE model_versions SET status = 'approved' WHERE id = %s",
            (vid,), match="needs the role reviewer or admin", error=errors.InsufficientPrivilege)
    owner = t.connect("owner")
    owner.execute(sql.SQL("GRANT INSERT ON approvals TO {}").format(sql.Identifier(t.names["ops"])))
    owner.execute(sql.SQL("GRANT USAGE ON SEQUENCE approvals_id_seq TO {}").format(
        sql.Identifier(t.names["ops"])))
    refused(t.connect("ops"), "INSERT INTO approvals (version_id, decision, \"user\", at) "
            "VALUES (%s, 'approved', 'x', 'now')", (vid,),
            match=f"{t.names['ops']} is not a member of lablift_reviewer or lablift_admin")


def test_status_approved_without_an_approvals_row_is_refused_at_commit(t):
    vid = pending(t)
    refused(t.connect("reviewer"), "UPDATE model_versions SET status = 'approved' WHERE id = %s",
            (vid,), match="became approved without an approvals row by")
    assert t.connect("owner").execute("SELECT status FROM model_versions WHERE id = %s",
                                      (vid,)).fetchone() == ("pending",)


def test_an_approvals_row_without_the_status_change_is_refused_at_commit(t):
    vid = pending(t)
    refused(t.connect("reviewer"), "INSERT INTO approvals (version_id, decision, \"user\", "
            "comment, at) VALUES (%s, 'approved', 'x', '', 'now')", (vid,),
            match="needs its status to change from pending to approved in the same transaction")


def test_only_a_pending_version_is_decided(t):
    vid = pending(t)
    decide(t.connect("reviewer"), vid, "rejected", comment="leaks the label")
    for statement in ("UPDATE model_versions SET status = 'approved' WHERE id = %s",
                      "INSERT INTO approvals (version_id, decision, \"user\", at) "
                      "VALUES (%s, 'approved', 'x', 'now')"):
        refused(t.connect("reviewer2"), statement, (vid,),
                match="is rejected: only a pending version can be approved")
    refused(t.connect("reviewer2"), "UPDATE model_versions SET status = 'pending' WHERE id = %s",
            (vid,), match="status rejected -> pending is not a transition")


def test_rejecting_needs_a_comment(t):
    vid = pending(t)
    with pytest.raises(errors.CheckViolation, match="rejecting version .* needs a comment"):
        decide(t.connect("reviewer"), vid, "rejected", comment="  ")


def test_a_version_is_registered_pending(t):
    run = train(t.connect("analyst"))
    refused(t.connect("analyst"), "INSERT INTO model_versions (model, version, run_id, status, "
            "created_at, created_by) VALUES ('m', 1, %s, 'approved', 'now', 'x')", (run,),
            match="registered pending")


def test_a_failing_check_needs_an_override_reason(t):
    vid = pending(t, checks=(("auc >= 0.8", False),))
    with pytest.raises(errors.CheckViolation, match="failed a check: approving it needs an "
                                                    "override reason"):
        decide(t.connect("reviewer"), vid)
    decide(t.connect("reviewer"), vid, override="business accepts the lower AUC")
    assert t.connect("owner").execute("SELECT status FROM model_versions WHERE id = %s",
                                      (vid,)).fetchone() == ("approved",)


def test_a_reviewer_approves_in_either_order_and_the_chain_verifies(t):
    first, second = pending(t), pending(t, trainer="analyst2", registrant="analyst2")
    decide(t.connect("reviewer"), first)
    decide(t.connect("admin"), second, row_first=True)  # admin may review what it did not do
    owner = t.connect("owner")
    assert owner.execute("SELECT id, status FROM model_versions ORDER BY id").fetchall() == [
        (first, "approved"), (second, "approved")]
    assert owner.execute('SELECT version_id, "user" FROM approvals ORDER BY id').fetchall() == [
        (first, t.names["reviewer"]), (second, t.names["admin"])]
    check_chain(owner)


# -- rule 4: aliases -----------------------------------------------------------------------------
@pytest.mark.parametrize("alias", ["production", "champion", "Production", "CHAMPION"])
def test_production_and_champion_only_point_at_an_approved_version(t, alias):
    vid = pending(t)
    refused(t.connect("ops"), "INSERT INTO aliases (model, alias, version_id, set_by, set_at) "
            "VALUES (%s, %s, %s, 'x', 'now')", (model_of(t.connect("ops"), vid), alias, vid),
            match=f"alias '{alias.lower()}' may only point at an approved version; .* is pending")


def test_moving_production_onto_an_unapproved_version_is_refused(t):
    good = approved(t)
    model = model_of(t.connect("ops"), good)
    set_alias(t.connect("ops"), good, "production")
    newer = register(t.connect("analyst"), train(t.connect("analyst")), model=model)
    set_alias(t.connect("ops"), newer, "staging")  # any other alias may point at pending
    refused(t.connect("ops"), "UPDATE aliases SET version_id = %s WHERE alias = 'production'",
            (newer,), match="may only point at an approved version")
    check_chain(t.connect("owner"))


def test_an_approved_production_version_cannot_stop_being_approved(t):
    vid = approved(t)
    set_alias(t.connect("ops"), vid, "production")
    refused(t.connect("ops"), "UPDATE model_versions SET status = 'archived', archived = 1 "
            "WHERE id = %s", (vid,), match="production and champion only point at an approved")


def test_an_alias_points_only_at_its_own_models_version(t):
    a, b = approved(t), approved(t)
    refused(t.connect("ops"), "INSERT INTO aliases (model, alias, version_id, set_by, set_at) "
            "VALUES (%s, 'staging', %s, 'x', 'now')", (model_of(t.connect("ops"), a), b),
            match="of another model")


# -- rule 5: bundles -----------------------------------------------------------------------------
BUNDLE = ("INSERT INTO bundles (version_id, path, manifest_sha256, created_by, created_at, "
          "status) VALUES (%s, '/exports/b', 'abc', 'x', 'now', 'exporting')")


def test_a_bundle_is_recorded_only_for_an_approved_version(t):
    vid = pending(t)
    refused(t.connect("ops"), BUNDLE, (vid,), match="only for an approved version; .* is pending",
            error=errors.CheckViolation)


def test_a_bundle_is_recorded_only_by_ops_even_with_the_privilege(t):
    vid = approved(t)
    refused(t.connect("analyst"), BUNDLE, (vid,), match="permission denied for table bundles")
    owner = t.connect("owner")
    owner.execute(sql.SQL("GRANT INSERT ON bundles TO {}").format(
        sql.Identifier(t.names["analyst"])))
    owner.execute(sql.SQL("GRANT USAGE ON SEQUENCE bundles_id_seq TO {}").format(
        sql.Identifier(t.names["analyst"])))
    refused(t.connect("analyst"), BUNDLE, (vid,), match="needs lablift_ops or lablift_admin")
    with t.connect("ops").transaction() as tx:
        tx.connection.execute(BUNDLE, (vid,))
        note(tx.connection, "bundle.export", f"version:{vid}")
    assert owner.execute("SELECT created_by FROM bundles").fetchone() == (t.names["ops"],)


# -- rule 6: append-only -------------------------------------------------------------------------
APPEND_ONLY = [(table, statement) for table in ("audit_log", "approvals", "checks")
               for statement in (f"UPDATE {table} SET id = id" if table != "audit_log"
                                 else "UPDATE audit_log SET action = 'forged'",
                                 f"DELETE FROM {table}", f"TRUNCATE {table} CASCADE")]


@pytest.mark.parametrize("table, statement", APPEND_ONLY,
                         ids=[s.split()[0].lower() + "-" + tb for tb, s in APPEND_ONLY])
def test_append_only_tables_refuse_change_even_when_granted(t, table, statement):
    decide(t.connect("reviewer"), pending(t))  # an approval and a check to protect
    refused(t.connect("admin"), statement, match=f"permission denied for table {table}")
    t.connect("owner").execute(sql.SQL("GRANT UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA "
                                       "public TO {}").format(sql.Identifier(t.names["admin"])))
    word = "TRUNCATE" if statement.startswith("TRUNCATE") else "append-only"
    refused(t.connect("admin"), statement, match=word, error=errors.InsufficientPrivilege)
    refused(t.connect("owner"), statement, match=word)  # not even the owner, triggers enabled
    assert t.connect("owner").execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(table))).fetchone()[0] > 0


# -- rule 7: the audit chain ---------------------------------------------------------------------
def test_nobody_inserts_audit_entries_directly(t):
    statement = ("INSERT INTO audit_log (seq, ts, \"user\", action, entity, details, prev_hash, "
                 "hash) VALUES (99, 'now', 'x', 'forged', 'x', '{}', 'x', 'x')")
    for who in ROLE_OF:
        refused(t.connect(who), statement, match="permission denied for table audit_log",
                witness_it=False)
    t.connect("owner").execute(sql.SQL("GRANT INSERT ON audit_log TO {}").format(
        sql.Identifier(t.names["admin"])))
    refused(t.connect("admin"), statement,
            match=r"appended only through lablift_audit\(action, entity, details\)")
    refused(t.connect("admin"), "UPDATE settings SET value = '{}' WHERE key = 'audit_head'",
            match="'audit_head' is written only by lablift_audit")
    refused(t.connect("outsider"), "SELECT lablift_audit('x', 'y', '{}')",
            match="permission denied for function lablift_audit", witness_it=False)


TRICKY = ['quote " and backslash \\ and \\" and \\\\', "new\nline\r\n\ttab\b\f",
          "ctrl \x01\x02\x1b\x1f del \x7f", "non-ASCII é ß ñ 中文 Ω", "emoji 🤖🔥 \U0001f600",
          "line sep \u2028 para \u2029 bom \ufeff", "<script>&amp;</script>", "", " "]


def test_the_server_hashes_entries_exactly_as_audit_entry_hash(t):
    conn = t.connect("analyst")
    details = {s or "empty": s for s in TRICKY}
    details.update({"nested": {"z": [1, 2.5, None, True, False, {"b": 1, "a": "é"}], "a": []},
                    "int": 12345678901234567890, "neg": -7, "float": 0.1, "big": 1e16,
                    "small": 1e-05, "exact": 1.0, "negzero": -0.0, "tiny": 5e-324})
    for s in TRICKY:
        with conn.transaction():
            note(conn, f"act {s}", f"entity:{s}", details)
    entries = [e for e in check_chain(conn) if e["action"].startswith("act ")]
    assert len(entries) == len(TRICKY)
    for s, e in zip(TRICKY, entries):
        assert (e["action"], e["entity"], e["user"]) == (f"act {s}", f"entity:{s}",
                                                        t.names["analyst"])
        assert e["details"] == audit._details_json(details)  # stored as Python writes it
        ts = datetime.fromisoformat(e["ts"])
        assert ts.tzinfo == timezone.utc
        assert abs((datetime.now(timezone.utc) - ts).total_seconds()) < 60


def test_details_are_serialised_canonically_as_python_does(t):
    owner = t.connect("owner")
    rnd = random.Random(10)
    floats = [struct.unpack(">d", rnd.getrandbits(64).to_bytes(8, "big"))[0]
              for _ in range(3000)]
    floats = [f for f in floats if f == f and abs(f) != float("inf")]
    floats += [0.0, -0.0, 1.0, 0.5, 1e15, 1e16, 1e17, 123456789012345678.0, 1e-4, 1e-5,
               0.0001234, 1.7976931348623157e308, 2.2250738585072014e-308, 5e-324, 1e22,
               9007199254740993.0, 0.30000000000000004, 100.0, 1e-7, 12345.678e-300]
    floats += [rnd.uniform(-1e6, 1e6) for _ in range(500)] + [float(i) for i in range(-50, 50)]
    text = json.dumps(floats)
    got = owner.execute("SELECT lablift_private.py_json(%s::json)", (text,)).fetchone()[0]
    assert got == audit._details_json(floats)
    for raw in ('{"b":1,"a":[1.0,2,1E2,-0,1e+16,0.0000001], "c": {"y":true,"x":null}}',
                '{"k": "\\u00e9\\u0041\\ud83d\\ude00\\n\\/"}', '{"dup": 1, "dup": 2}',
                '{"z": [], "a": {}, "m": [[], [{}]]}', ' { "sp" : 1 } '):
        stored = _append(t.connect("analyst"), raw)
        assert stored == audit._details_json(json.loads(raw)), raw
    check_chain(owner)


def _append(conn, details_text: str) -> str:
    with conn.transaction():
        seq = conn.execute("SELECT lablift_audit('a', 'e', %s)", (details_text,)).fetchone()[0]
    return conn.execute("SELECT details FROM audit_log WHERE seq = %s", (seq,)).fetchone()[0]


@pytest.mark.parametrize("details, match", [
    ('[1, 2]', "details must be a JSON object, not array"),
    ('{"x": NaN}', "details is not JSON the server can read"),
    ('{not json', "details is not JSON the server can read"),
    ('{"witness": {"runs:1": "forged"}}', 'details may not carry "witness"'),
])
def test_lablift_audit_refuses_bad_details(t, details, match):
    refused(t.connect("analyst"), "SELECT lablift_audit('a', 'e', %s)", (details,), match=match,
            witness_it=False)


def test_concurrent_appends_form_one_chain_without_gaps(t):
    per_thread, threads = 50, 4
    errors_seen: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with psycopg.connect(t.urls["analyst" if n % 2 else "analyst2"],
                                 autocommit=True) as conn:
                for i in range(per_thread):
                    with conn.transaction():
                        conn.execute(
                            "INSERT INTO datasets (name, version, sha256, artifact, rows, "
                            "columns, schema, profile, created_at, created_by) VALUES "
                            "(%s, 1, %s, 'a', 1, 1, '{}', '{}', 'now', 'x')",
                            (f"d{n}_{i}", f"s{n}_{i}"))
                        note(conn, "dataset.import", f"dataset:d{n}_{i}", {"i": i, "n": n})
        except BaseException as exc:  # reported below
            errors_seen.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not errors_seen, errors_seen
    entries = check_chain(t.connect("owner"))  # seq 1..N, no gaps, every hash recomputed
    assert [e["ts"] for e in entries] == sorted(e["ts"] for e in entries)
    imports = [e for e in entries if e["action"] == "dataset.import"]
    assert len(imports) == per_thread * threads
    ids = dict(t.connect("owner").execute("SELECT name, id FROM datasets").fetchall())
    for e in imports:  # each entry witnesses exactly its own transaction's dataset
        name = e["entity"].split(":", 1)[1]
        assert list(json.loads(e["details"])["witness"]) == [f"datasets:{ids[name]}"]


# -- rule 8: witnesses ---------------------------------------------------------------------------
def test_witness_digests_match_witness_row_digest(t):
    admin, ops = t.connect("admin"), t.connect("ops")
    with admin.transaction():
        ds = admin.execute(
            "INSERT INTO datasets (name, version, sha256, artifact, rows, columns, schema, "
            "profile, created_at, created_by, source_path) VALUES (%s, 1, 's', 'a', 3, 2, "
            "%s, '{}', %s, 'x', NULL) RETURNING id",
            ("données 🤖", json.dumps({"col\n": "é\x01"}), NOW)).fetchone()[0]
        run = admin.execute(
            "INSERT INTO runs (dataset_id, status, spec, params, created_by, created_at, "
            "duration_s, seed, metrics) VALUES (%s, 'finished', '{}', %s, 'x', %s, %s, -3, "
            "%s) RETURNING id",
            (ds, '{"C": 1.0}', NOW, 0.1 + 0.2, json.dumps({"auc": 0.8123456789}))
        ).fetchone()[0]
        admin.execute("INSERT INTO settings (key, value) VALUES ('registry.policy', '[1]')")
        note(admin, "many", "things")
    vid = register(t.connect("analyst"), run)
    decide(t.connect("reviewer"), vid)
    set_alias(ops, vid, "production")
    with ops.transaction():
        ops.execute("INSERT INTO batches (version_id, created_at, created_by, drift_share, "
                    "rows) VALUES (%s, %s, 'x', %s, 7)", (vid, NOW, 1e-300))
        ops.execute("DELETE FROM aliases WHERE version_id = %s", (vid,))
        note(ops, "alias.remove", "x")
    owner = t.connect("owner")
    entries = check_chain(owner)  # replays the witnesses against every row
    seen = {}
    for e in entries:
        seen.update(json.loads(e["details"]).get("witness", {}))
    model = model_of(owner, vid)
    assert seen[f"aliases:{model}/production"] is None  # deleted: witnessed as gone
    assert {f"datasets:{ds}", f"runs:{run}", f"model_versions:{vid}", "settings:registry.policy",
            f"models:{model}", "approvals:1", "batches:1"} <= set(seen)
    assert not any(k.startswith("settings:audit_head") for k in seen)
    runs_row = rows(owner, "runs")[0]
    assert isinstance(runs_row["duration_s"], float)
    assert seen[f"runs:{run}"] == witness.row_digest("runs", runs_row)


def test_witnesses_follow_a_column_a_later_migration_adds(t):
    run = train(t.connect("analyst"))
    owner = t.connect("owner")
    owner.execute("ALTER TABLE runs ADD COLUMN note text, ADD COLUMN score double precision")
    conn = t.connect("analyst")
    for rebuilt in (False, True):  # before the migration rebuilds the digest functions: the
        if rebuilt:                # generic path; after: the fast one. Same digests.
            owner.execute("SELECT lablift_private.build_witness()")
        with conn.transaction():
            conn.execute("UPDATE runs SET note = %s, score = %s WHERE id = %s",
                         (f"rebuilt={rebuilt} é", 2 / 3, run))
            seq = note(conn, "run.note", f"run:{run}")
        details = json.loads(conn.execute("SELECT details FROM audit_log WHERE seq = %s",
                                          (seq,)).fetchone()[0])
        row = rows(conn, "runs")[0]
        assert row["note"] == f"rebuilt={rebuilt} é"
        assert details["witness"] == {f"runs:{run}": witness.row_digest("runs", row)}
    check_chain(owner)


def test_an_unwitnessed_change_is_refused_at_commit(t):
    conn = t.connect("analyst")
    statement = ("INSERT INTO datasets (name, version, sha256, artifact, rows, columns, schema, "
                 "profile, created_at, created_by) VALUES ('sneaky', 1, 's', 'a', 1, 1, '{}', "
                 "'{}', 'now', 'x')")
    err = refused(conn, statement, witness_it=False,
                  match=r"every governed change is witnessed by the audit chain: datasets:\d+",
                  error=errors.IntegrityConstraintViolation)
    assert "lablift_audit" in str(err)
    with pytest.raises(errors.IntegrityConstraintViolation, match="witnessed"):
        conn.execute(statement)  # autocommit: one statement, one transaction
    with pytest.raises(errors.IntegrityConstraintViolation, match="witnessed"):
        with conn.transaction():  # checking early does not help either
            conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
            conn.execute(statement)
            note(conn)
    assert conn.execute("SELECT count(*) FROM datasets").fetchone() == (0,)


def test_a_change_after_the_audit_call_is_refused_at_commit(t):
    run = train(t.connect("analyst"))
    conn = t.connect("analyst")
    with pytest.raises(errors.IntegrityConstraintViolation, match=f"runs:{run}"):
        with conn.transaction():
            conn.execute("UPDATE runs SET error = 'a' WHERE id = %s", (run,))
            note(conn, "run.note", f"run:{run}")
            conn.execute("UPDATE runs SET metrics = '{\"auc\": 1.0}' WHERE id = %s", (run,))
    assert conn.execute("SELECT error, metrics FROM runs").fetchone() == (None, "{}")


def test_the_pending_notes_are_the_servers_own(t):
    for statement in ("SELECT * FROM lablift_private.witness_pending",
                      "DELETE FROM lablift_private.witness_pending",
                      "SELECT lablift_private.take_witness()"):
        refused(t.connect("admin"), statement, match="permission denied for schema "
                "lablift_private", witness_it=False)


def test_a_whole_lifecycle_by_the_right_people_commits_and_verifies(t):
    vid = approved(t)
    ops = t.connect("ops")
    set_alias(ops, vid, "production")
    with ops.transaction():
        ops.execute(BUNDLE, (vid,))
        note(ops, "bundle.export", f"version:{vid}")
    with ops.transaction():
        ops.execute("UPDATE bundles SET status = 'exported'")
        note(ops, "bundle.written", "bundle:1")
    with t.connect("admin").transaction() as tx:
        tx.connection.execute("UPDATE models SET gates = '[{\"metric\": \"auc\"}]'")
        note(tx.connection, "model.gates", "model:x")
    entries = check_chain(t.connect("owner"))
    assert [e["action"] for e in entries] == [
        "store.create", "user.role", "user.role", "user.role", "user.role", "user.role",
        "user.role", "run.finish", "version.register", "version.approve", "alias.set",
        "bundle.export", "bundle.written", "model.gates"]
