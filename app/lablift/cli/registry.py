"""`lablift model register | list | show | approve | reject | alias | unalias | archive | gates | card`."""

from __future__ import annotations

from pathlib import Path

# core.gates (numpy, pandas through fairness) only in the handlers that parse gates
from ..core import modelcard, registry
from ..core.artifacts import atomic_write_bytes
from ..core.errors import LabliftError
from .common import Text, add_json, table


def register(sub) -> None:
    p = sub.add_parser("model", help="registry: versions, checks, approvals, aliases, cards")
    ms = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    reg = ms.add_parser("register", help="register a finished run as the next version of a model")
    reg.add_argument("run", type=int, help="run id")
    reg.add_argument("--name", required=True, help="model name")
    reg.add_argument("--description", default="", help="what this version is")
    reg.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                     help="a tag (repeatable)")
    add_json(reg)
    reg.set_defaults(handler=cmd_register)

    ls = ms.add_parser("list", help="list model versions")
    ls.add_argument("name", nargs="?", help="only this model")
    ls.add_argument("--status", choices=registry.STATUSES, help="only versions in this status")
    add_json(ls)
    ls.set_defaults(handler=cmd_list)

    show = ms.add_parser("show", help="a version with its evidence: checks, fairness, approvals")
    show.add_argument("ref", help="NAME (latest), NAME:VERSION or NAME:ALIAS")
    add_json(show)
    show.set_defaults(handler=cmd_show)

    ap = ms.add_parser("approve", help="approve a pending version (reviewer; four-eyes)")
    ap.add_argument("ref", help="NAME:VERSION")
    ap.add_argument("--comment", default="", help="what you checked")
    ap.add_argument("--override", metavar="REASON",
                    help="approve despite failing checks, recording why")
    add_json(ap)
    ap.set_defaults(handler=cmd_approve)

    rj = ms.add_parser("reject", help="reject a pending version (reviewer; comment required)")
    rj.add_argument("ref", help="NAME:VERSION")
    rj.add_argument("--comment", required=True, help="why it is rejected")
    add_json(rj)
    rj.set_defaults(handler=cmd_reject)

    al = ms.add_parser("alias", help="point an alias (staging, production, ...) at a version, "
                       "or roll it back (ops)")
    al.add_argument("ref", help="NAME:VERSION (with --rollback: NAME)")
    al.add_argument("alias")
    al.add_argument("--rollback", action="store_true",
                    help="move the alias back to its previous target that it may still point "
                         "at (production: still approved), from the audited alias history")
    add_json(al)
    al.set_defaults(handler=cmd_alias)

    ua = ms.add_parser("unalias", help="remove an alias of a model (ops)")
    ua.add_argument("name")
    ua.add_argument("alias")
    add_json(ua)
    ua.set_defaults(handler=cmd_unalias)

    ar = ms.add_parser("archive", help="archive a version (ops or reviewer)")
    ar.add_argument("ref", help="NAME:VERSION")
    add_json(ar)
    ar.set_defaults(handler=cmd_archive)

    ga = ms.add_parser("gates", help="show or set a model's metric gates (setting needs admin)")
    ga.add_argument("name")
    ga.add_argument("--set", nargs="+", metavar="GATE", dest="gates",
                    help="replace the gates, e.g. 'roc_auc>=0.8' 'cv.f1>=0.7' "
                         "'roc_auc>=production-0.01' 'demographic_parity_ratio>=0.8'")
    ga.add_argument("--clear", action="store_true", help="remove all gates of the model")
    add_json(ga)
    ga.set_defaults(handler=cmd_gates)

    po = ms.add_parser("policy", help="store-wide default gates and fairness gates "
                       "(setting needs admin)")
    po.add_argument("--default-gates", nargs="*", metavar="GATE",
                    help="metric gates for models without their own ('' or none to clear)")
    po.add_argument("--fairness-gates", nargs="*", metavar="GATE",
                    help="gates on the fairness report, e.g. 'demographic_parity_ratio>=0.8'")
    add_json(po)
    po.set_defaults(handler=cmd_policy)

    ca = ms.add_parser("card", help="print the model card; --set edits narrative fields "
                       "while pending")
    ca.add_argument("ref", help="NAME:VERSION")
    ca.add_argument("--set", action="append", default=[], metavar="FIELD=TEXT", dest="fields",
                    help=f"fields: {', '.join(modelcard.NARRATIVE_FIELDS)} (repeatable)")
    ca.add_argument("--out", metavar="FILE", help="write the Markdown to FILE")
    add_json(ca)
    ca.set_defaults(handler=cmd_card)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LabliftError(f"{what} {item!r} is not KEY=VALUE")
        out[key.strip()] = value
    return out


