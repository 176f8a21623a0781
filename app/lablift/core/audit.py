"""Hash-chained audit log: every change of state appends one entry in the same transaction.

hash = sha256(prev_hash + canonical JSON of (seq, ts, user, action, entity, details)).
Editing, deleting or reordering entries breaks the chain; `verify` names the first broken
entry. The head (last seq and hash) is also kept in settings, so truncating the tail is
detected. Each entry's details carry `rows`: the content hash of every governed row the
transaction created, changed or deleted (core/witness.py), so `verify` also re-derives what
the tables must hold and names every row that differs from the log.

This makes tampering with the SQLite file detectable; it is not access control against
someone who can write the file: they could rewrite the whole chain, which only a head hash
kept outside the store (`lablift audit head`, every bundle's manifest) reveals.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import witness
from .store.sql import repository

audit_sql = repository("audit")
settings_sql = repository("settings")


if TYPE_CHECKING:
    from .store import Store

GENESIS = "0" * 64
WITNESS_KEY = "witness"  # details[WITNESS_KEY]: {row key: digest or None (deleted)}
ORIGIN_KEY = "origin"  # details[ORIGIN_KEY]: {login, host} of the process that wrote it
# actions webhooks may subscribe to (core/webhooks.EVENTS; kept here so appending imports
# nothing more for the other actions)
NOTIFIED = frozenset(("version.register", "version.approve", "version.reject",
                      "version.attention", "monitor.retrain"))


# Encoders built once (json.dumps with options builds one per call); same output as
# json.dumps with these options, so existing chains still verify.
_body_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_details_json = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False).encode
_str_json = json.encoder.encode_basestring  # what ensure_ascii=False uses for a str


def entry_hash(prev_hash: str, seq: int, ts: str, user: str, action: str, entity: str,
               details: str) -> str:
    if type(seq) is int and all(type(v) is str for v in (ts, user, action, entity, details)):
        # byte-for-byte what _body_json gives for these types, without building an encoder
        body = (f"[{seq},{_str_json(ts)},{_str_json(user)},{_str_json(action)},"
                f"{_str_json(entity)},{_str_json(details)}]")
    else:
        body = _body_json([seq, ts, user, action, entity, details])
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append(store: "Store", action: str, entity: str, details: dict[str, Any] | None = None,
           ts: str | None = None) -> int:
    """Append an entry; call inside the transaction that makes the change.

    `ts` lets a caller reuse the timestamp it already wrote on the changed row.
    """
    if store.engine != "sqlite":
        # The server appends (lablift_audit): it hashes the chain under its lock, takes the
        # row witnesses and names the session user; `ts` is the server's clock.
        with store.transaction() as conn:
            seq = audit_sql.APPEND_TEAM.execute(conn, store.engine, {
                "action": action, "entity": entity,
                "details": _details_json({**(details or {}), ORIGIN_KEY: origin()})
            }).fetchone()[0]
            if action in NOTIFIED:  # the server queued its deliveries (0006): send them
                from . import webhooks
                webhooks.outbox(store, conn, seq, action)
            return seq
    with store.transaction() as conn:
        rows = witness.take_pending(conn)
        details = {**(details or {}), ORIGIN_KEY: origin()}
        if rows:
            details[WITNESS_KEY] = rows
        seq = write_entry(conn, store.user, action, entity, details, ts)
        if action in NOTIFIED:  # the webhook outbox, in this entry's transaction
            from . import webhooks
            webhooks.outbox(store, conn, seq, action)
        store._local.witnessed_at = conn.total_changes  # see Store.transaction
        return seq


@functools.lru_cache(maxsize=1)
def origin() -> dict[str, str]:
    """The operating-system login and host behind an entry: on an embedded store the user
    name is only claimed (--user), so the entry also says who really ran it, and where."""
    import getpass
    import socket
    try:
        login = getpass.getuser()
    except Exception:  # no login name (some containers)
        login = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return {"login": login, "host": socket.gethostname()}


def write_entry(conn, user: str, action: str, entity: str, details: dict[str, Any] | None,
                ts: str | None = None) -> int:
    """The chain's next entry on `conn`, which must be inside a write transaction."""
    from .store import utcnow
    details_json = _details_json(details or {})
    # The head is read inside the write transaction (BEGIN IMMEDIATE holds the write lock),
    # so two processes appending at once cannot fork the chain.
    head = audit_sql.HEAD.execute(conn, "sqlite").fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    ts = ts or utcnow()
    h = entry_hash(prev, seq, ts, user, action, entity, details_json)
    audit_sql.APPEND_EMBEDDED.execute(conn, "sqlite", {
        "seq": seq, "ts": ts, "user": user, "action": action, "entity": entity,
        "details": details_json, "prev_hash": prev, "hash": h})
    # the value json.dumps({"seq": seq, "hash": h}) would give (seq: int, h: hex)
    settings_sql.UPSERT.execute(conn, "sqlite", {
        "key": "audit_head", "value": f'{{"seq": {seq}, "hash": "{h}"}}'})
    return seq


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    head: str
    broken_seq: int | None = None
    reason: str = ""
    # governed rows that differ from what the log says: {key, problem, seq, action, message}
    problems: list[dict[str, Any]] = field(default_factory=list)

    def summary(self, limit: int = 3) -> str:
        if self.broken_seq is not None:
            return f"audit log broken at entry {self.broken_seq}: {self.reason}"
        shown = "; ".join(p["message"] for p in self.problems[:limit])
        more = len(self.problems) - limit
        return (f"{len(self.problems)} governed row{'s' if len(self.problems) != 1 else ''} "
                f"differ{'s' if len(self.problems) == 1 else ''} from the audit log: {shown}"
                + (f"; and {more} more (lablift audit verify --json lists all)"
                   if more > 0 else ""))


