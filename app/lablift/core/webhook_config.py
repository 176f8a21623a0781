"""Managing webhooks (admins): add, remove, rotate a secret, list. Each change is one write
transaction with its audit entry (webhook rows are governed: core/witness.py); the URL is a
credential, so the log holds only its host and digest, and never a secret. core/webhooks.py
re-exports these with the delivery side; docs/webhooks.md is the contract.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets as secrets_mod
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import LabliftError, NotFound
from .store.sql import repository

if TYPE_CHECKING:
    from .store import Store

sql = repository("webhooks")  # statements: core/store/webhooks.py
MIN_SECRET_CHARS = 16


def _check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(
            c.isspace() for c in url):
        raise LabliftError(f"webhook URL {url!r} is not an http:// or https:// URL with a host")
    return url


def parse_events(spec: str | list[str]) -> list[str]:
    from .webhooks import EVENTS
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    if not names:
        raise LabliftError(f"--events needs at least one of: {', '.join(EVENTS)}")
    unknown = [n for n in names if n not in EVENTS]
    if unknown:
        raise LabliftError(f"unknown webhook event {', '.join(map(repr, unknown))}: events "
                           f"are {', '.join(EVENTS)}")
    return names


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "secret"}
    if isinstance(out.get("events"), str):
        out["events"] = json.loads(out["events"])
    return out


def _new_secret(secret: str | None) -> tuple[str, bool]:
    """(the secret, whether it was generated here)."""
    if secret is None:
        return secrets_mod.token_urlsafe(32), True
    if len(secret) < MIN_SECRET_CHARS:
        raise LabliftError(f"a webhook secret needs at least {MIN_SECRET_CHARS} characters "
                           f"(this one has {len(secret)}): anyone who guesses it can forge "
                           f"events")
    return secret, False


def _live(store: "Store", webhook_id: int) -> dict[str, Any]:
    row = store.row(sql.BY_ID, id=int(webhook_id))
    if row is None:
        raise NotFound(f"webhook {webhook_id} not found (`lablift webhooks list` shows them)")
    if row["removed_at"]:
        raise LabliftError(f"webhook {webhook_id} was already removed by {row['removed_by']} "
                           f"at {row['removed_at']}")
    return row


def add(store: "Store", url: str, events: str | list[str], secret: str | None = None
        ) -> dict[str, Any]:
    """Add a webhook (admin). Returns it; with `secret` only when it was generated here (the
    one time it is shown)."""
    from . import audit
    from .store import utcnow
    store.require_role("managing webhooks", "admin")
    url, names = _check_url(url), parse_events(events)
    secret, generated = _new_secret(secret)
    with store.transaction() as conn:
        from .store.sql import inserted_id
        wid = inserted_id(sql.ADD.execute(conn, store.engine, {
            "url": url, "events": json.dumps(names), "secret": secret,
            "created_at": utcnow(), "created_by": store.user}), store.engine)
        # The log is readable by every user: no secret, and the URL only as host and digest
        # (a Slack or Teams webhook URL is itself a credential).
        audit.append(store, "webhook.add", f"webhook:{wid}", {
            "host": urlsplit(url).hostname, "url_sha256": hashlib.sha256(url.encode()).hexdigest(),
            "events": names, "secret": "generated" if generated else "given"})
    out = _public(store.row(sql.BY_ID, id=wid))
    if generated:
        out["secret"] = secret
    return out


def remove(store: "Store", webhook_id: int) -> dict[str, Any]:
    """Remove a webhook (admin): its secret is blanked, its pending deliveries cancelled; the
    row stays for the delivery log."""
    from . import audit
    from .store import utcnow
    store.require_role("managing webhooks", "admin")
    row = _live(store, webhook_id)
    with store.transaction() as conn:
        sql.REMOVE.execute(conn, store.engine, {"id": row["id"], "removed_at": utcnow(),
                                                "removed_by": store.user})
        cancelled = sql.CANCEL_PENDING.execute(conn, store.engine, {
            "id": row["id"], "why": "webhook removed"}).rowcount
        audit.append(store, "webhook.remove", f"webhook:{row['id']}",
                     {"cancelled_deliveries": cancelled})
    return {**_public(store.row(sql.BY_ID, id=row["id"])), "cancelled_deliveries": cancelled}


def rotate(store: "Store", webhook_id: int, secret: str | None = None) -> dict[str, Any]:
    """Give a webhook a new secret (admin), keeping its id, events and delivery log; audited
    (`webhook.rotate`, the row's witness covers the secret). Returns it with `secret` only
    when generated here. Pending deliveries are signed with the new secret when sent."""
    from . import audit
    store.require_role("managing webhooks", "admin")
    row = _live(store, webhook_id)
    secret, generated = _new_secret(secret)
    if hmac.compare_digest(secret.encode(), row["secret"].encode()):
        raise LabliftError(f"webhook {webhook_id} already has this secret: rotating needs a "
                           f"new one")
    with store.transaction() as conn:
        if sql.ROTATE.execute(conn, store.engine, {"id": row["id"], "secret": secret}
                              ).rowcount != 1:  # removed meanwhile by another admin
            raise LabliftError(f"webhook {webhook_id} was removed while rotating its secret")
        pending = sql.PENDING_OF.execute(conn, store.engine, {"id": row["id"]}).fetchone()[0]
        # the log never holds the secret; the row's witness (all columns) covers it
        audit.append(store, "webhook.rotate", f"webhook:{row['id']}", {
            "secret": "generated" if generated else "given", "pending_deliveries": pending})
    out = {**_public(store.row(sql.BY_ID, id=row["id"])), "pending_deliveries": pending}
    if generated:
        out["secret"] = secret
    return out


def list_webhooks(store: "Store") -> list[dict[str, Any]]:
    store.require_role("listing webhooks (their URLs are credentials)", "admin")
    return [_public(r) for r in store.rows(sql.LIVE)]