def _version_json(detail: dict) -> dict:
    # DESIGN: name version status run_id created_by; plus the reviewer's evidence.
    keep = ("id", "name", "version", "ref", "status", "run_id", "created_by", "created_at",
            "description", "tags", "attention", "challenger_of", "approver", "approved_at",
            "decision", "decided_by", "decided_at", "comment", "override_reason", "aliases",
            "checks", "checks_passed", "failed_checks", "fairness", "approvals", "bundles",
            "run", "dataset", "gates", "production", "diff", "lineage", "card", "card_frozen")
    return {k: detail.get(k) for k in keep}


def _checks_text(checks: list[dict]) -> list[str]:
    lines = []
    for c in checks:
        d = c.get("details") or {}
        if c.get("informational"):
            mark = "info"
        else:
            mark = "pass" if c["passed"] else "FAIL"
        value = d.get("value")
        extra = f" = {value:.4g}" if isinstance(value, (int, float)) else ""
        if d.get("production_value") is not None:
            extra += f" vs production {d['production_value']:.4g}"
        lines.append(f"  [{mark}] {c['name']}{extra}")
        if d.get("note") and (not c["passed"] or c.get("informational")):
            lines.append(f"         {d['note']}")
        if d.get("comparison"):
            lines.append(f"         compared: {d['comparison']}")
    return lines


def cmd_register(store, args):
    tags = _pairs(args.tag, "tag")
    row = registry.register(store, args.run, args.name, description=args.description, tags=tags)
    if args.json:
        return _version_json(registry.version_detail(store, row["id"], card=False))
    failed = [c for c in row["checks"] if not c["passed"]]
    lines = [f"registered run {args.run} as {row['ref']} (pending review)", "checks:"]
    lines += _checks_text(row["checks"])
    if failed:
        lines.append(f"{len(failed)} check(s) failed: approval needs a reviewer's --override "
                     f"reason")
    return Text("\n".join(lines))


def cmd_list(store, args):
    rows = registry.list_versions(store, name=args.name, status=args.status)
    if args.json:
        return [registry.summary(r) for r in rows]
    for r in rows:
        r["aliases"] = ",".join(r["aliases"]) or None
    return Text(table(rows, ["name", "version", "status", "run_id", "aliases", "created_by",
                             "approver", "created_at"], empty="no model versions yet"))


def cmd_show(store, args):
    d = registry.version_detail(store, args.ref, card=False)
    if args.json:
        return _version_json(d)
    run = d["run"]
    hold = (run.get("metrics") or {}).get("holdout") or {}
    lines = [f"{d['ref']}  status {d['status']}  run {d['run_id']} ({run['algorithm']}, "
             f"{run['task']}, target {run['target']})",
             f"registered by {d['created_by']} at {d['created_at']}; trained by "
             f"{run['created_by']}",
             f"data {d['dataset']['name']}:{d['dataset']['version']} sha256 "
             f"{d['dataset']['sha256'][:12]}" if d.get("dataset") else "data: unknown"]
    if d["aliases"]:
        lines.append(f"aliases: {', '.join(d['aliases'])}")
    if d["attention"]:
        lines.append(f"ATTENTION: {d['attention']}")
    if d["description"]:
        lines.append(f"description: {d['description']}")
    if d["tags"]:
        lines.append("tags: " + ", ".join(f"{k}={v}" for k, v in d["tags"].items()))
    if (d.get("lineage") or {}).get("supersedes"):
        lines.append(f"supersedes {d['lineage']['supersedes']} (rejected)")
    if d.get("challenger_of"):
        lines.append(f"challenger of {d['challenger_of']}")
    lines.append("holdout: " + ", ".join(f"{k} {v:.4g}" for k, v in hold.items()
                                          if isinstance(v, (int, float))))
    lines += ["checks:"] + _checks_text(d["checks"])
    fair = d.get("fairness")
    if fair:
        if fair.get("task") == "regression":
            lines.append(f"fairness ({fair['sensitive']}): MAE ratio {_f(fair['mae_ratio'])}, "
                         f"MAE difference {_f(fair['mae_difference'])}")
        else:
            ff = fair["four_fifths"]
            lines.append(f"fairness ({fair['sensitive']}): demographic parity ratio "
                         f"{_f(fair['demographic_parity_ratio'])}"
                         f"{' (below four-fifths: flagged)' if ff['flagged'] else ''}, "
                         f"difference {_f(fair['demographic_parity_difference'])}, "
                         f"equalized odds difference {_f(fair['equalized_odds_difference'])}")
    for a in d["approvals"]:
        lines.append(f"{a['decision']} by {a['user']} at {a['at']}"
                     + (f": {a['comment']}" if a["comment"] else "")
                     + (f" [OVERRIDE: {a['override_reason']}]" if a["override_reason"] else ""))
    if d["diff"]:
        deltas = d["diff"]["metrics"]["holdout"]
        lines.append(f"against production {d['diff']['against']}: " + ", ".join(
            f"{k} {v['delta']:+.4g}" for k, v in deltas.items() if v["delta"] is not None))
    if d["bundles"]:
        lines += [f"bundle {b['path']} ({b['created_by']}, {b['created_at']})"
                  for b in d["bundles"]]
    return Text("\n".join(lines))


