"""`lablift store init URL` and `lablift store info`: the team store on PostgreSQL, and what
store a command is working on."""

from __future__ import annotations

import os

from .common import Text, add_json


def register(sub) -> None:
    st = sub.add_parser("store", help="the lineage store itself: prepare a team store, describe "
                        "a store")
    ss = st.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    init = ss.add_parser("init", help="prepare an empty PostgreSQL database as a team store "
                         "(schema, roles, grants, server-side rules); you become its admin")
    init.add_argument("url", metavar="URL", help="postgresql://[user@]host[:port]/dbname "
                      "(credentials by libpq: ~/.pgpass, PGPASSWORD, service files, ...)")
    init.add_argument("--artifacts", metavar="DIR", help="keep artifacts in this shared "
                      "folder (every workstation must see it at the same path) instead of "
                      "in the database")
    add_json(init)
    init.set_defaults(handler=cmd_init, opens_store=False)
    mig = ss.add_parser("migrate", help="upgrade a team store's schema to this release's "
                        "(run by the role that owns its tables, or a superuser)")
    mig.add_argument("url", metavar="URL", help="postgresql://[user@]host[:port]/dbname")
    add_json(mig)
    mig.set_defaults(handler=cmd_migrate, opens_store=False)
    cp = ss.add_parser("copy", help="copy a store (every row and artifact) into an empty "
                       "store, embedded or team, then verify the copy")
    cp.add_argument("source", metavar="SRC", help="a store folder or postgresql:// URL")
    cp.add_argument("target", metavar="DST", help="an empty or new folder, or the URL of an "
                    "empty database (you need CREATEROLE there, as for `store init`)")
    add_json(cp)
    cp.set_defaults(handler=cmd_copy, opens_store=False)
    info = ss.add_parser("info", help="engine, server, schema version and who you are in the "
                         "store --store names (a folder or a postgresql:// URL)")
    add_json(info)
    info.set_defaults(handler=cmd_info, opens_store=False)


def cmd_init(store, args):
    from ..core.store import team
    result = team.init(args.url, artifacts_dir=args.artifacts)
    if args.json:
        return result
    return Text(f"team store ready: {team.mask_url(args.url)} (schema {result.get('schema_version')}"
                f", admin {result.get('user')})")


def cmd_info(store, args):
    from ..core.store import Store, default_store_dir, is_url, team
    target = args.store or os.environ.get("LABLIFT_STORE") or str(default_store_dir())
    if is_url(target):
        result = {**team.info(target), "store": team.mask_url(target), "authenticated": True}
    else:
        s = Store(target, user=args.user)
        result = {"engine": "sqlite", "store": str(s.root), "schema_version": s.schema_version(),
                  "journal_mode": s.setting("journal_mode"), "user": s.user, "role": s.role(),
                  "read_only": s.read_only, "authenticated": False}
    if args.json:
        return result
    lines = [f"{k}: {v}" for k, v in result.items()]
    if result["engine"] == "postgresql":
        lines.append("identity: the database server's (the session user it authenticated); "
                     "--user and LABLIFT_USER cannot change it")
    if result["engine"] == "sqlite":
        lines.append("identity: claimed (--user, LABLIFT_USER or the login name); every audit "
                     "entry also records the OS login and host")
    return Text("\n".join(lines))


def cmd_migrate(store, args):
    from ..core.store import team
    result = team.migrate(args.url)
    if args.json:
        return result
    if result["from"] == result["to"]:
        return Text(f"team store {team.mask_url(args.url)} is at schema {result['to']} already")
    return Text(f"team store {team.mask_url(args.url)} upgraded from schema {result['from']} "
                f"to {result['to']}")


def cmd_copy(store, args):
    import sys

    from ..core.store import copy
    result = copy.copy(args.source, args.target, user=args.user,
                       progress=lambda m: print(m, file=sys.stderr))
    if args.json:
        return result
    rows = sum(result["rows"].values())
    return Text(f"copied {rows} rows and {result['artifacts']} artifacts "
                f"({result['artifact_bytes'] / 1e6:.1f} MB) to {result['target']} in "
                f"{result['seconds']:.1f} s; audit verify on the copy: "
                f"{result['audit_entries']} entries, intact, head {result['head']['seq']} "
                f"{result['head']['hash'][:16]}")
