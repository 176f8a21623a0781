"""Webhooks: signed POSTs of governance events to a real HTTP receiver on 127.0.0.1, the
outbox in the event's transaction, retries with backoff, the delivery log, admin-only
management (refused by the team store's server too) and the GUI's desktop notices."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pg
import psycopg
import pytest
from webhook_receiver import receiver  # noqa: F401 (a fixture)

from lablift.core import audit, notices, registry, training, webhooks
from lablift.core.datasets import import_dataset
from lablift.core.errors import PermissionDenied
from lablift.core.store import webhooks as webhooks_sql
from lablift.resources import SAMPLE_LOANS

SPEC = {"dataset": "loans", "target": "approved", "algorithm": "logistic_regression", "cv": 2}


@pytest.fixture
def people(make_store):
    admin = make_store("admin")
    admin.add_user("alice", "analyst")
    admin.add_user("bob", "reviewer")
    return {"admin": admin, "alice": make_store("alice"), "bob": make_store("bob")}


def expected_signature(secret: str, headers: dict, body: bytes) -> str:
    """What a receiver computes, written out here (not webhooks.sign)."""
    signed = (f"{headers['X-Lablift-Delivery-Id']}.{headers['X-Lablift-Timestamp']}."
              .encode() + body)
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256)
                                    .digest()).decode()


def check_signed(req: dict, secret: str) -> dict:
    h = req["headers"]
    assert h["Content-Type"] == "application/json"
    assert h["X-Lablift-Signature"] == expected_signature(secret, h, req["body"])
    assert abs(int(h["X-Lablift-Timestamp"]) - req["at"]) <= 5  # unix seconds, per attempt
    doc = json.loads(req["body"])
    assert doc["delivery_id"] == h["X-Lablift-Delivery-Id"] and doc["event"] == \
        h["X-Lablift-Event"]
    return doc


def train_and_register(store, name="loan"):
    import_dataset(store, SAMPLE_LOANS, name="loans")
    run = training.train(store, SPEC)
    return registry.register(store, run["id"], name)


def deliveries(store):
    return sorted(webhooks.delivery_log(store), key=lambda d: d["id"])


def wait_for(predicate, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_events_are_posted_signed_and_name_their_audit_entry(people, receiver, store_engine):
    r = receiver()
    admin, alice, bob = people["admin"], people["alice"], people["bob"]
    hook = webhooks.add(admin, r.url, list(webhooks.EVENTS))
    secret = hook["secret"]
    assert len(secret) >= 40 and "secret" not in webhooks.list_webhooks(admin)[0]

    version = train_and_register(alice)
    webhooks.wait_idle(15)
    (queued,) = deliveries(admin)
    assert queued["event"] == "version.register"
    if store_engine == "postgresql":
        # alice cannot read the secrets, so her process does not send: the server queued the
        # delivery (its trigger), and an admin's deliverer sends it
        assert queued["state"] == "pending" and r.requests == []
        assert [d["state"] for d in webhooks.deliver(admin)] == ["delivered"]
    assert wait_for(lambda: len(r.requests) == 1)

    registry.approve(bob, version["ref"], comment="fine by me")
    webhooks.wait_idle(15)
    if store_engine == "postgresql":
        webhooks.deliver(admin)
    assert wait_for(lambda: len(r.requests) == 2)

    entries = {e["action"]: e for e in audit.entries(admin)}
    docs = [check_signed(req, secret) for req in r.requests]
    assert [d["event"] for d in docs] == ["version.register", "version.approve"]
    for doc, who, status in zip(docs, ("alice", "bob"), ("pending", "approved")):
        entry = entries[doc["event"]]
        assert doc["entity"] == "model_version:loan:1" == entry["entity"]
        assert doc["actor"] == who and doc["timestamp"] == entry["ts"]
        assert doc["audit"] == {"seq": entry["seq"], "hash": entry["hash"]}
        assert doc["data"]["model"] == "loan" and doc["data"]["version"] == 1
        assert doc["data"]["status"] == status and "witness" not in doc["data"]
    assert docs[1]["data"]["comment"] == "fine by me"
    assert docs[0]["data"]["run"] == version["run_id"]
    log = deliveries(admin)
    assert [(d["state"], d["attempts"], d["last_status"]) for d in log] == [
        ("delivered", 1, 200), ("delivered", 1, 200)]
    assert [d["delivery_id"] for d in log] == [d["delivery_id"] for d in docs]
    assert webhooks.verify(secret, r.requests[0]["headers"], r.requests[0]["body"])
    assert not webhooks.verify(secret, r.requests[0]["headers"], r.requests[0]["body"] + b" ")
    assert not webhooks.verify("x" * 43, r.requests[0]["headers"], r.requests[0]["body"])


def test_a_500_is_retried_with_backoff_same_delivery_same_body(make_store, receiver,
                                                               monkeypatch):
    monkeypatch.setenv("LABLIFT_WEBHOOK_RETRY_S", "0.3")
    admin = make_store("admin")
    r = receiver([500, 503])
    hook = webhooks.add(admin, r.url, "version.register")
    train_and_register(admin)
    webhooks.wait_idle(15)
    (first,) = deliveries(admin)
    assert (first["state"], first["attempts"], first["last_status"]) == ("pending", 1, 500)
    assert "HTTP 500" in first["last_error"]
    assert webhooks.deliver(admin, wait_s=15)[-1]["state"] == "delivered"
    (done,) = deliveries(admin)
    assert (done["state"], done["attempts"], done["last_status"], done["last_error"]) == (
        "delivered", 3, 200, None)
    assert [q["status"] for q in r.requests] == [500, 503, 200]
    assert len({q["body"] for q in r.requests}) == 1  # rebuilt from the entry: same bytes
    assert {q["headers"]["X-Lablift-Delivery-Id"] for q in r.requests} == {done["delivery_id"]}
    for q in r.requests:
        check_signed(q, hook["secret"])
    gaps = [b["at"] - a["at"] for a, b in zip(r.requests, r.requests[1:])]
    assert gaps[0] >= 0.25 and gaps[1] >= 1.1  # 0.3 s, then x4
    assert webhooks.backoff_s(1) == 0.3 and webhooks.backoff_s(2) == pytest.approx(1.2)


def test_retries_are_bounded_and_a_4xx_fails_at_once(make_store, receiver, monkeypatch):
    monkeypatch.setenv("LABLIFT_WEBHOOK_RETRY_S", "0.05")
    monkeypatch.setenv("LABLIFT_WEBHOOK_ATTEMPTS", "3")
    admin = make_store("admin")
    down = receiver([503] * 10)
    gone = receiver([404])
    webhooks.add(admin, down.url, "version.register")
    webhooks.add(admin, gone.url, "version.register")
    train_and_register(admin)
    webhooks.wait_idle(15)
    webhooks.deliver(admin, wait_s=10)
    log = deliveries(admin)
    assert [(d["state"], d["attempts"], d["last_status"]) for d in log] == [
        ("failed", 3, 503), ("failed", 1, 404)]
    assert len(down.requests) == 3 and len(gone.requests) == 1
    assert webhooks.deliver(admin) == []  # nothing left to send


def test_a_rolled_back_event_is_never_delivered(make_store, receiver):
    admin = make_store("admin")
    r = receiver()
    webhooks.add(admin, r.url, "version.attention")
    with pytest.raises(RuntimeError):
        with admin.transaction():
            audit.append(admin, "version.attention", "model_version:loan:9", {"message": "x"})
            assert len(deliveries(admin)) == 1  # queued inside the transaction...
            raise RuntimeError("crash before commit")
    webhooks.wait_idle(15)
    assert deliveries(admin) == [] and r.requests == []  # ...and gone with it
    assert audit.verify(admin).ok


def test_only_admins_manage_webhooks(people, receiver, cli):
    r = receiver()
    alice = people["alice"]
    with pytest.raises(PermissionDenied, match="managing webhooks needs the role admin"):
        webhooks.add(alice, r.url, "version.approve")
    code, out, err = cli("alice", "webhooks", "add", r.url, "--events", "version.approve")
    assert code == 1 and err.startswith("error: ") and "admin" in err and "Traceback" not in err
    code, _, err = cli("alice", "webhooks", "list")
    assert code == 1 and "admin" in err
    assert webhooks.list_webhooks(people["admin"]) == []


def test_the_team_store_server_refuses_non_admins(people, store_location, store_engine):
    if store_engine != "postgresql":
        pytest.skip("the server's grants and triggers (the embedded store: test above)")
    admin = people["admin"]
    hook = webhooks.add(admin, "https://hooks.example.com/x", "version.register")
    for who in ("alice", "bob"):
        with psycopg.connect(pg.with_user(store_location, who), autocommit=True) as conn:
            for statement in ("INSERT INTO webhooks (url, events, secret, created_at, "
                              "created_by) VALUES ('http://evil', '[\"version.approve\"]', "
                              "'s', 'now', 'x')",
                              "SELECT secret FROM webhooks",
                              "UPDATE webhook_deliveries SET state = 'delivered'",
                              "INSERT INTO webhook_deliveries (webhook_id, seq, event, "
                              "delivery_id, state, next_attempt_at, created_at) VALUES "
                              f"({hook['id']}, 1, 'version.register', 'x', 'pending', 'a', 'a')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
            assert conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone() == (0,)
    # even an admin cannot invent the delivery of an audit entry: only the server's trigger
    with psycopg.connect(pg.with_user(store_location, "admin"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only by the server"):
            conn.execute("INSERT INTO webhook_deliveries (webhook_id, seq, event, delivery_id, "
                         "state, next_attempt_at, created_at) VALUES (%s, 1, "
                         "'version.register', 'x', 'pending', 'a', 'a')", [hook["id"]])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM webhooks")


def test_cli_add_list_test_log_remove_never_show_the_secret(cli, receiver, monkeypatch,
                                                            people):
    r = receiver()
    monkeypatch.setenv("HOOK_SECRET", "s3cret-" + "k" * 30)
    code, out, err = cli("admin", "webhooks", "add", r.url + "?token=abc", "--events",
                         "version.approve,version.reject", "--secret-env", "HOOK_SECRET",
                         "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["events"] == ["version.approve", "version.reject"] and "secret" not in made
    code, out, err = cli("admin", "webhooks", "add", r.url, "--events", "version.nope")
    assert code == 1 and "unknown webhook event 'version.nope'" in err
    monkeypatch.setenv("SHORT", "abc")
    code, out, err = cli("admin", "webhooks", "add", r.url, "--events", "version.approve",
                         "--secret-env", "SHORT")
    assert code == 1 and "at least 16 characters" in err
    code, out, err = cli("admin", "webhooks", "list")
    assert code == 0 and r.url in out and "s3cret" not in out
    code, out, err = cli("admin", "webhooks", "test", str(made["id"]), "--json")
    assert code == 0, err
    tested = json.loads(out)
    assert tested["state"] == "delivered" and tested["event"] == "webhook.test"
    check_signed(r.requests[-1], "s3cret-" + "k" * 30)
    assert json.loads(r.requests[-1]["body"])["data"]["webhook"] == made["id"]
    code, out, err = cli("admin", "webhooks", "log", "--json")
    assert code == 0 and [d["state"] for d in json.loads(out)] == ["delivered"]
    code, out, err = cli("admin", "webhooks", "remove", str(made["id"]))
    assert code == 0 and f"webhook {made['id']} removed" in out
    code, out, err = cli("admin", "webhooks", "remove", str(made["id"]))
    assert code == 1 and "already removed" in err
    code, out, err = cli("admin", "audit", "log", "--json")
    logged = [e for e in json.loads(out) if e["action"].startswith("webhook.")]
    assert [e["action"] for e in logged] == ["webhook.remove", "webhook.add"]
    text = json.dumps(logged)
    assert "s3cret" not in text and "token=abc" not in text and "127.0.0.1" in text
    assert "s3cret" not in json.dumps(webhooks.delivery_log(people["admin"]))


def test_event_lists_agree():
    assert tuple(webhooks.EVENTS) == webhooks_sql.EVENTS
    assert frozenset(webhooks.EVENTS) == audit.NOTIFIED


def test_who_hears_of_what(people):
    admin, alice = people["admin"], people["alice"]
    admin.add_user("olga", "ops")
    start = notices.head_seq(admin)
    version = train_and_register(alice)
    registry.mark_attention(admin, version["id"], "batch 1: income drifted")
    entries = notices.events_since(admin, start)
    assert [e["action"] for e in entries] == ["version.register", "version.attention"]

    def heard(who):
        return [(n["event"], n["text"]) for n in notices.concerning(admin, who, entries)]
    assert heard("bob") == [("version.register",
                             "loan:1 is pending review (registered by alice)")]
    assert heard("alice") == [("version.attention", "alert on loan:1: batch 1: income drifted")]
    assert heard("olga") == heard("alice")  # ops run the model
    assert heard("admin") == [heard("bob")[0]]  # an admin reviews; the alert was theirs
    assert notices.events_since(admin, entries[-1]["seq"]) == []


@pytest.mark.embedded_only("the GUI's notices read the store the same way on either engine")
def test_the_gui_tells_a_reviewer_and_the_analyst_of_their_events(people, qtbot):
    from lablift.gui import event_notifier
    from lablift.gui.main_window import MainWindow
    from lablift.gui.notifications import add_handler
    heard = []
    remove = add_handler(lambda n: heard.append(n) and False)
    try:
        windows = {}
        for who in ("alice", "bob"):
            w = windows[who] = MainWindow(people[who], restore_state=False, watch=False)
            qtbot.addWidget(w)
            event_notifier.install(w, poll_ms=100)
            qtbot.waitUntil(lambda w=w: w.event_notifier.since is not None, timeout=10000)
        version = train_and_register(people["alice"])
        with qtbot.waitSignal(windows["bob"].event_notifier.shown, timeout=10000) as shown:
            pass
        assert [n["event"] for n in shown.args[0]] == ["version.register"]
        assert "loan:1 is pending review (registered by alice" in shown.args[0][0]["text"]
        registry.reject(people["bob"], version["ref"], comment="needs more data")
        with qtbot.waitSignal(windows["alice"].event_notifier.shown, timeout=10000) as shown:
            pass
        assert shown.args[0][0]["text"] == "loan:1 was rejected by bob: needs more data"
        texts = [n.text for n in heard]
        assert "loan:1 was rejected by bob: needs more data" in texts
        # nobody hears of what they did themselves
        assert not [t for t in texts if "pending review" in t and t.count("alice") > 1]
    finally:
        remove()
