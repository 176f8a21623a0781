"""Arranging the runs table (no Qt here): filter, sort and group the runs of a RunsData
into an Arrangement in a worker; on the GUI thread, open sweeps' runs spliced into the rows
shown and the difference between two row lists, as model signals, both a few numpy calls.

An arrangement's rows are codes (see runs_data): a run's position, or -sweep_id for a
sweep's row. Top-level rows are runs outside sweeps and one row per sweep, placed where its
first run would sort; each sweep's runs (sorted the same way) show under it when open.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .filter import parse_filter
from .runs_data import MAX_DIFF_RANGES, RunsData

TEXT_SORTED = ("status", "dataset", "algorithm", "target", "who", "when")


@dataclass
class Arrangement:
    data: RunsData
    key: str | None
    descending: bool
    text: str  # the filter
    top: np.ndarray  # codes of the top-level rows, in the order shown
    children: dict[int, np.ndarray] = field(default_factory=dict)  # sweep id -> positions
    shown: int = 0  # runs matching the filter
    unknown: list[str] = field(default_factory=list)  # field names no run has

    def settings(self) -> tuple:
        return self.key, self.descending, self.text


def arrange(data: RunsData, key: str | None, descending: bool, text: str) -> Arrangement:
    """The rows of `data` matching filter `text`, sorted by column `key` (missing values
    last either way, ties newest first), grouped under their sweeps."""
    terms = parse_filter(text)
    known = data.known_fields() if terms else set()
    unknown = sorted({t.field for t in terms if t.field is not None and t.field not in known})
    mask = np.ones(data.n, bool)
    for term in terms:
        mask &= term.mask(data)
    order = sort_positions(data, np.flatnonzero(mask), key, descending)
    top, children = _group(data, order)
    return Arrangement(data, key, descending, text, top, children, int(mask.sum()), unknown)


def _sort_values(data: RunsData, key: str | None, at: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """(values to sort by, missing) for the runs at `at`; None: no such column."""
    if key is None:
        return None
    if key == "id":
        return data.ids[at], np.zeros(len(at), bool)
    if key == "duration_s":
        values = data.duration[at]
        return values, np.isnan(values)
    for prefix, table in (("m.", data.holdout), ("cv.", data.cv)):
        if key.startswith(prefix):
            metric = table.get(key[len(prefix):])
            if metric is None:
                return None
            values = metric.values[at]
            return values, ~metric.has[at] | metric.none[at] | np.isnan(values)
    if key in TEXT_SORTED:
        column = getattr(data, key)[at]
        missing = np.array([v is None for v in column], bool)
        if not any(isinstance(v, (int, float)) for v in column):
            # rank by lowercased text: a numpy unicode sort, not Python comparisons
            words = np.array([str(v).lower() for v in column[~missing]], dtype=str)
            ranks = np.zeros(len(at), np.int64)
            if len(words):
                ranks[~missing] = np.unique(words, return_inverse=True)[1].ravel()
            return ranks, missing
        from ...tablemodels import _sort_key  # a column of numbers and words: rare
        keys = [_sort_key(v) for v in column]
        ranks = np.empty(len(at), np.int64)
        ranks[sorted(range(len(keys)), key=keys.__getitem__)] = np.arange(len(keys))
        return ranks, missing
    return None


def sort_positions(data: RunsData, at: np.ndarray, key: str | None, descending: bool
                   ) -> np.ndarray:
    newest_first = -data.ids[at]
    found = _sort_values(data, key, at)
    if found is None:
        return at[np.argsort(newest_first, kind="stable")]
    values, missing = found
    present = ~missing
    ranked = values[present]
    if descending:
        ranked = -ranked
    first = at[present][np.lexsort((newest_first[present], ranked))]
    last = at[missing][np.argsort(newest_first[missing], kind="stable")]
    return np.concatenate([first, last])


def _group(data: RunsData, order: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Top-level codes (each sweep's row where its first run is) and each sweep's runs."""
    member = data.grouped[order]
    if not member.any():
        return order, {}
    where = np.flatnonzero(member)
    sweep_ids = data.sweep_id[order[where]]
    ids, first = np.unique(sweep_ids, return_index=True)
    keep = ~member
    keep[where[first]] = True
    top = order.copy()
    top[where[first]] = -sweep_ids[first]
    by_sweep = np.argsort(sweep_ids, kind="stable")
    runs = order[where][by_sweep]
    bounds = np.append(np.searchsorted(sweep_ids[by_sweep], ids), len(runs))
    children = {int(s): runs[a:b] for s, a, b in zip(ids, bounds[:-1], bounds[1:])}
    return top[keep], children


