"""How the GUI spells values: times, numbers, metrics. One place, so every pane agrees
(and no pane imports helpers from another)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def short_time(iso: str | None) -> str:
    """'2026-11-26T07:30:00.123+00:00' -> local '2026-11-26 08:30'."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def number(value: Any) -> str:
    """A count or a statistic: thousands separated, four significant digits otherwise."""
    if value is None:
        return "—"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def metric(value: Any, digits: int = 4) -> str:
    """A metric or parameter value: 'yes'/'no', large numbers separated, else `digits`
    significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 10000:
            return f"{value:,.0f}"
        if abs(value) >= 1000:
            return f"{value:,.1f}"
        return f"{value:.{digits}g}"
    return str(value)


def delta(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4f}"


NAME_LIMIT = 32  # characters of a name shown in a heading before its middle is cut


def short_name(name: Any, limit: int = NAME_LIMIT) -> str:
    """A long name with its middle cut ('quarterly_custo…very_long_name'), so a heading that
    cannot elide (rich text) still fits a narrow window; put the whole name in a tooltip."""
    text = str(name)
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def fit_name(name: Any, measure, room: float, least: int = NAME_LIMIT) -> str:
    """`name` whole when `measure(text)` (its width) is at most `room`, else cut in the middle
    until it fits, but never below `least` characters."""
    text = str(name)
    limit = len(text)
    while limit > least and measure(short_name(text, limit)) > room:
        limit -= 2
    return short_name(text, max(limit, least))
