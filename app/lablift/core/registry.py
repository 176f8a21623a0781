"""Model registry: models, versions, checks, the approval state machine, aliases.

Statuses: pending -> approved | rejected; any -> archived. A rejected version is never
edited: register the run (or a new one) again and the new version supersedes it.

Governance (DESIGN "Roles and governance"):
- analysts register; reviewers approve/reject (admin may do all);
- four-eyes: whoever trained the run or registered the version can never approve or reject
  it, whatever their role;
- a failing check blocks approval unless the reviewer records an override reason;
- ops (or admin) set aliases; `production` and `champion` (setting
  `registry.approved_only_aliases`) only point at an approved version;
- every change appends to the audit log in the same transaction.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import audit  # gates (numpy, pandas via fairness) only where checks are made
from .errors import LabliftError, NotFound, PermissionDenied
from .store import Store, encode, utcnow
from .store.sql import inserted_id, repository

bundle_sql = repository("bundles")  # statements: core/store/bundles.py
sql = repository("registry")  # statements: core/store/registry.py

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
STATUSES = ("pending", "approved", "rejected", "archived")
APPROVED_ONLY_SETTING = "registry.approved_only_aliases"
DEFAULT_APPROVED_ONLY = ["production", "champion"]
# An override must say why in words: "." or "ok" is not a reason a later reader can weigh.
MIN_OVERRIDE_CHARS = 12
MIN_OVERRIDE_WORDS = 2


# -- lookups -------------------------------------------------------------------------------------
def _decode(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    card = row.get("card")
    if isinstance(card, str):
        try:
            row["card"] = json.loads(card)
        except ValueError:
            row["card"] = {}
    row["card"] = row.get("card") or {}
    row["ref"] = f"{row['model']}:{row['version']}"
    row["name"] = row["model"]
    return row


def _run(store: Store, statement, **params):
    """Run a write statement (core/store/registry.py) with JSON values encoded; the cursor."""
    return statement.execute(store.conn, store.engine,
                             {k: encode(v) for k, v in params.items()})


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise LabliftError(f"model name {name!r} is not allowed: start with a letter, then "
                           f"letters, digits, '_', '-' or '.' (no ':' or spaces), at most 64")
    return name


def get_version(store: Store, version_id: int) -> dict[str, Any]:
    row = _decode(store.row(sql.VERSION_BY_ID, id=version_id))
    if row is None:
        raise NotFound(f"model version id {version_id} not found")
    return row


def _known_models(store: Store) -> str:
    names = [r["name"] for r in store.rows(sql.MODEL_NAMES)]
    return ", ".join(names) or "none yet"


def resolve_version(store: Store, ref: str | int) -> dict[str, Any]:
    """REF: NAME:VERSION, NAME:ALIAS (e.g. churn:production), NAME (latest version) or an id."""
    if isinstance(ref, dict):
        return get_version(store, ref["id"])
    ref_s = str(ref).strip()
    if ref_s.isdigit():
        return get_version(store, int(ref_s))
    name, sep, tail = ref_s.partition(":")
    if not store.row(sql.MODEL_EXISTS, name=name):
        raise NotFound(f"model {name!r} not found (models: {_known_models(store)})")
    if not sep:
        row = store.row(sql.LATEST_VERSION_OF, model=name)
        if row is None:
            raise NotFound(f"model {name!r} has no versions yet")
        return _decode(row)
    if tail.isdigit():
        row = store.row(sql.VERSION_BY_NUMBER, model=name, version=int(tail))
        if row is None:
            have = [str(r["version"]) for r in store.rows(sql.VERSION_NUMBERS_OF, model=name)]
            raise NotFound(f"model version {ref_s!r} not found (versions of {name}: "
                           f"{', '.join(have) or 'none'})")
        return _decode(row)
    alias = store.row(sql.ALIAS_TARGET, model=name, alias=tail.lower())
    if alias is None:
        have = [r["alias"] for r in store.rows(sql.ALIAS_NAMES_OF_MODEL, model=name)]
        raise NotFound(f"model {name!r} has no version {tail!r} and no alias {tail!r} "
                       f"(aliases: {', '.join(have) or 'none'})")
    return get_version(store, alias["version_id"])


def get_run(store: Store, run_id: int) -> dict[str, Any]:
    run = store.row(sql.RUN_BY_ID, id=int(run_id))
    if run is None:
        raise NotFound(f"run {run_id} not found")
    return run


def list_models(store: Store) -> list[dict[str, Any]]:
    models = store.rows(sql.MODELS)
    for m in models:
        vs = store.rows(sql.VERSION_STATUSES_OF, model=m["name"])
        m["versions"] = len(vs)
        m["latest_version"] = vs[-1]["version"] if vs else None
        m["latest_status"] = vs[-1]["status"] if vs else None
        m["aliases"] = {r["alias"]: r["version"]
                        for r in store.rows(sql.ALIASES_OF_MODEL, model=m["name"])}
    return models


def aliases_of(store: Store, version_id: int) -> list[str]:
    return [r["alias"] for r in store.rows(sql.ALIASES_OF_VERSION, version_id=version_id)]


def list_versions(store: Store, name: str | None = None,
                  status: str | None = None) -> list[dict[str, Any]]:
    statement = sql.VERSIONS[(bool(name), bool(status))]
    rows = [_decode(r) for r in store.rows(statement, model=name, status=status)]
    for r in rows:
        r["aliases"] = aliases_of(store, r["id"])
        last = _last_decision(store, r["id"])
        r["approver"] = last["user"] if last and last["decision"] == "approved" else None
        r["decided_by"] = last["user"] if last else None
    return rows


def approval_queue(store: Store, user: str | None = None) -> list[dict[str, Any]]:
    """Pending versions, oldest first, each with `blockers`: why `user` may not decide it."""
    rows = store.rows(sql.PENDING_VERSIONS)
    out = []
    for r in rows:
        v = _decode(r)
        v["aliases"] = aliases_of(store, v["id"])
        v["failed_checks"] = [c["name"] for c in failed_checks(store, v["id"])]
        v["blockers"] = decision_blockers(store, v, user=user)
        out.append(v)
    return out


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON shape of a version in list output (DESIGN: name version status run_id created_by)."""
    keys = ("id", "name", "version", "status", "run_id", "created_by", "created_at",
            "description", "tags", "aliases", "approver", "attention", "challenger_of")
    return {k: row.get(k) for k in keys}