# -- the GUI thread's part: vectorised, never a Python loop over runs ------------------------
def shown_rows(arrangement: Arrangement | None, opened: set[int]) -> np.ndarray:
    """The codes of the rows shown: the top-level rows, each open sweep's runs under it."""
    if arrangement is None:
        return np.zeros(0, np.int64)
    top = arrangement.top
    if not opened or not arrangement.children:
        return top
    heads = np.flatnonzero(top < 0)
    pieces, start = [], 0
    for row in heads.tolist():
        sid = -int(top[row])
        if sid in opened:
            pieces += [top[start:row + 1], arrangement.children[sid]]
            start = row + 1
    if not pieces:
        return top
    pieces.append(top[start:])
    return np.concatenate(pieces)


@dataclass
class RowDiff:
    """From one row list to another: ranges of old rows removed (last first), then ranges
    of new rows inserted (first first), then new rows whose content changed."""
    removed: list[tuple[int, int]]
    inserted: list[tuple[int, int]]
    changed: list[tuple[int, int]]


def _ranges(rows: np.ndarray) -> list[tuple[int, int]]:
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1)
    starts = np.concatenate([[rows[0]], rows[breaks + 1]])
    ends = np.concatenate([rows[breaks], [rows[-1]]])
    return list(zip(starts.tolist(), ends.tolist()))


def diff_rows(old: np.ndarray, new: np.ndarray, touched: np.ndarray) -> RowDiff | None:
    """How `old` became `new` as removals, insertions and changes, when the rows in both
    kept their order; a touched row (its run changed) that moved counts as removed and
    inserted. None when the rest moved too (a layout change) or it would take more than
    MAX_DIFF_RANGES ranges."""
    if not len(old) or not len(new):
        return None
    low = int(min(old.min(), new.min(), touched.min() if len(touched) else 0))
    size = int(max(old.max(), new.max(), touched.max() if len(touched) else 0)) - low + 1
    in_old, in_new, hit = (np.zeros(size, bool) for _ in range(3))
    in_old[old - low] = True
    in_new[new - low] = True
    hit[touched - low] = True
    stay_old, stay_new = in_new[old - low], in_old[new - low]
    if not np.array_equal(old[stay_old], new[stay_new]):
        stay_old &= ~hit[old - low]
        stay_new &= ~hit[new - low]
        if not np.array_equal(old[stay_old], new[stay_new]):
            return None
    removed = _ranges(np.flatnonzero(~stay_old))[::-1]
    inserted = _ranges(np.flatnonzero(~stay_new))
    if len(removed) + len(inserted) > MAX_DIFF_RANGES:
        return None
    changed = _ranges(np.flatnonzero(stay_new & hit[new - low]))
    return RowDiff(removed, inserted, changed)


@dataclass
class RowLookup:
    """Where each code is among the shown rows (-1: not shown)."""
    run_row: np.ndarray  # position -> row
    head_row: dict[int, int]  # sweep id -> row

    @classmethod
    def of(cls, rows: np.ndarray, n: int) -> "RowLookup":
        run_row = np.full(n, -1, np.int64)
        runs = rows >= 0
        run_row[rows[runs]] = np.flatnonzero(runs)
        heads = np.flatnonzero(~runs)
        return cls(run_row, {-int(rows[r]): int(r) for r in heads.tolist()})

    def row(self, code: int) -> int:
        if code >= 0:
            return int(self.run_row[code]) if code < len(self.run_row) else -1
        return self.head_row.get(-code, -1)