Expected = dict[str, tuple[str | None, int, str, str]]  # key -> (digest, seq, action, entity)


def _walk(store: "Store", head: str | None = None) -> tuple[VerifyResult, Expected]:
    """Recompute the chain; replay the row witnesses to what each governed row must hold."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    expected: Expected = {}
    wanted = head.lower().strip() if head else None
    found_head = wanted is None
    for row in audit_sql.CHAIN.execute(store.conn, store.engine):
        seq, ts, user, action, entity, details, prev_hash, h = tuple(row)
        if seq != expected_seq:
            return VerifyResult(False, count, prev, expected_seq,
                                f"entry {expected_seq} is missing (next entry is {seq})"), {}
        if prev_hash != prev:
            return VerifyResult(False, count, prev, seq,
                                f"entry {seq} ({action} {entity}) does not follow entry "
                                f"{seq - 1}: its previous hash does not match"), {}
        if entry_hash(prev_hash, seq, ts, user, action, entity, details) != h:
            return VerifyResult(False, count, prev, seq,
                                f"entry {seq} ({action} {entity}) was altered: its content "
                                f"does not match its hash"), {}
        if '"witness"' in details:  # parse only the entries that may witness rows
            rows = json.loads(details).get(WITNESS_KEY)
            if isinstance(rows, dict):
                for key, digest in rows.items():
                    expected[key] = (digest, seq, action, entity)
        if not found_head and (h == wanted or (len(wanted) >= 12 and h.startswith(wanted))):
            found_head = True
        prev = h
        expected_seq += 1
        count += 1
    try:
        recorded = store.setting("audit_head")
    except ValueError:
        recorded = "unreadable"
    if count and not (isinstance(recorded, dict) and isinstance(recorded.get("seq"), int)):
        return VerifyResult(False, count, prev, count,
                            f"the log has {count} entries but its recorded head is "
                            f"{'missing' if recorded is None else 'malformed'}: the head "
                            f"setting was deleted or edited outside Lablift"), {}
    if recorded and (recorded.get("seq") != count or recorded.get("hash") != prev):
        return VerifyResult(False, count, prev,
                            count + 1 if recorded.get("seq", 0) > count else count,
                            f"the log ends at entry {count} but the recorded head is entry "
                            f"{recorded.get('seq')}: entries were removed or the head was "
                            f"altered"), {}
    if not found_head:
        return VerifyResult(False, count, prev, count + 1,
                            f"the chain does not contain the head {head.strip()[:16]}… that "
                            f"was recorded outside the store: the log was rewritten, or this "
                            f"is another store"), {}
    return VerifyResult(True, count, prev), expected


def _schema_problems(store: "Store") -> list[dict[str, Any]]:
    """Lablift keeps no trigger or view in lineage.db (its witnesses are TEMP triggers of
    its own connections): one found there can change rows behind the log's back. (A team
    store's triggers are the server's rules; its tables can be altered only by their owner.)"""
    if store.engine != "sqlite":
        return []
    return [{"key": f"schema:{kind}:{name}", "problem": "foreign", "seq": None, "action": None,
             "message": f"{kind} {name!r} in lineage.db is not Lablift's: it could change "
                        f"rows behind the audit log's back"}
            for kind, name in store.execute("SELECT type, name FROM main.sqlite_master WHERE "
                                            "type IN ('trigger', 'view') ORDER BY name")]


def _compare(current, expected: Expected, must_exist: set[str] | None = None
             ) -> list[dict[str, Any]]:
    problems = []
    seen = set()
    for key, digest in current:
        seen.add(key)
        want = expected.get(key)
        if want is None:
            problems.append({"key": key, "problem": "unrecorded", "seq": None, "action": None,
                             "message": f"{key} is not in the audit log: it was written "
                                        f"outside Lablift"})
        elif want[0] != digest:
            problems.append({"key": key, "problem": "changed", "seq": want[1],
                             "action": want[2],
                             "message": f"{key} differs from what the audit log says (last "
                                        f"written by entry {want[1]}, {want[2]})"})
    for key in (expected if must_exist is None else must_exist):
        want = expected.get(key)
        if key not in seen and want is not None and want[0] is not None:
            problems.append({"key": key, "problem": "deleted", "seq": want[1],
                             "action": want[2],
                             "message": f"{key} was deleted outside Lablift (last written "
                                        f"by entry {want[1]}, {want[2]})"})
    return problems


def verify(store: "Store", head: str | None = None) -> VerifyResult:
    """The chain, then every governed row against what the chain says it must hold."""
    if head is not None and not head.strip():
        return VerifyResult(False, 0, GENESIS, 0, "--head needs the hash that `lablift audit "
                                                  "head` printed")
    result, expected = _walk(store, head)
    if result.ok:
        result.problems = _schema_problems(store) + _compare(witness.current_rows(store.conn, engine=store.engine),
                                                             expected)
        result.ok = not result.problems
    return result


def verify_version(store: "Store", version: dict[str, Any]) -> VerifyResult:
    """The chain, then the rows a decision on `version` relies on: the version, its model,
    aliases, checks, approvals and bundles, its run and the run's dataset."""
    result, expected = _walk(store)
    if not result.ok:
        return result
    run = store.row(audit_sql.RUN_DATASET, id=version["run_id"])
    vid = version["id"]
    where = {"settings": ("key != 'audit_head'", ()),  # the policy a decision follows
             "model_versions": ("id = ?", (vid,)),
             "models": ("name = ?", (version["model"],)),
             "aliases": ("model = ?", (version["model"],)),
             "checks": ("version_id = ?", (vid,)),
             "approvals": ("version_id = ?", (vid,)),
             "bundles": ("version_id = ?", (vid,)),
             "batches": ("version_id = ?", (vid,)),
             "alerts": ("version_id = ?", (vid,)),
             "runs": ("id = ?", (version["run_id"],)),
             "datasets": ("id = ?", (run["dataset_id"] if run else -1,))}
    entity = f"model_version:{version['model']}:{version['version']}"
    must = {f"model_versions:{vid}", f"runs:{version['run_id']}", f"models:{version['model']}"}
    must |= {k for k, want in expected.items()
             if want[3] == entity or k.startswith((f"aliases:{version['model']}/", "settings:"))}
    result.problems = _schema_problems(store) + _compare(
        witness.current_rows(store.conn, where, where, engine=store.engine), expected, must)
    result.ok = not result.problems
    return result


def head(store: "Store") -> dict[str, Any]:
    row = audit_sql.HEAD.execute(store.conn, store.engine).fetchone()
    return {"seq": row[0], "hash": row[1]} if row else {"seq": 0, "hash": GENESIS}


def entries(store: "Store", entity: str | None = None, limit: int = 1000,
            witnesses: bool = False) -> list[dict[str, Any]]:
    """The latest entries, newest first; `witnesses` keeps the row hashes in details."""
    if entity:
        rows = store.rows(audit_sql.LATEST_OF, entity=entity, limit=limit)
    else:
        rows = store.rows(audit_sql.LATEST, limit=limit)
    if not witnesses:
        for r in rows:
            if isinstance(r.get("details"), dict):
                r["details"].pop(WITNESS_KEY, None)
                r["origin"] = r["details"].pop(ORIGIN_KEY, None)
    return rows
