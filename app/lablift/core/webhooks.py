"""Webhooks: Lablift POSTs a signed JSON document to configured URLs when governance events
happen (docs/webhooks.md is the receiver's contract).

Events are audit entries (EVENTS). The outbox pattern keeps them exact: the transaction that
appends the entry also inserts one `webhook_deliveries` row per webhook that wants it (on an
embedded store `outbox` below, called by audit.append; on a team store a server trigger,
migration 0006), so a crash can neither lose an event nor announce one that was rolled back.
Delivery happens after COMMIT: `kick` starts a background thread whose first (claiming)
transaction waits for the one that queued the event; `lablift webhooks deliver` sends what is
due from any process. The body is rebuilt from the audit entry at every attempt (same bytes,
same delivery id: receivers deduplicate on it); each attempt has a fresh timestamp and is
signed with the webhook's secret at that moment, so after `rotate` pending deliveries go out
signed with the new secret (one in flight meanwhile and refused with a 4xx is resent).

Signature, as MLflow's registry webhooks sign (mlflow/webhooks/delivery.py):
`X-Lablift-Signature: v1,<base64 HMAC-SHA256(secret, "{delivery_id}.{timestamp}.{body}")>`.
Failures (network, timeout, 408, 429, 5xx) are retried with exponential backoff, or later
when a 429/503 says `Retry-After` (capped), a bounded number of times; any other status
fails the delivery at once. A CLI process waits at most EXIT_WAIT_S at exit; what is left
stays in the outbox. Webhook rows are governed (witnessed, core/witness.py); deliveries are
not (operational: their state changes after the event).

Qt-free; urllib (webhook_http.py) only when something is sent.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import json
import os
import secrets as secrets_mod
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .errors import LabliftError, NotFound
from .store.sql import repository
# managing webhooks (admins) is core/webhook_config.py, re-exported as this module's API
from .webhook_config import (  # noqa: F401
    MIN_SECRET_CHARS, add, list_webhooks, parse_events, remove, rotate)

if TYPE_CHECKING:
    from .store import Store

sql = repository("webhooks")  # statements: core/store/webhooks.py

EVENTS: dict[str, str] = {
    "version.register": "a version was registered: pending review",
    "version.approve": "a version was approved",
    "version.reject": "a version was rejected",
    "version.attention": "monitoring raised an alert on a version",
    "monitor.retrain": "a retrain registered a challenger (pending review)",
}
TEST_EVENT = "webhook.test"
STATUS = {"version.register": "pending", "version.approve": "approved",
          "version.reject": "rejected", "monitor.retrain": "pending"}
SIGNATURE_VERSION = "v1"
HEADER_SIGNATURE = "X-Lablift-Signature"
HEADER_TIMESTAMP = "X-Lablift-Timestamp"
HEADER_DELIVERY = "X-Lablift-Delivery-Id"
HEADER_EVENT = "X-Lablift-Event"
TIMEOUT_S = 10.0  # webhook_http.TIMEOUT_S
MAX_ATTEMPTS = 8
BACKOFF_FACTOR = 4
BACKOFF_CAP_S = 3600.0
LEASE_S = 60.0  # a claimed attempt's slot: another deliverer retries it after this
RETRYABLE = {408, 425, 429}  # and every 5xx
_BODY_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=str).encode


def retry_base_s() -> float:
    """The first retry's delay (then x4 per attempt, at most an hour)."""
    try:
        return max(0.0, float(os.environ.get("LABLIFT_WEBHOOK_RETRY_S", "5")))
    except ValueError:
        raise LabliftError(f"LABLIFT_WEBHOOK_RETRY_S={os.environ['LABLIFT_WEBHOOK_RETRY_S']!r} "
                           f"is not a number of seconds") from None


def max_attempts() -> int:
    """Attempts before a delivery fails for good (LABLIFT_WEBHOOK_ATTEMPTS, 1..20)."""
    raw = os.environ.get("LABLIFT_WEBHOOK_ATTEMPTS", str(MAX_ATTEMPTS))
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 20:
        raise LabliftError(f"LABLIFT_WEBHOOK_ATTEMPTS={raw!r} is not a number from 1 to 20")
    return int(raw)


