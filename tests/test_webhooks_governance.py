"""Webhook configuration is governed: its rows are witnessed by the audit chain (migration
0007), so a webhook added or changed outside Lablift is named by `audit verify`; a team
store's server refuses such a write outright. Older stores are upgraded with only the rows
their own audit entries describe witnessed."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pg
import psycopg
import pytest

from lablift.core import audit, webhooks
from lablift.core.store import Store, copy as store_copy, migrate, team

FIXTURE = Path(__file__).parent / "fixtures" / "store_schema6_webhooks"
EVIL = "https://exfil.example.net/collect"


def witnessed_keys(store) -> dict[str, str]:
    return {k: e["action"] for e in reversed(audit.entries(store, witnesses=True))
            for k in (e["details"].get("witness") or {})}


def test_a_webhook_added_and_removed_through_lablift_verifies(make_store, cli, store_engine):
    admin = make_store("admin")
    admin.add_user("alice", "analyst")
    hook = webhooks.add(admin, "https://hooks.example.com/a", "version.approve")
    assert witnessed_keys(admin)[f"webhooks:{hook['id']}"] == "webhook.add"
    assert audit.verify(admin).ok
    webhooks.remove(admin, hook["id"])
    assert witnessed_keys(admin)[f"webhooks:{hook['id']}"] == "webhook.remove"
    # a non-admin cannot read the secrets, yet verifies the webhook rows (team store: the
    # server's lablift_witness_digests)
    code, out, err = cli("alice", "audit", "verify")
    assert code == 0, err
    alice = make_store("alice")
    result = audit.verify(alice)
    assert result.ok and not result.problems


@pytest.mark.embedded_only("an edit of lineage.db by hand")
def test_a_webhook_written_into_lineage_db_by_hand_is_named(store, store_dir, cli):
    hook = webhooks.add(store, "https://hooks.example.com/a", "version.approve")
    store.close()
    db = sqlite3.connect(store_dir / "lineage.db")
    with db:
        db.execute("INSERT INTO webhooks (url, events, secret, created_at, created_by) VALUES "
                   "(?, '[\"version.register\",\"version.approve\"]', 'attacker-key-0123456',"
                   " '2026-12-01T00:00:00.000+00:00', 'admin')", (EVIL,))
        db.execute("UPDATE webhooks SET secret = 'swapped-secret-0123456' WHERE id = ?",
                   (hook["id"],))
    db.close()
    code, out, err = cli("admin", "audit", "verify")
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err
    assert f"webhooks:{hook['id'] + 1} is not in the audit log" in err + out
    assert f"webhooks:{hook['id']} differs from what the audit log says" in err + out
    code, out, err = cli("admin", "audit", "verify", "--json")
    problems = {p["key"]: p["problem"] for p in json.loads(out)["problems"]}
    assert problems == {f"webhooks:{hook['id']}": "changed",
                        f"webhooks:{hook['id'] + 1}": "unrecorded"}


@pytest.mark.embedded_only("a delivery row written into lineage.db by hand")
def test_a_delivery_written_by_hand_sends_nothing(store, store_dir):
    hook = webhooks.add(store, "http://127.0.0.1:9/never", "version.approve")
    seq = audit.head(store)["seq"]  # the webhook.add entry: not an event this webhook wants
    store.close()
    db = sqlite3.connect(store_dir / "lineage.db")
    with db:
        db.execute("INSERT INTO webhook_deliveries (webhook_id, seq, event, delivery_id, "
                   "state, attempts, next_attempt_at, created_at) VALUES (?, ?, "
                   "'version.approve', 'forged', 'pending', 0, '2000-01-01', '2000-01-01')",
                   (hook["id"], seq))
    db.close()
    s = Store(store_dir, user="admin")
    try:
        (done,) = webhooks.deliver(s)
        assert done["state"] == "failed" and done["last_status"] is None
        assert "entry" in done["last_error"] and "webhook.add" in done["last_error"]
    finally:
        s.close()


def test_the_team_store_refuses_a_webhook_written_around_lablift(make_store, store_location,
                                                                store_engine):
    if store_engine != "postgresql":
        pytest.skip("the server's rules (an embedded store detects: tests above)")
    admin = make_store("admin")
    admin.add_user("alice", "analyst")
    hook = webhooks.add(admin, "https://hooks.example.com/a", "version.register")
    insert = ("INSERT INTO webhooks (url, events, secret, created_at, created_by) VALUES "
              f"('{EVIL}', '[\"version.register\"]', 'attacker-key-0123456', 'now', 'x')")
    with psycopg.connect(pg.with_user(store_location, "alice"), autocommit=True) as conn:
        for statement in (insert, "UPDATE webhooks SET secret = 'x'", "DELETE FROM webhooks"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # what every role may read: the digests, never a secret or URL
        rows = conn.execute("SELECT * FROM lablift_witness_digests('webhooks')").fetchall()
        assert [k for k, _ in rows] == [f"webhooks:{hook['id']}"]
        assert all(len(d) == 64 for _, d in rows)
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="not a governed table"):
            conn.execute("SELECT * FROM lablift_witness_digests('webhook_deliveries')")
    # an admin at psql: the grant allows the write, the witness rule refuses the COMMIT
    with psycopg.connect(pg.with_user(store_location, "admin"), autocommit=True) as conn:
        for statement in (insert, f"UPDATE webhooks SET secret = 'swapped-secret-0123' "
                                  f"WHERE id = {hook['id']}"):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation,
                               match="every governed change is witnessed"):
                conn.execute(statement)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(f"UPDATE webhooks SET url = '{EVIL}' WHERE id = {hook['id']}")
    assert [h["url"] for h in webhooks.list_webhooks(admin)] == ["https://hooks.example.com/a"]
    assert audit.verify(admin).ok


# -- upgrading a store that had webhooks before they were governed ------------------------------
def old_store(tmp_path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("README.md"))
    return root


def edit(root: Path, *statements: tuple[str, tuple]) -> None:
    db = sqlite3.connect(root / "lineage.db")
    with db:
        for sql, params in statements:
            db.execute(sql, params)
    db.close()


def test_an_older_store_upgrades_with_its_own_webhooks_witnessed(tmp_path):
    root = old_store(tmp_path)
    s = Store(root, user="admin")
    try:
        assert s.schema_version() == migrate.HEAD >= 8
        (baseline,) = [e for e in audit.entries(s, witnesses=True)
                       if e["action"] == "audit.baseline"]
        assert baseline["details"]["schema"] == 7 and baseline["details"]["not_witnessed"] == []
        assert set(baseline["details"]["witness"]) == {"webhooks:1", "webhooks:2"}
        result = audit.verify(s)
        assert result.ok, result.summary()
        assert [h["id"] for h in webhooks.list_webhooks(s)] == [1]
    finally:
        s.close()


def test_an_older_store_with_a_forged_or_redirected_webhook_names_them(tmp_path, capsys):
    from lablift.cli import main
    root = old_store(tmp_path)
    edit(root, ("INSERT INTO webhooks (url, events, secret, created_at, created_by) VALUES "
                "(?, '[\"version.approve\"]', 'attacker-key-0123456', 'x', 'admin')", (EVIL,)),
         ("UPDATE webhooks SET url = ? WHERE id = 1", (EVIL + "?v=1",)))
    assert main(["--store", str(root), "--user", "admin", "audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert "webhooks:1 is not in the audit log" in err and "webhooks:3 is not in" in err
    assert "webhooks:2" not in err  # the removed one matches its entries
    s = Store(root, user="admin")
    try:
        (baseline,) = [e for e in audit.entries(s) if e["action"] == "audit.baseline"]
        assert baseline["details"]["not_witnessed"] == [1, 3]
        # the remedy: an admin removes them through Lablift (audited, witnessed)
        webhooks.remove(s, 1)
        webhooks.remove(s, 3)
        assert audit.verify(s).ok
    finally:
        s.close()


def test_setting_the_schema_back_does_not_re_witness_an_edited_webhook(tmp_path):
    root = old_store(tmp_path)
    Store(root, user="admin").close()  # upgraded: webhooks 1 and 2 witnessed
    edit(root, ("UPDATE webhooks SET secret = 'swapped-secret-0123456' WHERE id = 1", ()),
         ("UPDATE alembic_version SET version_num = '0006'", ()),
         ("DELETE FROM schema_version WHERE version = 7", ()))
    s = Store(root, user="admin")
    try:
        assert s.schema_version() == migrate.HEAD
        assert [e["action"] for e in audit.entries(s)].count("audit.baseline") == 1
        result = audit.verify(s)
        assert not result.ok and [p["key"] for p in result.problems] == ["webhooks:1"]
    finally:
        s.close()


def test_an_older_team_store_migrates_with_its_own_webhooks_witnessed(pg_server, pg_database):
    url = pg_database

    def schema6(conn):
        raw = conn.connection.driver_connection
        team._upgrade(conn, 6)
        raw.execute("GRANT SELECT ON schema_version TO PUBLIC")
        raw.execute("GRANT lablift_admin TO postgres")
        raw.execute("INSERT INTO users (name, role, created_at, created_by) VALUES "
                    "('postgres', 'admin', 'x', 'postgres')")
        raw.execute("SELECT lablift_audit('store.create', 'store:x', '{}')")
        # what 0006's webhooks.add wrote: the row and its entry in one transaction
        good = "https://hooks.example.com/team"
        raw.execute("INSERT INTO webhooks (url, events, secret, created_at, created_by) "
                    "VALUES (%s, '[\"version.register\"]', 'team-secret-0123456789', 'x', "
                    "'postgres')", [good])
        raw.execute("SELECT lablift_audit('webhook.add', 'webhook:1', %s)", [json.dumps({
            "host": "hooks.example.com", "url_sha256": hashlib.sha256(good.encode()).hexdigest(),
            "events": ["version.register"], "secret": "given"})])
        # and what an admin at psql could write before 0007: a row with no entry
        raw.execute("INSERT INTO webhooks (url, events, secret, created_at, created_by) "
                    "VALUES (%s, '[\"version.approve\"]', 'attacker-key-0123456', 'x', "
                    "'postgres')", [EVIL])
    team._in_transaction(url, "test", schema6)
    assert team.migrate(url) == {"from": 6, "to": migrate.HEAD}
    s = Store(url)
    try:
        (baseline,) = [e for e in audit.entries(s, witnesses=True)
                       if e["action"] == "audit.baseline"]
        assert list(baseline["details"]["witness"]) == ["webhooks:1"]
        result = audit.verify(s)
        assert [(p["key"], p["problem"]) for p in result.problems] == [
            ("webhooks:2", "unrecorded")]
        webhooks.remove(s, 2)
        assert audit.verify(s).ok
    finally:
        s.close()


def test_a_copy_keeps_the_webhooks_and_verifies(store, store_location, store_engine,
                                                tmp_path):
    webhooks.add(store, "https://hooks.example.com/a", "version.approve")
    out = store_copy.copy(str(store_location), str(tmp_path / "copy"),
                          user="admin" if store_engine == "sqlite" else None)
    assert out["verified"] and out["rows"]["webhooks"] == 1
    target = Store(tmp_path / "copy", user="admin")
    try:
        assert audit.verify(target).ok
        assert [h["url"] for h in webhooks.list_webhooks(target)] == [
            "https://hooks.example.com/a"]
    finally:
        target.close()
