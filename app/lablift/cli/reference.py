"""The command-line reference (docs/cli.md), generated from the parser itself so that it can
never drift from what `lablift --help` says. Regenerate with

    python -m lablift.cli.reference docs/cli.md

tests/test_cli_reference.py fails when docs/cli.md is not what this module writes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Iterator

WIDTH = 96  # argparse wraps help to the terminal; a fixed width keeps the file stable

HEADER = """# Command-line reference

Generated from the parser by `python -m lablift.cli.reference docs/cli.md`; do not edit by
hand. Every command takes the global options `--store` and `--user` before its name (see
`lablift`), prints `error: ...` and exits 1 when it refuses, and most take `--json`.

"""


def commands(parser: argparse.ArgumentParser,
             path: tuple[str, ...] = ("lablift",)) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (command path, parser), depth first, in the order `--help` lists them."""
    yield path, parser
    for action in parser._actions:  # argparse has no public walk over subcommands
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, path + (name,))


def markdown(parser: argparse.ArgumentParser | None = None) -> str:
    if parser is None:
        from . import build_parser
        parser = build_parser()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        found = list(commands(parser))
        parts = [HEADER, "| command | what it does |\n|---|---|\n"]
        helps = _help_lines(parser)
        for path, _ in found[1:]:
            name = " ".join(path)
            parts.append(f"| [`{name}`](#{_anchor(name)}) | {helps.get(path, '')} |\n")
        for path, sub in found:
            name = " ".join(path)
            parts.append(f"\n## {name}\n\n```text\n{sub.format_help().rstrip()}\n```\n")
        return "".join(parts)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def _help_lines(parser: argparse.ArgumentParser,
                path: tuple[str, ...] = ("lablift",)) -> dict[tuple[str, ...], str]:
    """The one-line help each subcommand was registered with."""
    found: dict[tuple[str, ...], str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                found[path + (name,)] = " ".join(str(helps.get(name, "")).split()).replace("|", "\\|")
                found.update(_help_lines(sub, path + (name,)))
    return found


def _anchor(title: str) -> str:
    # GitHub's heading anchors: lower case, spaces to hyphens, punctuation dropped
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = markdown()
    if not argv:
        sys.stdout.write(text)
        return 0
    target = Path(argv[0])
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)
    print(f"wrote {target} ({text.count(chr(10) + '## ')} commands)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
