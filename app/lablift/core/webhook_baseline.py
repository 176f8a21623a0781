"""Witnesses for the webhook rows of a store made before they were governed (schema 7).

Called by the Store inside the migration's transaction (embedded store; a team store's
migration 0007 does the same in SQL). Unlike the 0003 baseline, rows are not witnessed as
found: only a row that its own `webhook.add` entry describes (the URL's sha256, the events,
who added it) and, if removed, its `webhook.remove` entry. A row someone wrote into
lineage.db by hand, or whose URL or events were changed, stays unrecorded and `audit
verify` names it. (A secret changed by hand before the upgrade cannot be told: the log
never held it.)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from . import witness
from .store.sql import repository

sql = repository("webhooks")


def _dicts(cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, tuple(r))) for r in cursor.fetchall()]


def baseline_witnesses(conn) -> dict[str, Any]:
    """Details of the baseline entry ({'table', 'witness', 'not_witnessed'}), or {} when
    there is nothing to witness or webhook rows were witnessed before (a schema number set
    back by hand must not re-witness rows edited meanwhile)."""
    if sql.WITNESSED_BEFORE.execute(conn, "sqlite", {"key": '"webhooks:'}).fetchone():
        return {}
    hooks = _dicts(sql.ALL_HOOKS.execute(conn, "sqlite", {}))
    if not hooks:
        return {}
    entries: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in _dicts(sql.HOOK_ENTRIES.execute(conn, "sqlite", {})):
        entries.setdefault((e["action"], e["entity"]), []).append(e)

    def described(row: dict[str, Any]) -> bool:
        entity = f"webhook:{row['id']}"
        url_sha = hashlib.sha256(row["url"].encode()).hexdigest()
        try:
            events = json.loads(row["events"])
        except ValueError:
            return False
        added = any(e["user"] == row["created_by"] and d.get("url_sha256") == url_sha
                    and d.get("events") == events
                    for e in entries.get(("webhook.add", entity), [])
                    for d in [json.loads(e["details"])])
        removed = row["removed_at"] is None or (row["secret"] == "" and any(
            e["user"] == row["removed_by"] for e in entries.get(("webhook.remove", entity), [])))
        return added and removed

    ok = [r for r in hooks if described(r)]
    out: dict[str, Any] = {"table": "webhooks",
                           "not_witnessed": [r["id"] for r in hooks if r not in ok]}
    if ok:
        out["witness"] = dict(sorted((witness.row_key("webhooks", [r["id"]]),
                                      witness.row_digest("webhooks", r)) for r in ok))
    return out
