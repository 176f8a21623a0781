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
    add_json(init)
    init.set_defaults(handler=cmd_init, opens_store=False)
    info = ss.add_parser("info", help="engine, server, schema version and who you are in the "
                         "store --store names (a folder or a postgresql:// URL)")
    add_json(info)
    info.set_defaults(handler=cmd_info, opens_store=False)


def cmd_init(store, args):
    from ..core.store import team
    result = team.init(args.url)
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
