"""Output helpers shared by the command groups."""

from __future__ import annotations

import json
import sys
from typing import Any


class CommandError(Exception):
    """A refused command (printed as `error: ...`, exit 1)."""


class Text(str):
    """Human output; printed as-is (with --json, the handler returns data instead)."""


def emit(result: Any, as_json: bool) -> None:
    if result is None:
        return
    if as_json:
        # orjson: 100,000 runs in a fraction of a second, where json.dump(indent=2) takes
        # ~20 s (its indenting encoder is Python). NaN prints as null (standard JSON).
        try:
            import orjson
            data = orjson.dumps(result, default=str, option=orjson.OPT_INDENT_2
                                | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
                                | orjson.OPT_APPEND_NEWLINE)
        except (ImportError, TypeError):  # no orjson, or what it cannot spell (big ints)
            json.dump(result, sys.stdout, indent=2, default=str, ensure_ascii=False)
            sys.stdout.write("\n")
            return
        out = getattr(sys.stdout, "buffer", None)
        if out is None:  # a text stream (a test's StringIO)
            sys.stdout.write(data.decode())
            return
        sys.stdout.flush()
        out.write(data)
        out.flush()
    elif isinstance(result, str):
        print(result)
    else:
        print(json.dumps(result, indent=2, default=str, ensure_ascii=False))


def add_json(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def table(rows: list[dict[str, Any]], columns: list[str], empty: str = "(none)") -> str:
    """A plain aligned text table."""
    if not rows:
        return empty
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def progress_printer():
    """A progress callback that redraws one line on a terminal's stderr; None when stderr is
    not a terminal (a log or a pipe gets the result lines only)."""
    if not sys.stderr.isatty():
        return None

    def progress(fraction: float, message: str) -> None:
        print(f"\r[{fraction:4.0%}] {message:<60}", end="", file=sys.stderr, flush=True)
    return progress
