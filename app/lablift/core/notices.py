"""Who an event concerns: the audit entries of the webhook events (core/webhooks.EVENTS)
that a user should hear of, for the desktop app's notices (gui/event_notifier.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .store.sql import repository
from .webhooks import EVENTS

if TYPE_CHECKING:
    from .store import Store

sql = repository("webhooks")  # statements: core/store/webhooks.py


def events_since(store: "Store", seq: int, limit: int = 200) -> list[dict[str, Any]]:
    return store.rows(sql.SINCE, seq=int(seq), limit=limit)


def concerning(store: "Store", user: str, entries: list[dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """The entries (from events_since) that concern `user`, as {seq, event, title, text,
    ref}: a reviewer hears of versions pending review (not their own), whoever registered or
    trained a version hears of its decision and its alerts, ops hear of alerts and
    challengers."""
    role = store.role(user)
    me = user.lower()
    out = []
    for e in entries:
        action, actor = e["action"], str(e["user"])
        if actor.lower() == me:
            continue  # what I did myself
        details = e["details"] if isinstance(e["details"], dict) else {}
        ref = e["entity"].partition(":")[2]
        model, _, version = ref.rpartition(":")
        people = store.row(sql.PEOPLE_OF_VERSION, model=model,
                           version=int(version) if version.isdigit() else -1) or {}
        mine = me in {str(people.get("created_by") or "").lower(),
                      str(people.get("trainer") or "").lower()}
        text = ""
        if action == "version.register" and role in ("reviewer", "admin") and not mine:
            failed = details.get("failed") or []
            text = (f"{ref} is pending review (registered by {actor}"
                    + (f"; {len(failed)} check{'s' if len(failed) != 1 else ''} failed"
                       if failed else "") + ")")
        elif action in ("version.approve", "version.reject") and mine:
            verb = "approved" if action == "version.approve" else "rejected"
            comment = details.get("comment") or ""
            text = f"{ref} was {verb} by {actor}" + (f": {comment}" if comment else "")
        elif action == "version.attention" and (mine or role == "ops"):
            text = f"alert on {ref}: {details.get('message', '')}"
        elif action == "monitor.retrain":
            champion = str(details.get("champion") or "")
            m2, _, v2 = champion.rpartition(":")
            owners = store.row(sql.PEOPLE_OF_VERSION, model=m2,
                               version=int(v2) if v2.isdigit() else -1) or {}
            if role == "ops" or me in {str(owners.get("created_by") or "").lower(),
                                       str(owners.get("trainer") or "").lower()}:
                text = f"challenger {ref} of {champion} is ready (pending review)"
        if text:
            out.append({"seq": e["seq"], "event": action, "title": EVENTS[action][:1].upper()
                        + EVENTS[action][1:], "text": text, "ref": ref})
    return out


def head_seq(store: "Store") -> int:
    from . import audit
    return audit.head(store)["seq"]
