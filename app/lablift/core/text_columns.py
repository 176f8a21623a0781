"""Text columns that are numbers or dates written the way people write them.

pyarrow types plain numbers and ISO dates itself; this module tries what is left as text:
numbers with separators ("1,234.56" thousands comma; "1.234,56" / "1 234,56" decimal comma;
a column fitting both follows the delimiter: decimal comma after `;`, as European Excel
writes) and dates dd/mm/yyyy, mm/dd/yyyy, dd.mm.yyyy, dd-mm-yyyy, yyyy/mm/dd (optionally with
HH:MM[:SS]), the order of day and month taken from the values. Column names are already clean.
All of it runs as pyarrow compute kernels over whole columns, never a Python loop per cell.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

_SPACES = "[ \u00a0\u202f]"
_NUMBER_STYLES = (  # (pattern, thousands separator as a regex, decimal mark)
    (r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$", ",", "."),
    (r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$", r"\.", ","),
    (r"^[+-]?(\d{1,3}(" + _SPACES + r"\d{3})+|\d+)(,\d+)?$", _SPACES, ","),
)
_TIME = r"(?: \d{1,2}:\d{2}(?::\d{2})?)?$"  # no capturing groups: extract_regex names all
_PROBE = 1000  # values tried before a pattern is run over the whole column


def _dmy(sep: str) -> str:
    s = re.escape(sep)
    return r"^(?P<a>\d{1,2})" + s + r"(?P<b>\d{1,2})" + s + r"\d{4}" + _TIME


_YMD = r"^\d{4}/\d{1,2}/\d{1,2}" + _TIME


def type_text_columns(table: pa.Table, delimiter: str | None, notes: list[str]) -> pa.Table:
    for i, (name, column) in enumerate(zip(table.column_names, table.columns)):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        values = column.drop_null()
        if len(values) == 0:
            continue
        typed = _as_number(values, column, delimiter)
        if typed is None:
            typed = _as_date(name, values, column, notes)
        if typed is not None:
            table = table.set_column(i, pa.field(name, typed.type), typed)
    return table


def _all_match(values: pa.ChunkedArray, pattern: str) -> bool:
    if not pc.all(pc.match_substring_regex(values.slice(0, _PROBE), pattern)).as_py():
        return False
    return bool(pc.all(pc.match_substring_regex(values, pattern)).as_py())


def _any_match(values: pa.ChunkedArray, pattern: str) -> bool:
    return bool(pc.any(pc.match_substring_regex(values, pattern)).as_py())


def _as_number(values, column, delimiter: str | None):
    if not re.match(r"[+-]?\d", values[0].as_py()):  # ordinary text: out at once
        return None
    styles = []
    for pattern, group, decimal in _NUMBER_STYLES:
        if not _all_match(values, pattern):
            continue
        grouped = _any_match(values, group + r"\d{3}")
        has_decimal = _any_match(values, re.escape(decimal))
        # a decimal comma style needs a decimal comma in some value: "192.168.100.200" or
        # "1.234.567" alone stay text (visibly), never a silently wrong number
        if decimal == "," and not has_decimal:
            continue
        if grouped or has_decimal:
            styles.append((group, decimal))
    if not styles:
        return None
    if len(styles) > 1:  # e.g. only "1,234": a decimal comma after `;`, else thousands
        styles = [s for s in styles if (s[1] == ",") == (delimiter == ";")] or styles
    group, decimal = styles[0]
    text = pc.replace_substring_regex(column, r"^\+", "")
    text = pc.replace_substring_regex(text, group, "")
    text = pc.replace_substring(text, decimal, ".")
    if not pc.any(pc.match_substring(text, ".")).as_py():
        try:
            return text.cast(pa.int64())
        except pa.ArrowInvalid:  # too big for int64
            pass
    return text.cast(pa.float64())


def _as_date(name: str, values, column, notes: list[str]):
    first = values[0].as_py()
    if re.match(_YMD, first):
        return _strptime(column, "%Y/%m/%d", values) if _all_match(values, _YMD) else None
    sep = next((s for s in "/.-" if re.match(_dmy(s), first)), None)
    if sep is None or not _all_match(values, _dmy(sep)):
        return None
    parts = pc.extract_regex(values, _dmy(sep))
    a_max = pc.max(pc.struct_field(parts, "a").cast(pa.int32())).as_py()
    b_max = pc.max(pc.struct_field(parts, "b").cast(pa.int32())).as_py()
    if sep == ".":
        order = "%d.%m.%Y"  # dotted dates are day first (German, Nordic, ...)
    elif a_max > 12 >= b_max:
        order = f"%d{sep}%m{sep}%Y"
    elif b_max > 12 >= a_max:
        order = f"%m{sep}%d{sep}%Y"
    elif a_max <= 12 and b_max <= 12:
        notes.append(f"column {name!r} looks like dates, but day and month "
                          f"cannot be told apart (no value above 12); it stays text")
        return None
    else:
        return None
    return _strptime(column, order, values)


def _strptime(column, date_format: str, values):
    if not _any_match(values, ":"):
        try:
            return pc.strptime(column, format=date_format, unit="s").cast(pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # e.g. 31/02/2024
            return None
    # HH:MM on some rows, HH:MM:SS on others: pad to seconds
    padded = pc.replace_substring_regex(column, r"( \d{1,2}:\d{2})$", r"\1:00")
    try:
        return pc.strptime(padded, format=date_format + " %H:%M:%S", unit="s")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
