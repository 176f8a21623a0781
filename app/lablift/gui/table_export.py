"""What an item view shows, as text (visible columns in the order shown, rows depth first), and
its export to a CSV file ("Export as CSV…" of gui/context_menu.py).

An export writes every row and visible column, as displayed, in a worker: to a temporary file
beside the target, then renamed, so a failed export leaves no half-written file. "—"
(missing) is written as an empty cell. Qt models are not thread-safe, so the text is read on
the GUI thread, a slice of rows per event-loop turn (ten thousand rows of a Python model take
seconds to read; the window must not freeze meanwhile), and read again from the start if the
model changes while it is read. Where reading off the GUI thread is safe, the data itself is
handed to the worker: an Arrow table (immutable: a million-row dataset is written by
pyarrow) and a flat RecordsTableModel's dicts and formatters.
"""

from __future__ import annotations

import csv
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

from PySide6.QtCore import QAbstractProxyModel, QModelIndex, QObject, QSettings, Qt, QTimer, \
    Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHeaderView, QListView,
                               QTableView, QTreeView)

from ..core.errors import Cancelled, LabliftError
from .column_fit import ColumnFitter
from .notifications import notify
from .tablemodels import MISSING, ArrowTableModel, RecordsTableModel, _is_missing, format_value
from .workers import Task, run_task

DISPLAY = Qt.ItemDataRole.DisplayRole
CSV_FILTER = "CSV files (*.csv);;All files (*)"
CHECK_EVERY = 5000  # rows written between cancellation checks
SLICE_S = 0.015  # GUI-thread time per event-loop turn while reading a view's text
MAX_RESTARTS = 5  # a model that keeps changing: give up instead of reading forever


# -- what a view shows ----------------------------------------------------------------------------
def header_view(view: QAbstractItemView) -> QHeaderView | None:
    if isinstance(view, QTableView):
        return view.horizontalHeader()
    if isinstance(view, QTreeView):
        return view.header()
    return None


def columns_shown(view: QAbstractItemView) -> list[int]:
    """The visible columns, in the order shown."""
    model = view.model()
    if model is None:
        return []
    if isinstance(view, QListView):
        return [view.modelColumn()]
    header = header_view(view)
    columns = range(model.columnCount(view.rootIndex()))
    if header is None:
        return list(columns)
    # a column that stepped aside only for want of room (gui/column_fit.py) is still the
    # table's: the file must not depend on how wide the window was
    for_room = {c for fitter in view.findChildren(ColumnFitter) for c in fitter.hidden}
    return sorted((c for c in columns if not header.isSectionHidden(c) or c in for_room),
                  key=header.visualIndex)


def headers_shown(view: QAbstractItemView, columns: list[int]) -> list[str] | None:
    """The header texts of `columns`; None for a view without a visible header (a list)."""
    header = header_view(view)
    if header is None or header.isHidden():
        return None
    model = view.model()
    return [cell_text(model.headerData(c, Qt.Orientation.Horizontal, DISPLAY)) for c in columns]


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "" if text == MISSING else text


def rows_shown(view: QAbstractItemView, parent: QModelIndex | None = None
               ) -> Iterable[QModelIndex]:
    """Column-0 index of every row, depth first in a tree (collapsed or not)."""
    model = view.model()
    parent = view.rootIndex() if parent is None else parent
    for r in range(model.rowCount(parent)):
        index = model.index(r, 0, parent)
        yield index
        if isinstance(view, QTreeView) and model.hasChildren(index):
            yield from rows_shown(view, index)


def to_source(model, index: QModelIndex) -> tuple[Any, QModelIndex]:
    """The model under any proxies, and `index` mapped to it."""
    while isinstance(model, QAbstractProxyModel):
        index, model = model.mapToSource(index), model.sourceModel()
    return model, index


def _proxies(view: QAbstractItemView) -> list:
    model, out = view.model(), []
    while isinstance(model, QAbstractProxyModel):
        out.append(model)
        model = model.sourceModel()
    return out


def _python_data(model) -> bool:
    """Whether a Python class of `model` redefines data() (its display text may differ)."""
    for klass in type(model).__mro__:
        if klass.__module__.startswith("PySide6"):
            return False
        if "data" in vars(klass):
            return True
    return False


def _handover(view: QAbstractItemView) -> Callable[[], tuple[Any, Iterable]] | None:
    """The view's data for the worker where reading it there is safe: a function returning
    (header, rows), or ("arrow", table); None when the GUI thread must read the text."""
    model, columns = view.model(), columns_shown(view)
    if isinstance(model, ArrowTableModel) and type(model).data is ArrowTableModel.data:
        table = model.table().select(columns)
        return lambda: ("arrow", table)
    source = to_source(model, QModelIndex())[0]
    if (isinstance(source, RecordsTableModel) and type(source).data is RecordsTableModel.data
            and not any(_python_data(m) for m in _proxies(view))
            and not isinstance(view, QTreeView)):
        header = headers_shown(view, columns)
        records = [source.record(to_source(model, i)[1].row()) for i in rows_shown(view)]
        formats = [(source.columns[c].key, source.columns[c].fmt) for c in columns]

        def text(value, fmt) -> str:  # as RecordsTableModel.data displays it
            if fmt is not None:
                return cell_text(fmt(value))
            return "" if _is_missing(value) else cell_text(format_value(value))
        return lambda: (header, ([text(r.get(k), f) for k, f in formats] for r in records))
    return None


