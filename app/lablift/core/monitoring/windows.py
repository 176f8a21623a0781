"""Splitting a batch into windows: by day, by week (a timestamp column) or by a number of
rows; a log's error lines join the window of the row before them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import LabliftError
from .batch_files import ERROR_MARK
from .schema import _finding


def parse_window(window: str | int | None) -> str | int | None:
    if window is None or window == "":
        return None
    if isinstance(window, int):
        n = window
    elif str(window).strip().lower() in ("day", "week"):
        return str(window).strip().lower()
    else:
        try:
            n = int(str(window).strip())
        except ValueError:
            raise LabliftError(f"window {window!r} is not day, week or a number of rows") \
                from None
    if n < 1:
        raise LabliftError(f"window {window!r}: a number of rows must be at least 1")
    return n


def split_windows(frame: pd.DataFrame, timestamp: str | None, window: str | int | None,
                  findings: list) -> list[tuple[str | None, dict[str, Any], pd.DataFrame]]:
    """[(label, {start, end}, part)] in time order; one part when there is no window."""
    ts = None
    if timestamp:
        raw = frame[timestamp]
        ts = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
        bad = int((ts.isna() & raw.notna()).sum() + raw.isna().sum())
        if bad:
            findings.append(_finding("bad_timestamp", timestamp, "warning",
                                     f"{bad} rows have no readable timestamp in column "
                                     f"{timestamp!r}; they are left out of the windows",
                                     rows=bad))
        keep = ts.notna().to_numpy()
        frame, ts = frame[keep], ts[keep]
        order = np.argsort(ts.to_numpy(), kind="stable")
        frame, ts = frame.iloc[order], ts.iloc[order]
        if frame.empty:
            raise LabliftError(f"column {timestamp!r} has no readable timestamps")
    if window is None:
        span = _span(ts)
        return [(None, span, frame)]
    if isinstance(window, int):
        # a log's error lines are not rows: each joins the window of the row before it
        ok = (~frame[ERROR_MARK].eq(True).to_numpy()
              if ERROR_MARK in frame.columns else np.ones(len(frame), dtype=bool))
        n_ok = int(ok.sum())
        index = np.maximum(np.cumsum(ok) - 1, 0) // window
        parts = []
        for w in range(max(-(-n_ok // window), 1)):
            mask = index == w
            start = w * window
            label = (f"rows {start + 1}-{min(start + window, n_ok)}" if n_ok
                     else "no rows")
            parts.append((label, _span(ts[mask] if ts is not None else None), frame[mask]))
        return parts
    if ts is None:
        raise LabliftError(f"window {window!r} needs a timestamp column (--timestamp COL)")
    day = ts.dt.floor("D")
    key = day if window == "day" else day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    parts = []
    for k in pd.unique(key):
        mask = (key == k).to_numpy()
        label = (pd.Timestamp(k).strftime("%Y-%m-%d") if window == "day"
                 else "week of " + pd.Timestamp(k).strftime("%Y-%m-%d"))
        parts.append((label, _span(ts[mask]), frame[mask]))
    return parts


def _span(ts: pd.Series | None) -> dict[str, Any]:
    if ts is None or ts.empty:
        return {"start": None, "end": None}
    return {"start": ts.min().isoformat(), "end": ts.max().isoformat()}