def backoff_s(attempts: int) -> float:
    """Delay before attempt `attempts + 1`, after `attempts` failed ones."""
    return min(BACKOFF_CAP_S, retry_base_s() * BACKOFF_FACTOR ** max(0, attempts - 1))


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- signing (what a receiver recomputes: docs/webhooks.md) -----------------------------------
def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: float = 300,
           now: float | None = None) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent."""
    h = {k.lower(): v for k, v in headers.items()}
    try:
        ts = h[HEADER_TIMESTAMP.lower()]
        if abs((now or time.time()) - int(ts)) > tolerance_s:
            return False
        want = sign(secret, h[HEADER_DELIVERY.lower()], ts, body)
    except (KeyError, ValueError):
        return False
    return hmac.compare_digest(want, h.get(HEADER_SIGNATURE.lower(), ""))


def delivery_log(store: "Store", limit: int = 100) -> list[dict[str, Any]]:
    return store.rows(sql.LOG, limit=int(limit))


# -- the outbox (called by audit.append, inside the entry's transaction) -----------------------
def outbox(store: "Store", conn, seq: int, action: str) -> None:
    """Queue this entry for every webhook that wants it (embedded store; a team store's
    server has already done so), and deliver after the transaction commits."""
    if store.engine == "sqlite":
        from .store import utcnow
        queued = sql.OUTBOX.execute(conn, "sqlite", {"seq": seq, "action": action,
                                                     "ts": utcnow()}).rowcount
    else:
        queued = sql.OF_SEQ.execute(conn, store.engine, {"seq": seq}).fetchone()[0]
    if queued and may_deliver(store):
        kick(store)


def may_deliver(store: "Store") -> bool:
    """Delivering reads the secrets: on a team store only admins can (the others' events
    wait for an admin's deliverer: `lablift webhooks deliver --watch`)."""
    return store.engine == "sqlite" or store.role() == "admin"


# -- delivery ---------------------------------------------------------------------------------
def payload(store: "Store", row: dict[str, Any]) -> dict[str, Any]:
    """The document POSTed for delivery `row` (a WORK row): built from its audit entry."""
    event = row["event"]
    doc: dict[str, Any] = {"event": event, "delivery_id": row["delivery_id"],
                           "store": str(store.root)}
    if row["seq"] is None:  # `webhooks test`
        doc.update(timestamp=row["created_at"], entity=f"webhook:{row['webhook_id']}",
                   actor=None, audit=None,
                   data={"webhook": row["webhook_id"], "message": "test delivery from Lablift"})
        return doc
    details = json.loads(row["audit_details"]) if row["audit_details"] else {}
    details.pop("witness", None)
    details.pop("origin", None)
    entity = row["audit_entity"]
    data: dict[str, Any] = {}
    if entity.startswith("model_version:"):
        model, _, version = entity[len("model_version:"):].rpartition(":")
        data.update(model=model, version=int(version) if version.isdigit() else version)
    if event in STATUS:
        data["status"] = STATUS[event]
    data.update(details)
    doc.update(timestamp=row["audit_ts"], entity=entity, actor=row["audit_user"],
               audit={"seq": row["seq"], "hash": row["audit_hash"]}, data=data)
    return doc


def body_of(doc: dict[str, Any]) -> bytes:
    return _BODY_JSON(doc).encode("utf-8")


def attempt(store: "Store", delivery: int) -> dict[str, Any]:
    """Attempt a claimed delivery (the claim counted it); records the outcome and returns
    the delivery."""
    try:
        row = store.row(sql.WORK, id=delivery)
        n = row["attempts"]
        now = _now()
        state, status, error, delivered, next_at = "pending", None, "", None, now
        if row["removed_at"]:
            state, error, n = "cancelled", "webhook removed", n - 1
        elif n > max_attempts():  # the last attempt was claimed but its outcome never came
            state, n = "failed", n - 1
            error = f"gave up after {n} attempts; the last: {row['last_error'] or 'no outcome'}"
        elif row["seq"] is not None and (row["event"] != row["audit_action"] or row["event"]
                                         not in json.loads(row["webhook_events"] or "[]")):
            state = "failed"  # a delivery row written by hand: send nothing
            error = (f"delivery names {row['event']} but entry {row['seq']} is "
                     f"{row['audit_action']} and webhook {row['webhook_id']} wants "
                     f"{row['webhook_events']}: not sent (edited outside Lablift?)")
        else:
            from .. import __version__
            from . import webhook_http
            body = body_of(payload(store, row))
            ts = str(int(time.time()))
            status, error, wait = webhook_http.post(row["url"], body, {
                HEADER_DELIVERY: row["delivery_id"], HEADER_TIMESTAMP: ts,
                HEADER_EVENT: row["event"],
                HEADER_SIGNATURE: sign(row["secret"], row["delivery_id"], ts, body)},
                f"Lablift/{__version__}")
            if status is not None and 200 <= status < 300:
                state, error, delivered = "delivered", "", _iso(_now())
            elif (status is None or status in RETRYABLE or status >= 500) and \
                    n < max_attempts() and row["seq"] is not None:
                # the receiver's Retry-After (capped) when it asks for more than our backoff
                next_at = _now() + timedelta(seconds=max(backoff_s(n), wait or 0.0))
            elif status is not None and 400 <= status < 500 and n < max_attempts() and \
                    row["seq"] is not None and _rotated_since(store, row):
                # signed with the old secret while a rotation committed: resend, re-signed
                error = (f"HTTP {status}: signed with the secret rotated meanwhile; the next "
                         f"attempt signs with the new one")
            else:
                state = "failed"
                if status is not None and 300 <= status < 400:
                    error = f"HTTP {status}: redirects are not followed; configure the final URL"
        with store.transaction() as conn:
            sql.SETTLE.execute(conn, store.engine, {
                "id": delivery, "state": state, "attempts": n,
                "next_attempt_at": _iso(next_at), "last_status": status,
                "last_error": error or None, "delivered_at": delivered})
    finally:
        with _lock:
            _inflight.discard(delivery)
    return store.row(sql.DELIVERY, id=delivery)


def _rotated_since(store: "Store", row: dict[str, Any]) -> bool:
    now = store.row(sql.BY_ID, id=row["webhook_id"])
    return now is not None and not now["removed_at"] and now["secret"] != row["secret"]


def _claim_next(store: "Store") -> int | None:
    """Claim the next due delivery (one short transaction): its attempt is counted and its
    next one moved LEASE_S ahead, so no other deliverer sends it meanwhile and an attempt
    whose process died is retried after the lease, counted."""
    now = _iso(_now())
    lease = _iso(_now() + timedelta(seconds=LEASE_S))
    with store.transaction() as conn:
        for (did,) in [tuple(r)[:1] for r in sql.DUE.execute(
                conn, store.engine, {"now": now, "limit": 10}).fetchall()]:
            if sql.CLAIM.execute(conn, store.engine, {
                    "id": did, "now": now, "lease_until": lease,
                    "abandoned": "no outcome recorded: the sending process stopped before "
                                 "the receiver answered"}).rowcount == 1:
                with _lock:
                    _inflight.add(did)
                return did
    return None


def deliver_due(store: "Store", limit: int = 100) -> list[dict[str, Any]]:
    """Attempt every delivery that is due, claiming one at a time (a process that stops
    leaves at most the one in flight claimed)."""
    done: list[dict[str, Any]] = []
    while len(done) < limit:
        did = _claim_next(store)
        if did is None:
            break
        done.append(attempt(store, did))
    return done


def deliver(store: "Store", wait_s: float = 0.0, stop: threading.Event | None = None
            ) -> list[dict[str, Any]]:
    """Send what is due; with `wait_s`, keep sending retries as they fall due until nothing
    is pending or the time is up (or `stop` is set). Returns the attempts made."""
    if not may_deliver(store):
        raise LabliftError(f"delivering webhooks reads their secrets: on a team store only an "
                           f"admin can; {store.user!r} is {store.role()}")
    deadline = time.monotonic() + wait_s
    done: list[dict[str, Any]] = []
    while True:
        done += deliver_due(store)
        left = deadline - time.monotonic()
        if left <= 0 or (stop is not None and stop.is_set()):
            return done
        upcoming = store.value(sql.NEXT_DUE)
        if upcoming is None and wait_s < float("inf"):
            return done
        pause = 1.0 if upcoming is None else max(
            0.0, (datetime.fromisoformat(upcoming) - _now()).total_seconds())
        pause = min(pause, left, 1.0)
        if stop is not None:
            stop.wait(pause)
        else:
            time.sleep(pause)


def test(store: "Store", webhook_id: int) -> dict[str, Any]:
    """Send one test delivery now (admin); returns its log row."""
    from .store import utcnow
    store.require_role("testing webhooks", "admin")
    row = store.row(sql.BY_ID, id=int(webhook_id))
    if row is None or row["removed_at"]:
        raise NotFound(f"webhook {webhook_id} not found (`lablift webhooks list` shows them)")
    now = utcnow()
    with store.transaction() as conn:
        from .store.sql import inserted_id
        did = inserted_id(sql.ADD_TEST.execute(conn, store.engine, {
            "webhook_id": row["id"], "event": TEST_EVENT, "delivery_id": secrets_mod.token_hex(16),
            "state": "pending", "attempts": 1, "next_attempt_at": _iso(
                _now() + timedelta(seconds=LEASE_S)), "created_at": now}), store.engine)
    with _lock:
        _inflight.add(did)
    return attempt(store, did)


# -- in-process delivery after COMMIT ----------------------------------------------------------
_lock = threading.Lock()
_threads: dict[int, threading.Thread] = {}
_again: set[int] = set()
_inflight: set[int] = set()  # deliveries this process claimed and has not settled
# At exit a process waits this long in all for its deliveries; the rest stay in the outbox
# (an attempt in flight is retried, counted, after LEASE_S). Short: a receiver that hangs
# must not hold a CLI command for its 10 s timeout.
EXIT_WAIT_S = 2.0
_exit_deadline: float | None = None


def kick(store: "Store") -> None:
    """Deliver what is due in a background thread, once the caller's transaction (if any)
    has ended: a rolled-back event has no delivery left to send."""
    key = id(store)
    origin = getattr(store._local, "conn", None)
    with _lock:
        running = _threads.get(key)
        if running is not None and running.is_alive():
            _again.add(key)
            return
        thread = threading.Thread(target=_run, args=(store, key, origin),
                                  name="lablift-webhooks", daemon=True)
        _threads[key] = thread
    thread.start()


def _in_transaction(conn) -> bool:
    if conn is None:
        return False
    if hasattr(conn, "in_transaction"):  # sqlite3
        return conn.in_transaction
    raw = getattr(conn, "raw", None)  # the team store's psycopg connection
    if raw is None or raw.closed:
        return False
    return raw.info.transaction_status != 0  # psycopg.pq.TransactionStatus.IDLE


def _run(store: "Store", key: int, origin=None) -> None:
    # Wait for the event's transaction to end, rather than queue on its write lock (which
    # would report "waiting for another Lablift process" on a long transaction).
    deadline = time.monotonic() + 600
    while _in_transaction(origin) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        while True:
            try:
                deliver_due(store)
            except Exception:  # noqa: BLE001 - the event is safe in the outbox: retried later
                pass
            with _lock:
                if key not in _again:
                    _threads.pop(key, None)
                    return
                _again.discard(key)
    finally:
        with _lock:
            if _threads.get(key) is threading.current_thread():
                _threads.pop(key, None)


def wait_idle(timeout_s: float) -> bool:
    """Wait for the background deliveries of this process (at exit; tests)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with _lock:
            alive = [t for t in _threads.values() if t.is_alive()]
        if not alive:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        alive[0].join(min(left, 0.5))


def wait_exit(timeout_s: float = EXIT_WAIT_S) -> tuple[int, bool]:
    """At exit: wait for this process's background deliveries, at most `timeout_s` however
    often it is called; returns (attempts still in flight, whether any deliverer is left)."""
    global _exit_deadline
    if _exit_deadline is None:
        _exit_deadline = time.monotonic() + timeout_s
    idle = wait_idle(max(0.0, _exit_deadline - time.monotonic()))
    with _lock:
        return len(_inflight), not idle


def exit_note(inflight: int, left: bool) -> str:
    """The one line a CLI prints when it exits with deliveries unsent ('' when none)."""
    if not left:
        return ""
    what = (f"{inflight} webhook deliver{'y' if inflight == 1 else 'ies'} got no answer "
            f"within {EXIT_WAIT_S:g} s" if inflight
            else "webhook deliveries of this command were not sent yet")
    return (f"{what}; left in the outbox: `lablift webhooks deliver` (or the desktop app) "
            f"sends {'it' if inflight == 1 else 'them'}"
            + (f" (an unanswered attempt is retried after {LEASE_S:g} s)" if inflight else ""))


atexit.register(wait_exit)  # silent here; the CLI says what was left (cli/webhooks.py)
