"""Aliases of a model: set, remove, their history, and rollback (re-exported by core/registry).

An alias is one row (model, alias) -> version; its past targets live in the audit chain, as
the `alias.set` / `alias.remove` entries of entity `model:NAME`, in order. A rollback is an
ordinary alias move (the same rules, in the same transaction as its audit entry, and on a team
store the same server-side trigger), recorded as `alias.set` with `"rollback": true`.

Which version a rollback goes to: the history is replayed as a stack of targets (a set pushes
its target, a removal pushes a gap, a rollback pops back to the version it moved to), and the
rollback takes the newest entry below the current target that the alias may still point at
(approved for `production`/`champion`, never rejected or archived). So rolling back twice goes
two steps back, never forward again to the version just rolled back from.
"""

from __future__ import annotations

from typing import Any

from . import audit
from .errors import LabliftError, NotFound
from .registry import (ALIAS_RE, _run, approved_only_aliases, get_version, require_verified,
                       resolve_version, sql)
from .store import Store, utcnow

ACTIONS = ("alias.set", "alias.remove")


def _clean_alias(alias: str) -> str:
    # Aliases are lower case: 'Production' is production, with production's rule.
    alias = (alias or "").strip().lower()
    if not ALIAS_RE.match(alias):
        raise LabliftError(f"alias {alias!r} is not allowed: start with a letter, then letters, "
                           f"digits, '_', '-' or '.'")
    return alias


def _refusal(store: Store, v: dict[str, Any], alias: str) -> str | None:
    """Why `alias` may not point at version `v` (the rules the team store's trigger has too)."""
    if v["status"] in ("rejected", "archived"):
        return f"version {v['ref']} is {v['status']}: no alias may point at it"
    if alias in [a.lower() for a in approved_only_aliases(store)] and v["status"] != "approved":
        return (f"alias {alias!r} may only point at an approved version; {v['ref']} is "
                f"{v['status']}")
    return None


def set_alias(store: Store, ref: str, alias: str) -> dict[str, Any]:
    """Point `alias` of the version's model at it (ops or admin); audited with old and new."""
    store.require_role("setting an alias", "ops")
    alias = _clean_alias(alias)
    v = resolve_version(store, ref)
    with store.transaction():
        v = get_version(store, v["id"])  # read inside the write: no decision meanwhile
        why = _refusal(store, v, alias)
        if why:
            raise LabliftError(why)
        require_verified(store, v, f"pointing {alias!r} at")
        old = store.row(sql.ALIAS_WITH_VERSION, model=v["model"], alias=alias)
        if old and old["version_id"] == v["id"]:
            return {"model": v["model"], "alias": alias, "version": v["version"],
                    "previous": v["version"], "changed": False}
        _run(store, sql.SET_ALIAS, model=v["model"], alias=alias, version_id=v["id"],
             set_by=store.user, set_at=utcnow())
        previous = old["version"] if old else None
        audit.append(store, "alias.set", f"model:{v['model']}", {
            "alias": alias, "old": f"{v['model']}:{previous}" if previous else None,
            "new": v["ref"]})
    return {"model": v["model"], "alias": alias, "version": v["version"],
            "previous": previous, "changed": True}


def remove_alias(store: Store, name: str, alias: str) -> dict[str, Any]:
    store.require_role("removing an alias", "ops")
    alias = (alias or "").strip().lower()
    with store.transaction():
        old = store.row(sql.ALIAS_WITH_VERSION, model=name, alias=alias)
        if old is None:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        _run(store, sql.REMOVE_ALIAS, model=name, alias=alias)
        audit.append(store, "alias.remove", f"model:{name}",
                     {"alias": alias, "old": f"{name}:{old['version']}"})
    return {"model": name, "alias": alias, "previous": old["version"]}


# -- history and rollback ------------------------------------------------------------------------
def alias_history(store: Store, name: str, alias: str | None = None) -> list[dict[str, Any]]:
    """Every move of the model's aliases (or of `alias`), oldest first, from the audit chain:
    {seq, at, user, alias, move ('set' | 'removed' | 'rolled back'), from, to} (refs or None)."""
    want = alias.strip().lower() if alias else None
    out = []
    for e in store.rows(sql.ALIAS_HISTORY, entity=f"model:{name}"):
        d = e["details"] if isinstance(e.get("details"), dict) else {}
        if not d.get("alias") or (want and d["alias"] != want):
            continue
        removed = e["action"] == "alias.remove"
        out.append({"seq": e["seq"], "at": e["ts"], "user": e["user"], "alias": d["alias"],
                    "move": "removed" if removed else
                    ("rolled back" if d.get("rollback") else "set"),
                    "from": d.get("old"), "to": None if removed else d.get("new")})
    return out


