"""`lablift webhooks ...`: where governance events are POSTed (admin), and their delivery log.
The contract a receiver relies on is docs/webhooks.md."""

from __future__ import annotations

import atexit
import os
import sys

from .common import CommandError, Text, add_json, table

EVENT_HELP = ("comma-separated: version.register (pending review), version.approve, "
              "version.reject, version.attention (alert raised), monitor.retrain "
              "(challenger ready)")


def _exit_report() -> None:
    """At a CLI's exit: wait (at most core.webhooks.EXIT_WAIT_S) for the deliveries this
    command queued, and say in one line what stays in the outbox."""
    webhooks = sys.modules.get("lablift.core.webhooks")
    if webhooks is None:  # nothing was queued or sent in this process
        return
    note = webhooks.exit_note(*webhooks.wait_exit())
    if note:
        print(f"note: {note}", file=sys.stderr, flush=True)


_registered = []


def register(sub) -> None:
    if not _registered:  # every CLI run builds the parser; the report is registered once
        _registered.append(atexit.register(_exit_report))
    wh = sub.add_parser("webhooks", help="POST signed events to URLs (admin), and the "
                        "delivery log")
    ws = wh.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)
    add = ws.add_parser("add", help="send these events to URL, signed with HMAC-SHA256")
    add.add_argument("url", metavar="URL")
    add.add_argument("--events", required=True, metavar="EVENT,...", help=EVENT_HELP)
    add.add_argument("--secret-env", metavar="VAR", help="take the signing secret from this "
                     "environment variable (default: generate one and print it once)")
    add_json(add)
    add.set_defaults(handler=cmd_add)
    ls = ws.add_parser("list", help="the webhooks (never their secrets)")
    add_json(ls)
    ls.set_defaults(handler=cmd_list)
    rm = ws.add_parser("remove", help="stop sending to a webhook; cancels its pending "
                       "deliveries")
    rm.add_argument("id", type=int, metavar="ID")
    add_json(rm)
    rm.set_defaults(handler=cmd_remove)
    ro = ws.add_parser("rotate", help="give a webhook a new signing secret (same id, events "
                       "and log); pending deliveries are signed with it when sent")
    ro.add_argument("id", type=int, metavar="ID")
    ro.add_argument("--secret-file", metavar="FILE", help="read the new secret from this file "
                    "(one line; default: generate one and print it once)")
    add_json(ro)
    ro.set_defaults(handler=cmd_rotate)
    te = ws.add_parser("test", help="send one signed test delivery now")
    te.add_argument("id", type=int, metavar="ID")
    add_json(te)
    te.set_defaults(handler=cmd_test)
    log = ws.add_parser("log", help="the latest deliveries and their state")
    log.add_argument("--limit", type=int, default=50)
    add_json(log)
    log.set_defaults(handler=cmd_log)
    de = ws.add_parser("deliver", help="send the deliveries that are due (retries included; "
                       "the pending ones of any process, e.g. from cron)")
    de.add_argument("--wait", type=float, default=0.0, metavar="S", help="keep sending "
                    "retries as they fall due, for up to S seconds")
    de.add_argument("--watch", action="store_true", help="keep delivering until stopped "
                    "(SIGTERM or Ctrl-C): the deliverer service of a team store")
    add_json(de)
    de.set_defaults(handler=cmd_deliver)


def cmd_add(store, args):
    from ..core import webhooks
    secret = None
    if args.secret_env:
        secret = os.environ.get(args.secret_env)
        if not secret:
            raise CommandError(f"--secret-env {args.secret_env}: that environment variable "
                               f"is not set or is empty")
    hook = webhooks.add(store, args.url, args.events, secret)
    if args.json:
        return hook
    text = f"webhook {hook['id']}: {hook['url']} on {', '.join(hook['events'])}"
    return Text(text + _shown_once(hook))


def _shown_once(hook) -> str:
    if "secret" not in hook:
        return ""
    return (f"\nsecret (shown once; receivers verify X-Lablift-Signature with it):\n"
            f"{hook['secret']}")


def _read_secret(path: str) -> str:
    """The secret in FILE: its text without the final line break (a secret may hold any
    character but a line break, and must not be only whitespace)."""
    from pathlib import Path
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise CommandError(f"--secret-file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise CommandError(f"--secret-file {path}: not UTF-8 text") from None
    secret = text[:-1] if text.endswith("\n") else text
    secret = secret[:-1] if secret.endswith("\r") else secret
    if not secret.strip():
        raise CommandError(f"--secret-file {path}: the file is empty: put the secret on its "
                           f"first line")
    if "\n" in secret or "\r" in secret:
        raise CommandError(f"--secret-file {path}: holds more than one line; the secret is "
                           f"one line")
    return secret


def cmd_rotate(store, args):
    from ..core import webhooks
    secret = _read_secret(args.secret_file) if args.secret_file else None
    hook = webhooks.rotate(store, args.id, secret)
    if args.json:
        return hook
    n = hook["pending_deliveries"]
    return Text(f"webhook {hook['id']}: secret rotated"
                + (f"; {n} pending deliver{'ies' if n != 1 else 'y'} will be signed with it"
                   if n else "") + _shown_once(hook))


def cmd_list(store, args):
    from ..core import webhooks
    rows = webhooks.list_webhooks(store)
    if args.json:
        return rows
    for r in rows:
        r["events"] = ",".join(r["events"])
    return Text(table(rows, ["id", "url", "events", "created_by", "created_at"]))


def cmd_remove(store, args):
    from ..core import webhooks
    out = webhooks.remove(store, args.id)
    if args.json:
        return out
    n = out["cancelled_deliveries"]
    return Text(f"webhook {out['id']} removed" + (f"; {n} pending deliver"
                                                  f"{'ies' if n != 1 else 'y'} cancelled"
                                                  if n else ""))


def cmd_test(store, args):
    from ..core import webhooks
    out = webhooks.test(store, args.id)
    if out["state"] != "delivered":
        raise CommandError(f"test delivery to webhook {args.id} failed: "
                           f"{out['last_error'] or out['state']}")
    if args.json:
        return out
    return Text(f"test delivery {out['delivery_id']} to webhook {args.id}: HTTP "
                f"{out['last_status']}")


def cmd_log(store, args):
    from ..core import webhooks
    rows = webhooks.delivery_log(store, args.limit)
    if args.json:
        return rows
    for r in rows:
        r["status"] = r.pop("last_status")
        r["error"] = r.pop("last_error")
    return Text(table(rows, ["id", "webhook_id", "seq", "event", "state", "attempts", "status",
                             "next_attempt_at", "error"]))


def cmd_deliver(store, args):
    import signal
    import threading

    from ..core import webhooks
    stop = threading.Event()
    if args.watch:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        done = webhooks.deliver(store, float("inf") if args.watch else max(0.0, args.wait),
                                stop)
    except KeyboardInterrupt:
        done = []
    if args.json:
        return done
    states = [d["state"] for d in done]
    return Text(f"{len(done)} attempt{'s' if len(done) != 1 else ''}: "
                + (", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
                   or "nothing was due"))
