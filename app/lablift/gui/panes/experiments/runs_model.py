"""The runs tree's model: runs, each sweep's runs grouped under a row of its own with the
best marked (core.sweeps.best_run), sorted in Python; the proxy that filters it; and the
sweep rows the worker builds for it."""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QSortFilterProxyModel, Qt

from ....core import evaluation, sweeps
from ... import palette
from ...tablemodels import ALIGN_LEFT, ALIGN_RIGHT, MISSING, RAW_ROLE, _is_missing, _sort_key, \
    format_value
from .common import BOLD


class RunsTableModel(QAbstractItemModel):
    """Runs, each sweep's runs grouped under a row of its own; sorted in Python.

    Top-level rows are runs outside sweeps and sweep rows (a sweep sorts by its first run);
    a sweep's runs are its children, sorted the same way. Rows are relative to their parent:
    go from an index to its run with `run_at`, from a run id to its index with `index_of`.
    A QSortFilterProxyModel sort calls lessThan (Python) ~n·log n times through Qt: seconds
    at 10,000 runs. Sorting the lists here takes milliseconds; the proxy only filters.
    """

    def __init__(self, columns, parent=None):
        super().__init__(parent)
        self.columns = list(columns)
        self.sort_key: str | None = "id"
        self.sort_order = Qt.SortOrder.DescendingOrder
        self._records: list[dict] = []  # every run, as loaded
        self._sweeps: dict[int, dict] = {}  # sweep id -> its row's record (load_pane_data)
        self._top: list[dict] = []  # runs outside sweeps and sweep rows, in the order shown
        self._children: dict[int, list[dict]] = {}  # sweep id -> its runs, in the order shown
        self._top_row: dict[int, int] = {}  # sweep id -> its row
        self._where: dict[int, tuple[int, int]] = {}  # run id -> (sweep id or 0, row)

    # -- content -----------------------------------------------------------------------
    def set_records(self, records: Sequence[dict], sweeps: dict[int, dict] | None = None
                    ) -> None:
        self.beginResetModel()
        self._records, self._sweeps = list(records), dict(sweeps or {})
        self._arrange()
        self.endResetModel()

    def _sorted(self, entries: list[dict], key_of=lambda e: e) -> list[dict]:
        key = self.sort_key
        if key is None:
            return entries
        present = [e for e in entries if not _is_missing(key_of(e).get(key))]
        missing = [e for e in entries if _is_missing(key_of(e).get(key))]
        present.sort(key=lambda e: _sort_key(key_of(e).get(key)),
                     reverse=self.sort_order == Qt.SortOrder.DescendingOrder)
        return present + missing  # missing values last either way

    def _arrange(self) -> None:
        top, groups = [], {}
        for r in self._records:
            sid = r.get("sweep_id")
            if sid in self._sweeps:
                groups.setdefault(sid, []).append(r)
            else:
                top.append(r)
        self._children = {sid: self._sorted(runs) for sid, runs in groups.items()}
        heads = {sid: self._sweeps[sid] for sid in groups}
        for sid, head in heads.items():
            head["first"] = self._children[sid][0]
        self._top = self._sorted(top + list(heads.values()),
                                 lambda e: e["first"] if e.get("kind") == "sweep" else e)
        self._top_row = {e["sweep_id"]: n for n, e in enumerate(self._top)
                         if e.get("kind") == "sweep"}
        self._where = {e["id"]: (0, n) for n, e in enumerate(self._top) if e.get("kind") != "sweep"}
        for sid, runs in self._children.items():
            self._where.update((r["id"], (sid, n)) for n, r in enumerate(runs))

    def records(self) -> list[dict]:
        """Every run (sweep rows are not runs)."""
        return list(self._records)

    def record(self, row: int) -> dict:
        """The top-level row's record: a run, or a sweep row (kind "sweep", id None)."""
        return self._top[row]

    def node(self, index: QModelIndex) -> dict:
        sid = index.internalId()
        return self._top[index.row()] if sid == 0 else self._children[sid][index.row()]

    def child_record(self, row: int, parent: QModelIndex) -> dict:
        if not parent.isValid():
            return self._top[row]
        return self._children[self._top[parent.row()]["sweep_id"]][row]

    def run_at(self, index: QModelIndex) -> dict | None:
        """The run at `index` (a source index), None on a sweep row."""
        rec = self.node(index) if index.isValid() else None
        return None if rec is None or rec.get("kind") == "sweep" else rec

    def index_of(self, run_id: int, column: int = 0) -> QModelIndex:
        where = self._where.get(run_id)
        return QModelIndex() if where is None else self.createIndex(where[1], column, where[0])

    def sweep_index(self, sweep_id: int, column: int = 0) -> QModelIndex:
        row = self._top_row.get(sweep_id)
        return QModelIndex() if row is None else self.createIndex(row, column, 0)

    def sweep_ids(self) -> list[int]:
        return list(self._top_row)

    def sweep(self, sweep_id: int) -> dict | None:
        return self._sweeps.get(sweep_id)

    # -- the tree ------------------------------------------------------------------------
    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        if not parent.isValid():  # the hot path: top-level rows
            if 0 <= row < len(self._top) and 0 <= column < len(self.columns):
                return self.createIndex(row, column, 0)
            return QModelIndex()
        if not 0 <= column < len(self.columns):
            return QModelIndex()
        head = self._top[parent.row()] if parent.internalId() == 0 else None
        if head is None or head.get("kind") != "sweep":
            return QModelIndex()
        sid = head["sweep_id"]
        return self.createIndex(row, column, sid) if 0 <= row < len(self._children[sid]) \
            else QModelIndex()

    def parent(self, index: QModelIndex) -> QModelIndex:  # noqa: the model's parent item
        sid = index.internalId() if index.isValid() else 0
        return QModelIndex() if sid == 0 else self.createIndex(self._top_row[sid], 0, 0)

    def hasChildren(self, parent: QModelIndex = QModelIndex()) -> bool:
        # One Python call per row as a tree view lays out 10,000 rows (the default asks
        # rowCount and columnCount).
        if not parent.isValid():
            return bool(self._top)
        return (parent.internalId() == 0 and parent.column() == 0
                and self._top[parent.row()].get("kind") == "sweep")

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        if not parent.isValid():
            return len(self._top)
        if parent.internalId() != 0 or parent.column() != 0:
            return 0
        head = self._top[parent.row()]
        return len(self._children[head["sweep_id"]]) if head.get("kind") == "sweep" else 0

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return len(self.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        rec = self.node(index)
        head = rec.get("kind") == "sweep"
        if role == Qt.ItemDataRole.FontRole:
            return BOLD if head or rec.get("best") else None
        if index.column() == 0 and (head or rec.get("best")):
            if role == Qt.ItemDataRole.DisplayRole:
                return rec["label"] if head else f"★ {rec['id']}"
            if role == Qt.ItemDataRole.ToolTipRole:
                return rec["tooltip"] if head else rec["best_tip"]
            if head and role == Qt.ItemDataRole.TextAlignmentRole:
                return ALIGN_LEFT  # it spans the table: read from the left
            if head and role == Qt.ItemDataRole.ForegroundRole:
                return None
        if head and role == Qt.ItemDataRole.BackgroundRole:
            return palette.brush("group_bg")
        col = self.columns[index.column()]
        value = rec.get(col.key)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if col.fmt is not None:
                return col.fmt(value)
            return MISSING if _is_missing(value) else format_value(value)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col.align is not None:
                return col.align
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            return ALIGN_RIGHT if numeric else ALIGN_LEFT
        if role == Qt.ItemDataRole.ForegroundRole and _is_missing(value) and col.fmt is None:
            return palette.brush("faint")
        if role == RAW_ROLE:
            return value
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or section >= len(self.columns):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.columns[section].tooltip
        return None

    # -- sorting --------------------------------------------------------------------------
    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        if column < 0 or column >= len(self.columns):
            return
        self.sort_key, self.sort_order = self.columns[column].key, order
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        kept = [(self.node(i), i.column()) for i in old]
        self._arrange()
        self.changePersistentIndexList(old, [
            self.sweep_index(rec["sweep_id"], c) if rec.get("kind") == "sweep"
            else self.index_of(rec["id"], c) for rec, c in kept])
        self.layoutChanged.emit()


class RunsFilterProxy(QSortFilterProxyModel):
    """Filters runs by a precomputed set of ids (a sweep row shows while one of its runs
    does); sorting is delegated to the source model."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.accepted: set[int] | None = None
        self.setRecursiveFilteringEnabled(True)

    def set_accepted(self, ids: set[int] | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            self.accepted = ids
            self.endFilterChange()
        else:
            self.accepted = ids
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        if self.accepted is None:
            return True
        rec = self.sourceModel().child_record(row, parent)
        return rec.get("kind") != "sweep" and rec["id"] in self.accepted

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)


def sweep_rows(store, runs: Sequence[dict], records: Sequence[dict]) -> dict[int, dict]:
    """A sweep row per sweep with runs (its summary line, tooltip, best run's metrics); marks
    each sweep's best run (core.sweeps.best_run) in `records`: "best" (the metric) and
    "best_tip", and the filter fields best and sweep."""
    groups: dict[int, list[int]] = {}
    for n, r in enumerate(runs):
        if r.get("sweep_id") is not None:
            groups.setdefault(r["sweep_id"], []).append(n)
    if not groups:
        return {}
    listed = {s["id"]: s for s in sweeps.list_sweeps(store)}
    out = {}
    for sid, members in groups.items():
        row, group = listed.get(sid), [runs[n] for n in members]
        if row is None:
            continue
        spec = row.get("spec") or {}
        task = spec.get("task") or group[0].get("task") or "classification"
        best_id, metric = sweeps.best_run(task, group)
        mode = "grid" if spec.get("grid") else "random"
        varied = list(spec.get("grid") or spec.get("space") or {}) or ["every parameter"]
        done = sum(r["status"] != "running" for r in group)
        label = f"sweep #{sid} · {mode} · {len(group)} runs"
        first = records[members[0]]
        head = {"kind": "sweep", "id": None, "sweep_id": sid, "status": row["status"],
                "dataset": first["dataset"], "algorithm": first["algorithm"],
                "target": first["target"], "who": row.get("created_by"),
                "when": row.get("created_at"), "best_run_id": best_id}
        tip = (f"Sweep {sid}: {mode} search of {first['algorithm']} on {first['dataset']} → "
               f"{first['target']} ({row.get('backend') or 'local'}), varying "
               f"{', '.join(varied)}; by {row.get('created_by')}")
        for n in members:
            records[n]["fields"]["sweep"] = sid
            records[n]["fields"]["best"] = False
        if best_id is not None:
            best = records[members[[r["id"] for r in group].index(best_id)]]
            name, value, source = evaluation.primary_metric(
                task, next(r for r in group if r["id"] == best_id)["metrics"])
            how = "CV mean" if source == "cv" else "holdout"
            best["best"], best["fields"]["best"] = name, True
            best["best_tip"] = f"best by {name} ({how}) in sweep #{sid}"
            label += f" · best {name} {value:.4f}"
            tip += f"\nBest: run {best_id} by {name} ({how})"
            head.update({k: v for k, v in best.items() if k.startswith(("m.", "cv."))})
        if row["status"] == "running":
            label += f" · running, {done} of {len(group)} done"
        elif row["status"] != "finished":
            label += f" · {row['status']}"
        head["label"], head["tooltip"] = label, tip
        out[sid] = head
    return out