def _targets(moves: list[dict[str, Any]]) -> list[str | None]:
    """The history as a stack of targets (None: a gap where the alias was removed)."""
    stack: list[str | None] = []
    for m in moves:
        if m["move"] == "rolled back" and m["to"] in stack:
            while stack and stack[-1] != m["to"]:
                stack.pop()
        elif m["move"] == "removed":
            stack.append(None)
        else:
            stack.append(m["to"])
    return stack


def _history_text(moves: list[dict[str, Any]]) -> str:
    words = {"set": "{to}", "removed": "removed", "rolled back": "rolled back to {to}"}
    return ", ".join(words[m["move"]].format(to=m["to"]) for m in moves) or "none recorded"


def rollback_plan(store: Store, name: str, alias: str = "production") -> dict[str, Any]:
    """Where a rollback of `alias` would go: {model, alias, from, to, history, skipped}; raises
    with the reason when there is nowhere to go. Reads only (the GUI asks before it acts)."""
    alias = _clean_alias(alias)
    if not store.row(sql.MODEL_EXISTS, name=name):
        raise NotFound(f"model {name!r} not found")
    current = store.row(sql.ALIAS_WITH_VERSION, model=name, alias=alias)
    moves = alias_history(store, name, alias)
    if current is None:
        raise LabliftError(f"{name} has no alias {alias!r} to roll back (history: "
                           f"{_history_text(moves)})")
    current_ref = f"{name}:{current['version']}"
    stack = _targets(moves)
    if stack and stack[-1] == current_ref:
        stack = stack[:-1]
    skipped = []
    approved_only = alias in [a.lower() for a in approved_only_aliases(store)]
    for ref in reversed(stack):
        if ref is None or ref == current_ref or ref in [s["ref"] for s in skipped]:
            continue
        try:
            v = resolve_version(store, ref)
        except NotFound:
            continue
        why = _refusal(store, v, alias)
        if why is None:
            return {"model": name, "alias": alias, "from": current_ref, "to": v["ref"],
                    "to_version": v["version"], "from_version": current["version"],
                    "from_id": current["version_id"],
                    "history": moves, "skipped": skipped}
        skipped.append({"ref": v["ref"], "status": v["status"]})
    kind = "approved version" if approved_only else "version that is not rejected or archived"
    also = "; " + ", ".join(f"{s['ref']} is {s['status']}" for s in skipped) if skipped else ""
    raise LabliftError(f"{name} has no earlier {kind} for {alias!r} to roll back to (history: "
                       f"{_history_text(moves)}{also})")


def rollback_alias(store: Store, name: str, alias: str = "production",
                   expect: str | None = None) -> dict[str, Any]:
    """Move `alias` back to its previous target that it may still point at (ops or admin).

    `expect` (NAME:VERSION): refuse if the rollback would now go elsewhere (the GUI's
    confirmation named that version). Audited as alias.set with old, new and rollback."""
    store.require_role("setting an alias", "ops")
    alias = _clean_alias(alias)
    name = name.strip()
    with store.transaction():  # history, target and move in one write: no move meanwhile
        plan = rollback_plan(store, name, alias)
        if expect is not None and plan["to"] != expect:
            raise LabliftError(f"rolling back {name}:{alias} now goes to {plan['to']}, not "
                               f"{expect}: the alias or a version changed meanwhile")
        v = resolve_version(store, plan["to"])
        require_verified(store, v, f"rolling {alias!r} back to")
        # conditional on the target it had: a concurrent move makes this one refuse
        n = _run(store, sql.MOVE_ALIAS, model=name, alias=alias, version_id=v["id"],
                 old_version_id=plan["from_id"],
                 set_by=store.user, set_at=utcnow()).rowcount
        if n != 1:
            raise LabliftError(f"{name}:{alias} was moved meanwhile; look again and retry")
        audit.append(store, "alias.set", f"model:{name}", {
            "alias": alias, "old": plan["from"], "new": plan["to"], "rollback": True})
    return {"model": name, "alias": alias, "version": v["version"],
            "previous": plan["from_version"], "changed": True, "rollback": True,
            "from": plan["from"], "to": plan["to"],
            "skipped": [s["ref"] for s in plan["skipped"]]}