# -- writing --------------------------------------------------------------------------------------
def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")


def write_csv(path: Path, header: list[str] | None, rows: Iterable[list[str]],
              cancelled: Callable[[], bool] = lambda: False) -> int:
    """Write `rows` to `path` through a temporary file beside it; the number of rows."""
    tmp, n = _temporary(path), 0
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if header is not None:
                writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                n += 1
                if n % CHECK_EVERY == 0 and cancelled():
                    raise Cancelled(f"export to {path} cancelled")
        os.replace(tmp, path)
    except OSError as exc:
        raise LabliftError(exc.strerror or str(exc)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return n


def write_arrow(path: Path, table) -> int:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    tmp = _temporary(path)
    try:
        pacsv.write_csv(table, str(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        raise LabliftError(exc.strerror or str(exc)) from exc
    except pa.ArrowException as exc:  # a column type CSV cannot hold
        raise LabliftError(str(exc)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return table.num_rows


# -- one export -----------------------------------------------------------------------------------
class Export(QObject):
    """The export of `view` to `path` (see the module doc). Lives as long as the view; the
    outcome goes through `notify` (info: the rows written; error: what failed, naming the
    file) and `finished(rows)` / `failed(message)`."""

    finished = Signal(int)
    failed = Signal(str)

    def __init__(self, view: QAbstractItemView, path: str | Path):
        super().__init__(view)
        self.view, self.path = view, Path(path)
        self.task: Task | None = None
        self._reading = False
        handover = _handover(view)
        if handover is not None:
            self._write(handover)
            return
        self._columns = columns_shown(view)
        self._header = headers_shown(view, self._columns)
        self._restarts = -1
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._read_slice)
        model = view.model()
        for signal in (model.modelAboutToBeReset, model.layoutAboutToBeChanged,
                       model.rowsAboutToBeInserted, model.rowsAboutToBeRemoved,
                       model.rowsAboutToBeMoved):
            signal.connect(self._restart)
        self._reading = True
        self._restart()
        self._timer.start()

    def is_running(self) -> bool:
        return self._reading or (self.task is not None and self.task.is_running())

    def _restart(self, *_args) -> None:
        """Read from the first row again: the rows read so far (and the walk's indexes) may
        no longer be what the view shows."""
        if not self._reading:
            return
        self._restarts += 1
        self._rows: list[list[str]] = []
        self._walk = None  # a new walk starts at the next slice, once the change is done

    def _read_slice(self) -> None:
        if self._restarts > MAX_RESTARTS:
            self._stop()
            self._failed("the table kept changing while it was read; try again")
            return
        model, columns = self.view.model(), self._columns
        if self._walk is None:
            self._walk = rows_shown(self.view)
        end = time.monotonic() + SLICE_S
        for index in self._walk:
            self._rows.append([cell_text(model.data(index.siblingAtColumn(c), DISPLAY))
                               for c in columns])
            if time.monotonic() > end:
                return  # the rest at the next event-loop turn
        self._stop()
        header, rows = self._header, self._rows
        self._write(lambda: (header, rows))

    def _stop(self) -> None:
        self._reading = False
        self._timer.stop()

    def _write(self, produce: Callable[[], tuple[Any, Iterable]]) -> None:
        path = self.path

        def work(progress, cancelled) -> int:
            header, rows = produce()
            if header == "arrow":
                return write_arrow(path, rows)
            return write_csv(path, header, rows, cancelled)
        self.task = run_task(work)
        self.task.finished.connect(self._finished)
        self.task.failed.connect(self._failed)

    def _finished(self, n: int) -> None:
        notify(f"Exported {n:,} row{'s' if n != 1 else ''} to {self.path}", "info", "Export")
        self.finished.emit(n)

    def _failed(self, text: str) -> None:
        notify(f"Could not export to {self.path}:\n\n{text}", "error", "Export failed")
        self.failed.emit(text)


def export_csv(view: QAbstractItemView, path: str | Path) -> Export:
    """Export `view` to `path` (see Export); the newest export is `view.last_export`."""
    view.last_export = Export(view, path)
    return view.last_export


def ask_export(view: QAbstractItemView, name: str = "table") -> Export | None:
    """Ask for a file (starting in the folder of the last export), then export to it."""
    settings = QSettings()
    folder = str(settings.value("export/last_dir", str(Path.home())))
    path, _ = QFileDialog.getSaveFileName(view, "Export as CSV",
                                          str(Path(folder) / f"{name}.csv"), CSV_FILTER)
    if not path:
        return None
    target = Path(path)
    if not target.suffix:
        target = target.with_suffix(".csv")
    settings.setValue("export/last_dir", str(target.parent))
    return export_csv(view, target)
