"""The command line: a thin layer over core/. Every action works headless.

Each command group lives in its own module with `register(subparsers)`; handlers take
(store, args) and return what to print (a dict/list for --json, else text).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import traceback

from ..core.errors import LabliftError
from . import admin, datasets, sample_project
from . import store as store_group
from .common import CommandError, emit

GROUPS = [datasets, sample_project, admin, store_group]


def _optional_groups() -> list:
    # Command groups added by later capabilities register themselves here when present.
    mods = []
    for name in ("experiments", "registry", "bundles", "monitoring", "lineage", "pipeline",
                 "webhooks"):
        try:
            mods.append(__import__(f"lablift.cli.{name}", fromlist=["register"]))
        except ModuleNotFoundError as exc:
            if exc.name != f"lablift.cli.{name}":
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lablift",
        description="Lablift: datasets, experiments, registry and approvals, bundles, monitoring "
                    "on a local lineage store. With no command, opens the GUI.")
    parser.add_argument("--store", metavar="DIR", help="lineage store folder "
                        "(default: $LABLIFT_STORE or the user data folder)")
    parser.add_argument("--user", metavar="NAME", help="act as this user "
                        "(default: $LABLIFT_USER or the login name)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the desktop app")
    gui.add_argument("--screenshot", metavar="PNG", help="render the window, save it, exit")
    gui.add_argument("--pane", metavar="NAME", help="pane to show: datasets, experiments, "
                     "registry, approvals, monitoring")
    gui.add_argument("--size", metavar="WxH", type=_size,
                     help="window size in pixels, e.g. 1024x640 (default: as last closed; "
                          "1280x800 for a screenshot)")
    gui.add_argument("--theme", choices=("system", "light", "dark"),
                     help="colours for this session (default: the setting, else the system's)")
    gui.set_defaults(handler=None)
    for group in GROUPS + _optional_groups():
        group.register(sub)
    return parser


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        size = (0, 0)
    if not sep or min(size) < 200 or max(size) > 10000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a window size like 1024x640 "
                                         f"(width and height in pixels, 200 to 10000)")
    return size


def open_store(args):
    from ..core.store import Store
    store = Store(args.store, user=args.user, on_wait=_note)
    if store.note:
        _note(store.note)
    return store


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    store = None
    try:
        if args.command in (None, "gui"):
            from ..gui.app import run_gui
            return run_gui(store_dir=args.store, user=args.user,
                           screenshot=getattr(args, "screenshot", None),
                           pane=getattr(args, "pane", None),
                           size=getattr(args, "size", None),
                           theme=getattr(args, "theme", None))
        if getattr(args, "opens_store", True):
            store = open_store(args)
        result = args.handler(store, args)
        emit(result, getattr(args, "json", False))
        # a result may carry its own exit code (pipeline run: 3 checks failed, 4 review)
        return getattr(result, "exit_code", 0)
    except (LabliftError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:  # a fault of the database file itself, in one line
        from ..core.store import fault_message
        print(f"error: {fault_message(store, exc) if store else exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `lablift run list | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # no traceback reaches a user; LABLIFT_DEBUG=1 shows it
        if os.environ.get("LABLIFT_DEBUG"):
            traceback.print_exc()
        print(f"error: internal error ({type(exc).__name__}: {exc}); "
              f"run with LABLIFT_DEBUG=1 for details", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