def checks_of(store: Store, version_id: int) -> list[dict[str, Any]]:
    rows = store.rows(sql.CHECKS_OF, version_id=version_id)
    for r in rows:
        r["passed"] = bool(r["passed"])
        r["informational"] = bool((r.get("details") or {}).get("informational"))
    return rows


def failed_checks(store: Store, version_id: int) -> list[dict[str, Any]]:
    return [c for c in checks_of(store, version_id) if not c["passed"]]


def approvals_of(store: Store, version_id: int) -> list[dict[str, Any]]:
    return store.rows(sql.APPROVALS_OF, version_id=version_id)


def _last_decision(store: Store, version_id: int) -> dict[str, Any] | None:
    return store.row(sql.LAST_DECISION, version_id=version_id)


def production_version(store: Store, name: str) -> dict[str, Any] | None:
    row = store.row(sql.ALIAS_TARGET, model=name, alias="production")
    return get_version(store, row["version_id"]) if row else None


# -- gates ----------------------------------------------------------------------------------------
def get_gates(store: Store, name: str) -> list[dict[str, Any]]:
    row = store.row(sql.MODEL_GATES, name=name)
    return list(row["gates"] or []) if row else []


def set_gates(store: Store, name: str, gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace the gates of model `name` (admin). Creates the model if it does not exist yet.
    Applies to versions registered from now on; existing versions keep their checks."""
    from . import gates as gates_mod
    store.require_role("setting model gates", "admin")
    name = check_name(name)
    clean = [gates_mod.validate_gate(g) for g in gates]
    with store.transaction():
        old = store.row(sql.MODEL_GATES, name=name)
        if old is None:
            _run(store, sql.CREATE_MODEL_WITH_GATES, name=name, gates=clean,
                 created_at=utcnow(), created_by=store.user)
            audit.append(store, "model.create", f"model:{name}", {"by": "set_gates"})
        else:
            _run(store, sql.SET_GATES, name=name, gates=clean)
        audit.append(store, "model.gates", f"model:{name}",
                     {"old": old["gates"] if old else [], "new": clean})
    return clean


def policy(store: Store) -> dict[str, Any]:
    """Store-wide gate policy: default metric gates and fairness gates (see core/gates.py)."""
    from . import gates as gates_mod
    return {"default_gates": store.setting(gates_mod.DEFAULT_GATES_SETTING, []) or [],
            "fairness_gates": store.setting(gates_mod.FAIRNESS_GATES_SETTING,
                                            gates_mod.DEFAULT_FAIRNESS_GATES),
            "approved_only_aliases": approved_only_aliases(store)}


def set_policy(store: Store, default_gates: list[dict] | None = None,
               fairness_gates: list[dict] | None = None) -> dict[str, Any]:
    """Replace the store-wide default metric gates and/or fairness gates (admin); audited."""
    from . import gates as gates_mod
    store.require_role("setting the gate policy", "admin")
    changes = {}
    if default_gates is not None:
        changes[gates_mod.DEFAULT_GATES_SETTING] = [gates_mod.validate_gate(g)
                                                    for g in default_gates]
    if fairness_gates is not None:
        clean = [gates_mod.validate_gate(g) for g in fairness_gates]
        wrong = [g["metric"] for g in clean if not gates_mod.is_fairness_metric(g["metric"])]
        if wrong:
            raise LabliftError(f"fairness gates must name fairness metrics, not "
                               f"{', '.join(wrong)}")
        changes[gates_mod.FAIRNESS_GATES_SETTING] = clean
    before = policy(store)
    with store.transaction():
        for key, value in changes.items():
            store.set_setting(key, value)
        if changes:
            audit.append(store, "policy.gates", "store:policy",
                         {"old": {k: before[k.split(".")[1]] for k in changes},
                          "new": changes})
    return policy(store)


# -- register ------------------------------------------------------------------------------------
def register(store: Store, run_id: int, name: str, description: str = "",
             tags: dict[str, Any] | list[str] | None = None,
             challenger_of: int | None = None) -> dict[str, Any]:
    """Register finished run `run_id` as the next version of model `name` (analyst).

    Checks (metric gates, fairness) run first, outside the write; the version, its checks and
    the audit entry are then written in one transaction. Returns the version row + `checks`.
    """
    store.require_role("registering a model", "analyst")
    name = check_name(name)
    run = get_run(store, run_id)
    if run["status"] != "finished":
        raise LabliftError(f"run {run['id']} is {run['status']}: only a finished run can be "
                           f"registered")
    if not (run.get("artifacts") or {}).get("holdout"):
        raise LabliftError(f"run {run['id']} has no holdout predictions: it cannot be checked")
    if isinstance(tags, (list, tuple)):
        tags = {str(t): True for t in tags}
    tags = dict(tags or {})
    if challenger_of is not None:
        get_version(store, challenger_of)
    _refuse_registered(store, name, run["id"])
    production = production_version(store, name)
    if production is not None:
        production["run"] = get_run(store, production["run_id"])
    from . import gates as gates_mod
    checks = gates_mod.run_checks(store, run, name, get_gates(store, name), production)
    dataset = store.row(sql.DATASET_LINEAGE, id=run["dataset_id"])
    now = utcnow()
    with store.transaction():
        # again inside the write: two processes registering the same run make one version
        _refuse_registered(store, name, run["id"])
        if not store.row(sql.MODEL_EXISTS, name=name):
            _run(store, sql.CREATE_MODEL, name=name, description=description or "",
                 created_at=now, created_by=store.user)
            audit.append(store, "model.create", f"model:{name}", {"by": "register"})
        version = store.value(sql.NEXT_VERSION, model=name)
        previous = store.row(sql.LATEST_STATUS_OF, model=name)
        supersedes = (f"{name}:{previous['version']}"
                      if previous and previous["status"] == "rejected" else None)
        lineage = {"dataset": dataset, "run": {"id": run["id"], "algorithm": run["algorithm"],
                                               "created_by": run["created_by"],
                                               "created_at": run["created_at"]},
                   "supersedes": supersedes}
        vid = inserted_id(_run(
            store, sql.ADD_VERSION, model=name, version=version, run_id=run["id"],
            status="pending", description=description or "", tags=tags, card=json.dumps({}),
            challenger_of=challenger_of, lineage=lineage, created_at=now,
            created_by=store.user), store.engine)
        for c in checks:
            _run(store, sql.ADD_CHECK, version_id=vid, kind=c["kind"], name=c["name"],
                 passed=int(bool(c["passed"])), details=c["details"], created_at=now)
        failed = [c["name"] for c in checks if not c["passed"]]
        audit.append(store, "version.register", f"model_version:{name}:{version}", {
            "run": run["id"], "dataset": dataset, "description": description, "tags": tags,
            "checks": {c["name"]: bool(c["passed"]) for c in checks}, "failed": failed,
            "supersedes": supersedes, "challenger_of": challenger_of})
    row = get_version(store, vid)
    row["checks"] = checks_of(store, vid)
    row["aliases"] = []
    return row


def _refuse_registered(store: Store, name: str, run_id: int) -> None:
    existing = store.row(sql.REGISTERED_RUN, model=name, run_id=run_id)
    if existing:
        raise LabliftError(f"run {run_id} is already version {name}:{existing['version']} "
                           f"({existing['status']}); a run is registered again only after its "
                           f"version was rejected or archived")


# -- approvals -----------------------------------------------------------------------------------
def decision_blockers(store: Store, version: dict[str, Any] | str,
                      user: str | None = None, verb: str = "approve") -> list[str]:
    """Why `user` (default: the store's user) may not approve/reject `version`; [] if they may.
    The GUI shows these as the reason a button is disabled."""
    v = resolve_version(store, version) if not isinstance(version, dict) else version
    user = user or store.user
    reasons = []
    run = get_run(store, v["run_id"])
    did = []
    # names compared without case: 'Ann' and 'ann' are one person (store.add_user agrees)
    if run["created_by"].casefold() == user.casefold():
        did.append(f"trained run {run['id']}")
    if v["created_by"].casefold() == user.casefold():
        did.append("registered it")
    if did:
        reasons.append(f"four-eyes rule: {user} {' and '.join(did)} and cannot {verb} version "
                       f"{v['ref']}; another reviewer must")
    role = store.role(user)
    if role is None:
        reasons.append(f"user {user!r} is not registered in this store")
    elif role not in ("reviewer", "admin"):
        reasons.append(f"{verb == 'approve' and 'approving' or 'rejecting'} needs the role "
                       f"reviewer or admin; user {user!r} is {role}")
    if v["status"] != "pending":
        reasons.append(f"version {v['ref']} is {v['status']}: only a pending version can be "
                       f"{verb}d")
    return reasons


def _refuse(reasons: list[str]) -> None:
    if reasons:
        first = reasons[0]
        rest = "; ".join(reasons[1:])
        raise PermissionDenied(first + (f" (also: {rest})" if rest else ""))


def approve(store: Store, ref: str, comment: str = "", override: str | None = None
            ) -> dict[str, Any]:
    """Approve a pending version (reviewer). Failing checks need an `override` reason."""
    v = resolve_version(store, ref)
    _refuse(decision_blockers(store, v, verb="approve"))
    comment = (comment or "").strip()
    override = (override or "").strip() or None
    if override is not None:
        check_override_reason(override)
    failed = [c for c in failed_checks(store, v["id"])]
    if failed and not override:
        names = "; ".join(_check_line(c) for c in failed)
        raise LabliftError(f"version {v['ref']} failed {len(failed)} check"
                           f"{'s' if len(failed) > 1 else ''}: {names}; approve with "
                           f"--override REASON to sign off anyway")
    now = utcnow()
    with store.transaction():
        require_verified(store, v, "approving")
        n = _run(store, sql.APPROVE_PENDING, id=v["id"]).rowcount
        if n != 1:
            raise LabliftError(f"version {v['ref']} is no longer pending (decided meanwhile)")
        _run(store, sql.RECORD_APPROVAL, version_id=v["id"], decision="approved",
             user=store.user, comment=comment, override_reason=override, at=now)
        audit.append(store, "version.approve", f"model_version:{v['ref']}", {
            "comment": comment, "override_reason": override,
            "overridden_checks": [c["name"] for c in failed] if override else [],
            "run": v["run_id"]})
    return get_version(store, v["id"])


def check_override_reason(reason: str) -> str:
    words = [w for w in reason.split() if any(ch.isalpha() for ch in w)]
    if len(reason.strip()) < MIN_OVERRIDE_CHARS or len(words) < MIN_OVERRIDE_WORDS:
        raise LabliftError(f"override reason {reason.strip()!r} does not say why: write at "
                           f"least {MIN_OVERRIDE_WORDS} words and {MIN_OVERRIDE_CHARS} "
                           f"characters (rule: an override is read later by someone who "
                           f"must weigh it)")
    return reason.strip()


def require_verified(store: Store, v: dict[str, Any], action: str) -> None:
    """Refuse `action` on a version whose governed rows do not match the audit log."""
    result = audit.verify_version(store, v)
    if not result.ok:
        raise LabliftError(f"{action} {v['ref']} refused: its state does not verify against "
                           f"the audit log ({result.summary()}); an admin should run "
                           f"`lablift audit verify`")


def reject(store: Store, ref: str, comment: str) -> dict[str, Any]:
    """Reject a pending version (reviewer); a comment saying why is required."""
    v = resolve_version(store, ref)
    _refuse(decision_blockers(store, v, verb="reject"))
    comment = (comment or "").strip()
    if not comment:
        raise LabliftError(f"rejecting {v['ref']} needs a comment saying why (--comment TEXT)")
    with store.transaction():
        n = _run(store, sql.REJECT_PENDING, id=v["id"]).rowcount
        if n != 1:
            raise LabliftError(f"version {v['ref']} is no longer pending (decided meanwhile)")
        _run(store, sql.RECORD_APPROVAL, version_id=v["id"], decision="rejected",
             user=store.user, comment=comment, at=utcnow())
        audit.append(store, "version.reject", f"model_version:{v['ref']}",
                     {"comment": comment, "run": v["run_id"]})
    return get_version(store, v["id"])


def _check_line(c: dict[str, Any]) -> str:
    d = c.get("details") or {}
    value = d.get("value")
    text = c["name"]
    if value is not None:
        text += f" (value {value:.4g})" if isinstance(value, (int, float)) else f" ({value})"
    elif d.get("note"):
        text += f" ({d['note']})"
    return text


def archive(store: Store, ref: str) -> dict[str, Any]:
    """Archive a version (ops, reviewer or admin). A version an alias points at stays."""
    store.require_role("archiving a model version", "ops", "reviewer")
    v = resolve_version(store, ref)
    if v["status"] == "archived":
        raise LabliftError(f"version {v['ref']} is already archived")
    with store.transaction():
        names = aliases_of(store, v["id"])  # read inside the write: no alias set meanwhile
        if names:
            raise LabliftError(f"version {v['ref']} is aliased as {', '.join(names)}: move or "
                               f"remove the alias before archiving it")
        _run(store, sql.ARCHIVE_VERSION, id=v["id"])
        audit.append(store, "version.archive", f"model_version:{v['ref']}",
                     {"previous_status": v["status"]})
    return get_version(store, v["id"])


# -- aliases -------------------------------------------------------------------------------------
def approved_only_aliases(store: Store) -> list[str]:
    return list(store.setting(APPROVED_ONLY_SETTING, DEFAULT_APPROVED_ONLY))


# set_alias, remove_alias, alias_history, rollback_plan, rollback_alias: core/aliases.py
ALIAS_FUNCTIONS = ("set_alias", "remove_alias", "alias_history", "rollback_plan",
                   "rollback_alias")


def __getattr__(name: str):
    # Lazily, as core/aliases.py imports this module's lookups: registry.set_alias still works.
    if name in ALIAS_FUNCTIONS:
        from . import aliases
        return getattr(aliases, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- attention (monitoring alerts) ---------------------------------------------------------------
def mark_attention(store: Store, version_id: int | str, message: str) -> dict[str, Any]:
    v = resolve_version(store, version_id)
    with store.transaction():
        _run(store, sql.SET_ATTENTION, id=v["id"], attention=message)
        audit.append(store, "version.attention", f"model_version:{v['ref']}",
                     {"message": message})
    return get_version(store, v["id"])


def clear_attention(store: Store, version_id: int | str, note: str = "") -> dict[str, Any]:
    v = resolve_version(store, version_id)
    with store.transaction():
        _run(store, sql.SET_ATTENTION, id=v["id"], attention=None)
        audit.append(store, "version.attention_cleared", f"model_version:{v['ref']}",
                     {"previous": v.get("attention"), "note": note})
    return get_version(store, v["id"])


# -- evidence ------------------------------------------------------------------------------------
def _run_summary(store: Store, run: dict[str, Any]) -> dict[str, Any]:
    spec = run.get("spec") or {}
    return {"id": run["id"], "status": run["status"], "task": run["task"],
            "algorithm": run["algorithm"], "target": run["target"],
            "features": spec.get("features"), "sensitive": spec.get("sensitive"),
            "classes": spec.get("classes"), "params": run.get("params") or {},
            "metrics": run.get("metrics") or {}, "seed": run.get("seed"),
            "test_size": spec.get("test_size"), "cv": spec.get("cv"),
            "created_by": run["created_by"], "created_at": run["created_at"],
            "duration_s": run.get("duration_s"), "environment": run.get("environment") or {},
            "artifacts": run.get("artifacts") or {}, "sweep_id": run.get("sweep_id"),
            "predictions_sha256": run.get("predictions_sha256")}


def _dataset_summary(store: Store, dataset_id: int) -> dict[str, Any] | None:
    return store.row(sql.DATASET_SUMMARY, id=dataset_id)


def diff_runs(candidate: dict[str, Any], production: dict[str, Any]) -> dict[str, Any]:
    """What changed from production's run to the candidate's: metrics, params, data, features."""
    def metric_deltas(a: dict, b: dict, cv: bool = False) -> dict[str, Any]:
        out = {}
        for k in sorted(set(a) | set(b)):
            x = (a.get(k) or {}).get("mean") if cv else a.get(k)
            y = (b.get(k) or {}).get("mean") if cv else b.get(k)
            out[k] = {"candidate": x, "production": y,
                      "delta": x - y if isinstance(x, (int, float)) and
                      isinstance(y, (int, float)) else None}
        return out

    cm, pm = candidate.get("metrics") or {}, production.get("metrics") or {}
    cp, pp = candidate.get("params") or {}, production.get("params") or {}
    params = {k: {"production": pp.get(k), "candidate": cp.get(k)}
              for k in sorted(set(cp) | set(pp)) if cp.get(k) != pp.get(k)}
    cf = set((candidate.get("spec") or {}).get("features") or [])
    pf = set((production.get("spec") or {}).get("features") or [])
    return {
        "metrics": {"holdout": metric_deltas(cm.get("holdout") or {}, pm.get("holdout") or {}),
                    "cv": metric_deltas(cm.get("cv") or {}, pm.get("cv") or {}, cv=True)},
        "params_changed": params,
        "algorithm": {"production": production.get("algorithm"),
                      "candidate": candidate.get("algorithm"),
                      "changed": production.get("algorithm") != candidate.get("algorithm")},
        "dataset_changed": production.get("dataset_id") != candidate.get("dataset_id"),
        "features_added": sorted(cf - pf), "features_removed": sorted(pf - cf),
        "note": "holdout figures of different datasets or splits are not on the same rows; "
                "the 'no worse than production' gate scores both on the same rows",
    }


def _history(store: Store, v: dict[str, Any]) -> list[dict[str, Any]]:
    """The version's audit entries and the alias moves to or from it, newest first."""
    own = audit.entries(store, entity=f"model_version:{v['ref']}")
    moves = [e for e in audit.entries(store, entity=f"model:{v['model']}")
             if e["action"] in ("alias.set", "alias.remove") and isinstance(e["details"], dict)
             and v["ref"] in (e["details"].get("old"), e["details"].get("new"))]
    return sorted(own + moves, key=lambda e: e["seq"], reverse=True)


def version_detail(store: Store, ref: str | int, card: bool = True) -> dict[str, Any]:
    """Everything a reviewer needs to sign a version."""
    v = resolve_version(store, ref)
    run = get_run(store, v["run_id"])
    dataset = _dataset_summary(store, run["dataset_id"])
    checks = checks_of(store, v["id"])
    approvals = approvals_of(store, v["id"])
    bundles = store.rows(bundle_sql.SUMMARIES_OF_VERSION, version_id=v["id"])
    last = approvals[-1] if approvals else None
    fairness_report = next((c["details"]["report"] for c in checks
                            if c["kind"] == "fairness_report"), None)
    gating = [c for c in checks if not c["informational"]]
    prod = production_version(store, v["model"])
    diff = None
    if prod is not None and prod["id"] != v["id"]:
        diff = {"against": prod["ref"], **diff_runs(run, get_run(store, prod["run_id"]))}
        pd_ = _dataset_summary(store, get_run(store, prod["run_id"])["dataset_id"])
        diff["dataset"] = {"production": pd_ and f"{pd_['name']}:{pd_['version']}",
                           "candidate": dataset and f"{dataset['name']}:{dataset['version']}"}
    challenger = get_version(store, v["challenger_of"])["ref"] if v.get("challenger_of") else None
    detail = {
        "id": v["id"], "name": v["model"], "model": v["model"], "version": v["version"],
        "ref": v["ref"], "status": v["status"], "run_id": v["run_id"],
        "created_by": v["created_by"], "created_at": v["created_at"],
        "description": v["description"], "tags": v["tags"], "attention": v["attention"],
        "challenger_of": challenger,
        "approver": last["user"] if last and last["decision"] == "approved" else None,
        "approved_at": last["at"] if last and last["decision"] == "approved" else None,
        "decision": last["decision"] if last else None,
        "decided_by": last["user"] if last else None,
        "decided_at": last["at"] if last else None,
        "comment": last["comment"] if last else None,
        "override_reason": last["override_reason"] if last else None,
        "aliases": aliases_of(store, v["id"]),
        "checks": checks,
        "checks_passed": all(c["passed"] for c in gating),
        "failed_checks": [c["name"] for c in gating if not c["passed"]],
        "fairness": fairness_report,
        "approvals": approvals,
        "bundles": bundles,
        "run": _run_summary(store, run),
        "dataset": dataset,
        "gates": get_gates(store, v["model"]),
        "production": prod["ref"] if prod else None,
        "diff": diff,
        "lineage": {
            "dataset": dataset and {k: dataset[k] for k in ("id", "name", "version", "sha256")},
            "run": {"id": run["id"], "algorithm": run["algorithm"], "seed": run.get("seed"),
                    "created_by": run["created_by"], "created_at": run["created_at"]},
            "version": v["ref"],
            "approvals": [{"decision": a["decision"], "user": a["user"], "at": a["at"],
                           "comment": a["comment"], "override_reason": a["override_reason"]}
                          for a in approvals],
            "bundles": [{"id": b["id"], "path": b["path"], "manifest_sha256":
                         b["manifest_sha256"]} for b in bundles],
            "supersedes": (v.get("lineage") or {}).get("supersedes"),
            "challenger_of": challenger,
        },
        "card": v["card"],
        "card_frozen": v["status"] != "pending",
        # Why the current user may not approve/reject ([] = may): the GUI disables buttons.
        "blockers": {"approve": decision_blockers(store, v, verb="approve"),
                     "reject": decision_blockers(store, v, verb="reject")},
        "history": _history(store, v),
    }
    if card:
        from . import modelcard
        detail["model_card"] = modelcard.render(detail)
    return detail
