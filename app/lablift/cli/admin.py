"""`lablift users ...` and `lablift audit verify`."""

from __future__ import annotations

from ..core import audit
from ..core.store import ROLES
from .common import CommandError, Text, add_json, emit, table


def register(sub) -> None:
    users = sub.add_parser("users", help="manage users and roles (admin)")
    us = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = us.add_parser("add", help="add a user or change their role")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add_json(add)
    add.set_defaults(handler=cmd_users_add)
    ls = us.add_parser("list", help="list users")
    add_json(ls)
    ls.set_defaults(handler=cmd_users_list)

    au = sub.add_parser("audit", help="the hash-chained audit log")
    aus = au.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ver = aus.add_parser("verify", help="recompute the chain, then check every governed row "
                         "against it; name what differs")
    ver.add_argument("--head", metavar="HASH", help="also require the chain to contain this "
                     "head, recorded earlier outside the store (`lablift audit head`)")
    add_json(ver)
    ver.set_defaults(handler=cmd_audit_verify)
    hd = aus.add_parser("head", help="print the chain's head (sequence and hash) to keep "
                        "outside the store")
    add_json(hd)
    hd.set_defaults(handler=cmd_audit_head)
    log = aus.add_parser("log", help="show the latest entries")
    log.add_argument("--limit", type=int, default=50)
    add_json(log)
    log.set_defaults(handler=cmd_audit_log)


def cmd_users_add(store, args):
    store.add_user(args.name, args.role)
    if args.json:
        return {"name": args.name, "role": args.role}
    return Text(f"{args.name} is {args.role}")


def cmd_users_list(store, args):
    rows = store.users()
    return rows if args.json else Text(table(rows, ["name", "role", "created_by", "created_at"]))


def cmd_audit_verify(store, args):
    res = audit.verify(store, head=args.head)
    if not res.ok:
        if args.json and res.problems:  # every differing row, for a script to act on
            emit({"ok": False, "entries": res.entries, "head": res.head,
                  "problems": res.problems}, True)
        raise CommandError(res.summary())
    if args.json:
        return {"ok": True, "entries": res.entries, "head": res.head, "problems": []}
    return Text(f"audit log intact: {res.entries} entries, head {res.head[:16]}; every "
                f"governed row matches it")


def cmd_audit_head(store, args):
    head = audit.head(store)
    if args.json:
        return head
    return Text(f"{head['seq']} {head['hash']}")


def cmd_audit_log(store, args):
    rows = audit.entries(store, limit=args.limit)
    if args.json:
        return rows
    for r in rows:  # who claimed it (user) and who really ran it, where
        o = r.get("origin") or {}
        r["by"] = f"{o.get('login')}@{o.get('host')}" if o else "-"
    return Text(table(rows, ["seq", "ts", "user", "by", "action", "entity"]))
