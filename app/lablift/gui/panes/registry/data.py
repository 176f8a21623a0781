"""What the Registry pane reads in its workers: the listing with the role checks, and the
selected version's detail with where a rollback of its model's production alias would go."""

from __future__ import annotations

from typing import Any

from ....core import registry
from ....core.errors import LabliftError, PermissionDenied
from .common import ROLE_CHECKS, ROLLBACK_ALIAS


def _role_refusal(store, action: str, *roles: str) -> str | None:
    """The core's refusal for a role check (no write), or None if the user may."""
    try:
        store.require_role(action, *roles)
    except PermissionDenied as exc:
        return str(exc)
    return None


def resolve_listed(ref: int | str | None, versions: list[dict[str, Any]]) -> int | None:
    """The id of the listed version `ref` names (an id, NAME:VERSION, NAME:ALIAS or NAME for
    its latest version), or None: the registry's own resolution, on what is listed."""
    if ref is None:
        return None
    text = str(ref).strip()
    if text.isdigit():
        return next((v["id"] for v in versions if v["id"] == int(text)), None)
    name, sep, tail = text.partition(":")
    mine = [v for v in versions if v["model"] == name]
    if not sep:
        return max(mine, key=lambda v: v["version"])["id"] if mine else None
    if tail.isdigit():
        return next((v["id"] for v in mine if v["version"] == int(tail)), None)
    return next((v["id"] for v in mine if tail.lower() in (v.get("aliases") or [])), None)


def read_detail(store, version_id: int | str) -> dict[str, Any]:
    """version_detail() plus `rollback`: {"plan": core.registry.rollback_plan()} or
    {"refusal": the core's reason there is nowhere to roll back to}."""
    detail = registry.version_detail(store, version_id)
    try:
        detail["rollback"] = {"plan": registry.rollback_plan(store, detail["model"],
                                                             ROLLBACK_ALIAS)}
    except LabliftError as exc:
        detail["rollback"] = {"refusal": str(exc)}
    return detail


def read_registry(store, keep: int | str | None) -> dict[str, Any]:
    """The worker's read for `refresh`: versions, models, the role checks, and the detail of
    `keep` if listed, else of the first model's latest version."""
    versions = registry.list_versions(store)
    models = registry.list_models(store)
    target = resolve_listed(keep, versions)
    if target is None and versions:
        first = versions[0]["model"]
        target = [v for v in versions if v["model"] == first][-1]["id"]
    return {"versions": versions, "models": models, "role": store.role(),
            "refusals": {key: _role_refusal(store, action, *roles)
                         for key, action, roles in ROLE_CHECKS},
            "detail": read_detail(store, target) if target is not None else None}
