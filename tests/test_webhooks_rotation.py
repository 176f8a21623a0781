"""`lablift webhooks rotate ID [--secret-file FILE]`: a new secret for a webhook, keeping its
id, events and delivery log. Admin only (the team store's server refuses the others); an
audited, witnessed change that `audit verify` accepts, while a hand edit of the secret is
named (embedded) or refused at COMMIT (team store). Deliveries are signed when sent, so a
pending one goes out signed with the new secret; a real receiver on 127.0.0.1 checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pg
import psycopg
import pytest
from webhook_receiver import receiver  # noqa: F401 (a fixture)

from lablift.core import audit, webhooks
from lablift.core.store import Store, migrate, team


def signature(secret: str, headers: dict, body: bytes) -> str:
    """What a receiver computes (docs/webhooks.md), written out here."""
    signed = (f"{headers['X-Lablift-Delivery-Id']}.{headers['X-Lablift-Timestamp']}."
              .encode() + body)
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256)
                                    .digest()).decode()


def signed_by(req: dict, secret: str) -> bool:
    return hmac.compare_digest(signature(secret, req["headers"], req["body"]),
                               req["headers"]["X-Lablift-Signature"])


def shown_secret(out: str) -> str:
    lines = out.strip().splitlines()
    assert lines[-2].startswith("secret (shown once")
    return lines[-1]


@pytest.fixture
def people(make_store):
    admin = make_store("admin")
    admin.add_user("alice", "analyst")
    return {"admin": admin, "alice": make_store("alice")}


def test_a_pending_delivery_goes_out_signed_with_the_new_secret(people, receiver, cli,
                                                                monkeypatch):
    monkeypatch.setenv("LABLIFT_WEBHOOK_RETRY_S", "3")  # no retry before the rotation
    admin = people["admin"]
    r = receiver([503])  # the first attempt fails: the delivery stays pending
    hook = webhooks.add(admin, r.url, "version.attention")
    old = hook["secret"]
    audit.append(admin, "version.attention", "model_version:loan:1", {"message": "drift"})
    webhooks.wait_idle(15)
    (first,) = r.requests
    assert first["status"] == 503 and signed_by(first, old)

    code, out, err = cli("admin", "webhooks", "rotate", str(hook["id"]))
    assert code == 0, err
    assert out.startswith(f"webhook {hook['id']}: secret rotated; 1 pending delivery will be "
                          f"signed with it")
    new = shown_secret(out)
    assert len(new) >= 40 and new != old

    assert webhooks.deliver(admin, wait_s=15)[-1]["state"] == "delivered"
    _, second = r.requests
    assert second["status"] == 200
    assert signed_by(second, new) and not signed_by(second, old)
    assert webhooks.verify(new, second["headers"], second["body"])
    assert not webhooks.verify(old, second["headers"], second["body"])
    # the same delivery, re-signed: same id and body, so receivers deduplicate as before
    assert second["body"] == first["body"]
    assert second["headers"]["X-Lablift-Delivery-Id"] == first["headers"][
        "X-Lablift-Delivery-Id"]
    (log,) = webhooks.delivery_log(admin)
    assert (log["state"], log["attempts"], log["webhook_id"]) == ("delivered", 2, hook["id"])

    (entry,) = [e for e in audit.entries(admin) if e["action"] == "webhook.rotate"]
    assert entry["entity"] == f"webhook:{hook['id']}" and entry["user"] == "admin"
    assert entry["details"] == {"secret": "generated", "pending_deliveries": 1}
    assert new not in json.dumps(audit.entries(admin, witnesses=True))
    for who in ("admin", "alice"):  # a non-admin verifies webhook rows without reading them
        code, out, err = cli(who, "audit", "verify")
        assert code == 0 and "every governed row matches it" in out, err


def test_rotate_from_a_file_then_a_test_delivery_verifies(people, receiver, cli, tmp_path):
    admin = people["admin"]
    r = receiver()
    hook = webhooks.add(admin, r.url, "version.approve")
    (tmp_path / "secret").write_text("correct-horse-battery-staple-42\n")
    code, out, err = cli("admin", "webhooks", "rotate", str(hook["id"]), "--secret-file",
                         str(tmp_path / "secret"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["id"] == hook["id"] and "secret" not in doc and doc["pending_deliveries"] == 0
    assert doc["events"] == ["version.approve"] and doc["removed_by"] is None
    code, out, err = cli("admin", "webhooks", "test", str(hook["id"]))
    assert code == 0, err
    (req,) = r.requests
    assert signed_by(req, "correct-horse-battery-staple-42")
    assert not signed_by(req, hook["secret"])
    (entry,) = [e for e in audit.entries(admin) if e["action"] == "webhook.rotate"]
    assert entry["details"]["secret"] == "given"
    assert [h["id"] for h in webhooks.list_webhooks(admin)] == [hook["id"]]
    assert audit.verify(admin).ok


def test_refusals_are_one_error_line(people, cli, tmp_path):
    admin = people["admin"]
    hook = webhooks.add(admin, "https://hooks.example.com/a", "version.approve")
    gone = webhooks.add(admin, "https://hooks.example.com/b", "version.approve")
    webhooks.remove(admin, gone["id"])
    short, two, empty = (tmp_path / n for n in ("short", "two", "empty"))
    short.write_text("tooshort\n")
    two.write_text("first-line-is-long-enough\nsecond\n")
    empty.write_text("\n")
    (tmp_path / "same").write_text(hook["secret"])
    head = audit.head(admin)
    cases = [
        (("alice", "webhooks", "rotate", str(hook["id"])),
         "error: managing webhooks needs the role admin; user 'alice' is analyst"),
        (("admin", "webhooks", "rotate", "99"), "error: webhook 99 not found"),
        (("admin", "webhooks", "rotate", str(gone["id"])),
         f"error: webhook {gone['id']} was already removed by admin"),
        (("admin", "webhooks", "rotate", str(hook["id"]), "--secret-file", str(short)),
         "error: a webhook secret needs at least 16 characters (this one has 8)"),
        (("admin", "webhooks", "rotate", str(hook["id"]), "--secret-file", str(two)),
         f"error: --secret-file {two}: holds more than one line"),
        (("admin", "webhooks", "rotate", str(hook["id"]), "--secret-file", str(empty)),
         f"error: --secret-file {empty}: the file is empty"),
        (("admin", "webhooks", "rotate", str(hook["id"]), "--secret-file",
          str(tmp_path / "missing")),
         f"error: --secret-file {tmp_path / 'missing'}: No such file or directory"),
        (("admin", "webhooks", "rotate", str(hook["id"]), "--secret-file",
          str(tmp_path / "same")),
         f"error: webhook {hook['id']} already has this secret"),
    ]
    for argv, want in cases:
        code, out, err = cli(*argv)
        assert (code, out) == (1, ""), argv
        assert err.startswith(want), (argv, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert audit.head(admin) == head  # nothing was written
    assert audit.verify(admin).ok


@pytest.mark.embedded_only("an edit of lineage.db by hand")
def test_a_secret_edited_by_hand_after_a_rotation_is_named(store, store_dir, cli):
    hook = webhooks.add(store, "https://hooks.example.com/a", "version.approve")
    webhooks.rotate(store, hook["id"])
    assert audit.verify(store).ok
    store.close()
    db = sqlite3.connect(store_dir / "lineage.db")
    with db:
        db.execute("UPDATE webhooks SET secret = 'attacker-known-secret-0' WHERE id = ?",
                   (hook["id"],))
    db.close()
    code, out, err = cli("admin", "audit", "verify")
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err
    assert (f"webhooks:{hook['id']} differs from what the audit log says (last written by "
            f"entry {audit.head(Store(store_dir, user='admin'))['seq']}, webhook.rotate)") in err


def test_the_team_store_server_rules_for_the_secret(people, store_location, store_engine):
    if store_engine != "postgresql":
        pytest.skip("the server's grants and triggers (an embedded store detects: above)")
    admin = people["admin"]
    hook = webhooks.add(admin, "https://hooks.example.com/a", "version.approve")
    gone = webhooks.add(admin, "https://hooks.example.com/b", "version.approve")
    webhooks.remove(admin, gone["id"])
    rotated = webhooks.rotate(admin, hook["id"])
    # 0008: a rotation is not a removal (0006's trigger wrote removed_by on every UPDATE)
    assert rotated["removed_at"] is None and rotated["removed_by"] is None
    hid, gid = hook["id"], gone["id"]
    with psycopg.connect(pg.with_user(store_location, "alice"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"UPDATE webhooks SET secret = 'alice-knows-this-000' WHERE id = {hid}")
    with psycopg.connect(pg.with_user(store_location, "admin")) as conn:
        # an admin at psql: the grant allows the UPDATE, the witness rule refuses the COMMIT
        conn.execute(f"UPDATE webhooks SET secret = 'psql-secret-0123456789' WHERE id = {hid}")
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation,
                           match=f"every governed change is witnessed.*webhooks:{hid}"):
            conn.commit()
        # the server's own rules, even with an audit entry after the change
        for statement, error, match in (
                (f"UPDATE webhooks SET secret = 'new-secret-0123456789' WHERE id = {gid}",
                 psycopg.errors.InsufficientPrivilege, f"webhook {gid} was removed"),
                (f"UPDATE webhooks SET removed_at = NULL WHERE id = {gid}",
                 psycopg.errors.InsufficientPrivilege, f"webhook {gid} was removed"),
                (f"UPDATE webhooks SET secret = 'short' WHERE id = {hid}",
                 psycopg.errors.CheckViolation, "at least 16 characters"),
                (f"UPDATE webhooks SET removed_by = 'admin' WHERE id = {hid}",
                 psycopg.errors.InsufficientPrivilege, "removed_by is set by the server"),
                (f"UPDATE webhooks SET removed_at = 'now' WHERE id = {hid}",
                 psycopg.errors.CheckViolation, "blanks its secret")):
            with pytest.raises(error, match=match):
                conn.execute(statement)
                conn.execute("SELECT lablift_audit('webhook.rotate', 'webhook:x', '{}')")
            conn.rollback()
    # an admin at psql who does write the audit entry made an audited change: verify accepts
    # it and the entry names them
    with psycopg.connect(pg.with_user(store_location, "admin")) as conn:
        conn.execute(f"UPDATE webhooks SET secret = 'psql-secret-0123456789' WHERE id = {hid}")
        conn.execute(f"SELECT lablift_audit('webhook.rotate', 'webhook:{hid}', "
                     f"'{{\"secret\": \"given\"}}')")
    result = audit.verify(admin)
    assert result.ok, result.summary()
    assert audit.entries(admin)[0]["user"] == "admin"
    assert [h["id"] for h in webhooks.list_webhooks(admin)] == [hid]


def test_an_attempt_in_flight_during_a_rotation_is_resent_re_signed(make_store, store_engine):
    """A receiver that already checks the new secret refuses the attempt signed just before
    the rotation committed (401); the delivery is resent, signed with the new secret."""
    admin = make_store("admin")
    other = make_store("admin")  # another admin's process rotates while the POST is out
    state = {"secret": None, "requests": []}
    new = "rotated-while-in-flight-0123"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            req = {"headers": dict(self.headers), "body": body}
            if not state["requests"]:
                webhooks.rotate(other, hook["id"], new)
                state["secret"] = new
            state["requests"].append(req)
            self.send_response(200 if signed_by(req, state["secret"]) else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = webhooks.add(admin, f"http://127.0.0.1:{server.server_port}/hook",
                            "version.attention")
        state["secret"] = hook["secret"]
        audit.append(admin, "version.attention", "model_version:loan:1", {"message": "x"})
        webhooks.wait_idle(15)
        webhooks.deliver(admin, wait_s=5)
    finally:
        server.shutdown()
        server.server_close()
    first, second = state["requests"]
    assert signed_by(first, hook["secret"]) and signed_by(second, new)
    (log,) = webhooks.delivery_log(admin)
    assert (log["state"], log["attempts"], log["last_status"]) == ("delivered", 2, 200)
    assert audit.verify(admin).ok


# -- upgrading a schema-7 store (migration 0008) -----------------------------------------------
def test_a_schema7_store_upgrades_and_rotates(tmp_path, monkeypatch):
    root = tmp_path / "store"
    monkeypatch.setattr(migrate, "HEAD", 7)
    s = Store(root, user="admin")
    hook = webhooks.add(s, "https://hooks.example.com/a", "version.approve")
    assert s.schema_version() == 7
    s.close()
    monkeypatch.undo()
    s = Store(root, user="admin")
    try:
        assert s.schema_version() == migrate.HEAD == 8
        webhooks.rotate(s, hook["id"])
        result = audit.verify(s)
        assert result.ok, result.summary()
    finally:
        s.close()


def test_a_schema7_team_store_migrates_and_rotates(pg_server, pg_database):
    url = pg_database
    good = "https://hooks.example.com/team"

    def schema7(conn):
        raw = conn.connection.driver_connection
        team._upgrade(conn, 7)
        raw.execute("GRANT SELECT ON schema_version TO PUBLIC")
        raw.execute("GRANT lablift_admin TO postgres")
        raw.execute("INSERT INTO users (name, role, created_at, created_by) VALUES "
                    "('postgres', 'admin', 'x', 'postgres')")
        raw.execute("SELECT lablift_audit('store.create', 'store:x', '{}')")
        # what schema 7's webhooks.add writes: the row and its entry in one transaction
        raw.execute("INSERT INTO webhooks (url, events, secret, created_at, created_by) "
                    "VALUES (%s, '[\"version.approve\"]', 'team-secret-0123456789', 'x', "
                    "'postgres')", [good])
        raw.execute("SELECT lablift_audit('webhook.add', 'webhook:1', %s)", [json.dumps({
            "host": "hooks.example.com", "url_sha256": hashlib.sha256(good.encode()).hexdigest(),
            "events": ["version.approve"], "secret": "given"})])

    team._in_transaction(url, "test", schema7)
    assert team.migrate(url) == {"from": 7, "to": migrate.HEAD}
    s = Store(url)
    try:
        assert s.schema_version() == migrate.HEAD == 8
        rotated = webhooks.rotate(s, 1)
        assert rotated["removed_by"] is None and "secret" in rotated
        result = audit.verify(s)
        assert result.ok, result.summary()
        with psycopg.connect(url) as conn:  # 0008's rule is in place
            with pytest.raises(psycopg.errors.CheckViolation, match="at least 16"):
                conn.execute("UPDATE webhooks SET secret = 'short' WHERE id = 1")
    finally:
        s.close()
