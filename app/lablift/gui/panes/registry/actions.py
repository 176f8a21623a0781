"""Why each Registry action is not open to the user on the shown version, in the core's words
(the role check the core makes, its status rules, the rollback plan it would follow), so a
disabled button's tooltip says what the core would refuse with."""

from __future__ import annotations

from typing import Any

OK_TIPS = {
    "alias": "Point an alias (production, staging, …) at this version; production needs an "
             "approved version",
    "archive": "Archive this version",
    "export": "Export a bundle that runs without Lablift",
    "card": "Write the model card's narrative sections (intended use, factors, ethics, "
            "caveats)",
}
LABELS = {"alias": "Set alias", "rollback": "Roll back", "archive": "Archive",
          "export": "Export", "card": "Edit card"}


def reasons(d: dict[str, Any], refusals: dict[str, str | None],
            exporting: bool) -> dict[str, str | None]:
    """{action: why not, or None} for version detail `d` (from data.read_detail)."""
    status, ref = d["status"], d["ref"]
    alias = refusals.get("alias")
    if alias is None and status in ("rejected", "archived"):
        alias = f"version {ref} is {status}: no alias may point at it"
    # Rolling back moves the model's alias whichever of its versions is shown.
    rollback = refusals.get("alias") or (d.get("rollback") or {}).get("refusal")
    archive = refusals.get("archive")
    if archive is None and status == "archived":
        archive = f"version {ref} is already archived"
    if archive is None and d.get("aliases"):
        archive = (f"version {ref} is aliased as {', '.join(d['aliases'])}: move or remove "
                   f"the alias before archiving it")
    export = refusals.get("export")
    if export is None and status != "approved":
        export = f"version {ref} is {status}: only an approved version can be exported"
    if export is None and exporting:
        export = "an export is running"
    card = refusals.get("card")
    if card is None and status != "pending":
        card = (f"the model card of {ref} is frozen: the version is {status} (narrative "
                f"fields can only be edited while it is pending)")
    return {"alias": alias, "rollback": rollback, "archive": archive, "export": export,
            "card": card}


def ok_tip(key: str, d: dict[str, Any]) -> str:
    if key == "rollback":
        plan = (d.get("rollback") or {}).get("plan") or {}
        return (f"Move {plan.get('model')}:{plan.get('alias')} back from {plan.get('from')} "
                f"to {plan.get('to')}, its previous target that is still approved")
    return OK_TIPS[key]


def notes(why: dict[str, str | None], role: str | None) -> list[str]:
    """The lines under the buttons: what is closed and why. Not the rollback (having nowhere
    to roll back to is the normal state) and the card only for those who could edit cards."""
    out = []
    for key in ("alias", "archive", "export", "card"):
        if key == "card" and role not in ("analyst", "admin"):
            continue
        if why.get(key):
            out.append(f"{LABELS[key]}: {why[key]}")
    return out