def _f(x):
    return "undefined" if x is None else f"{x:.4g}"


def cmd_approve(store, args):
    v = registry.approve(store, args.ref, comment=args.comment, override=args.override)
    if args.json:
        return _version_json(registry.version_detail(store, v["id"], card=False))
    return Text(f"{v['ref']} approved by {store.user}"
                + (f" (override: {args.override})" if args.override else ""))


def cmd_reject(store, args):
    v = registry.reject(store, args.ref, args.comment)
    if args.json:
        return _version_json(registry.version_detail(store, v["id"], card=False))
    return Text(f"{v['ref']} rejected by {store.user}: {args.comment}")


def cmd_alias(store, args):
    if args.rollback:
        return _rollback(store, args)
    out = registry.set_alias(store, args.ref, args.alias)
    if args.json:
        return out
    if not out["changed"]:
        return Text(f"{out['model']}:{out['alias']} already points at version {out['version']}")
    moved = f" (was version {out['previous']})" if out["previous"] else ""
    return Text(f"{out['model']}:{out['alias']} -> version {out['version']}{moved}")


def _rollback(store, args):
    name, sep, tail = args.ref.strip().partition(":")
    if sep:
        raise LabliftError(f"with --rollback give the model name ({name}), not {args.ref!r}: "
                           f"the target comes from the alias's history")
    out = registry.rollback_alias(store, name, args.alias)
    if args.json:
        return out
    skipped = (f"; skipped {', '.join(out['skipped'])} (no longer allowed)"
               if out["skipped"] else "")
    return Text(f"{out['model']}:{out['alias']} rolled back -> version {out['version']} "
                f"(was version {out['previous']}){skipped}")


def cmd_unalias(store, args):
    out = registry.remove_alias(store, args.name, args.alias)
    return out if args.json else Text(f"removed {args.name}:{args.alias} "
                                      f"(was version {out['previous']})")


def cmd_archive(store, args):
    v = registry.archive(store, args.ref)
    return registry.summary({**v, "aliases": []}) if args.json else Text(f"{v['ref']} archived")


def cmd_gates(store, args):
    from ..core import gates as gates_mod
    if args.gates or args.clear:
        if args.gates and args.clear:
            raise LabliftError("use either --set or --clear")
        parsed = [gates_mod.parse_gate(g) for g in (args.gates or [])]
        current = registry.set_gates(store, args.name, parsed)
    else:
        registry.check_name(args.name)
        current = registry.get_gates(store, args.name)
    if args.json:
        return {"name": args.name, "gates": current}
    if not current:
        return Text(f"{args.name}: no gates (registration records an informational check)")
    return Text("\n".join([f"{args.name} gates:"] +
                          [f"  {gates_mod.describe(g)}" for g in current]))


def cmd_card(store, args):
    fields = _pairs(args.fields, "card field")
    if fields:
        modelcard.set_card_fields(store, args.ref, fields)
    text = modelcard.render_card(store, args.ref)
    if args.out:
        atomic_write_bytes(Path(args.out), text.encode("utf-8"))
    if args.json:
        v = registry.resolve_version(store, args.ref)
        return {"ref": v["ref"], "fields": v["card"], "frozen": v["status"] != "pending",
                "markdown": text, "out": args.out}
    if args.out:
        return Text(f"model card of {registry.resolve_version(store, args.ref)['ref']} written "
                    f"to {args.out}")
    return Text(text)


def cmd_policy(store, args):
    from ..core import gates as gates_mod

    def parse(items):
        return None if items is None else [gates_mod.parse_gate(g) for g in items if g.strip()]
    if args.default_gates is not None or args.fairness_gates is not None:
        current = registry.set_policy(store, default_gates=parse(args.default_gates),
                                      fairness_gates=parse(args.fairness_gates))
    else:
        current = registry.policy(store)
    if args.json:
        return current
    lines = ["default metric gates (models without their own):"]
    lines += [f"  {gates_mod.describe(g)}" for g in current["default_gates"]] or ["  none"]
    lines += ["fairness gates (runs with a sensitive column):"]
    lines += [f"  {gates_mod.describe(g)}" for g in current["fairness_gates"]] or ["  none"]
    lines += ["aliases that need an approved version: "
              + ", ".join(current["approved_only_aliases"])]
    return Text("\n".join(lines))
