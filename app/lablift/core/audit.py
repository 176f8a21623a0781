"""Hash-chained audit log: every change of state appends one entry in the same transaction.

hash = sha256(prev_hash + canonical JSON of (seq, ts, user, action, entity, details)).
Editing, deleting or reordering rows breaks the chain; `verify` names the first broken entry.
The head (last seq and hash) is also kept in settings, so truncating the tail is detected.
This makes tampering with the SQLite file detectable; it is not access control against
someone who can write the file (they could rewrite the whole chain).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store

GENESIS = "0" * 64


# Encoders built once (json.dumps with options builds one per call); same output as
# json.dumps with these options, so existing chains still verify.
_body_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_details_json = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False).encode
_str_json = json.encoder.encode_basestring  # what ensure_ascii=False uses for a str
_HEAD_SQL = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_INSERT_SQL = ("INSERT INTO audit_log (seq, ts, user, action, entity, details, prev_hash, hash)"
               " VALUES (?,?,?,?,?,?,?,?)")
_HEAD_SETTING_SQL = ("INSERT INTO settings (key, value) VALUES ('audit_head', ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value")


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
    from .store import utcnow
    details_json = _details_json(details or {})
    with store.transaction() as conn:
        # The head is read inside the write transaction (BEGIN IMMEDIATE holds the write lock),
        # so two processes appending at once cannot fork the chain.
        head = conn.execute(_HEAD_SQL).fetchone()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        ts = ts or utcnow()
        h = entry_hash(prev, seq, ts, store.user, action, entity, details_json)
        conn.execute(_INSERT_SQL, (seq, ts, store.user, action, entity, details_json, prev, h))
        # the value json.dumps({"seq": seq, "hash": h}) would give (seq: int, h: hex)
        conn.execute(_HEAD_SETTING_SQL, (f'{{"seq": {seq}, "hash": "{h}"}}',))
    return seq


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    head: str
    broken_seq: int | None = None
    reason: str = ""


def verify(store: "Store") -> VerifyResult:
    prev = GENESIS
    expected_seq = 1
    count = 0
    for row in store.execute("SELECT seq, ts, user, action, entity, details, prev_hash, hash "
                             "FROM audit_log ORDER BY seq"):
        seq, ts, user, action, entity, details, prev_hash, h = tuple(row)
        if seq != expected_seq:
            return VerifyResult(False, count, prev, expected_seq,
                                f"entry {expected_seq} is missing (next entry is {seq})")
        if prev_hash != prev:
            return VerifyResult(False, count, prev, seq,
                                f"entry {seq} ({action} {entity}) does not follow entry "
                                f"{seq - 1}: its previous hash does not match")
        if entry_hash(prev_hash, seq, ts, user, action, entity, details) != h:
            return VerifyResult(False, count, prev, seq,
                                f"entry {seq} ({action} {entity}) was altered: its content "
                                f"does not match its hash")
        prev = h
        expected_seq += 1
        count += 1
    head = store.setting("audit_head")
    if head and (head.get("seq") != count or head.get("hash") != prev):
        return VerifyResult(False, count, prev, count + 1 if head.get("seq", 0) > count else count,
                            f"the log ends at entry {count} but the recorded head is entry "
                            f"{head.get('seq')}: entries were removed or the head was altered")
    return VerifyResult(True, count, prev)


def entries(store: "Store", entity: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    if entity:
        return store.query("SELECT * FROM audit_log WHERE entity = ? ORDER BY seq DESC LIMIT ?",
                           (entity, limit))
    return store.query("SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?", (limit,))
