"""The Datasets pane: dataset versions on the left; the selected version's data and profile on the right.

Everything that touches the store runs in a worker (PaneBase.start): the list of versions and
the user's role ("load"), the selected version's row ("version") and its Parquet table
("data"), and imports (button, File menu, drag and drop, sample data; "import", one at a time
from a queue). Import is disabled, with the core's reason, for a role that may not import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from PySide6.QtCore import QEvent, QMimeData, QSettings, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QPushButton, QSizePolicy, QSplitter, QStackedWidget,
                               QTableView, QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from ...core import datasets
from ...core.datasets import import_dataset
from ...core.errors import PermissionDenied
from ...resources import SAMPLE_LOANS
from .. import context_menu, palette
from ..lazy_chart import LazyChart  # matplotlib once the Profile tab is shown
from ..column_fit import fit_columns
from ..format import fit_name, number, short_time
from ..pane import PaneBase
from ..tablemodels import ALIGN_RIGHT, ArrowTableModel, Column, RecordsTableModel, make_sort_proxy
from ..welcome import BUTTON_TIP as SAMPLE_PROJECT_TIP, SampleProjectOffer
from ..widgets import EmptyState, ImportBar, empty_or_main, section_heading, side_by_side
from ..workers import Task, while_alive

SAMPLE_NAME = "sample_loans"
FILE_FILTER = ("Data files (*.csv *.tsv *.tab *.txt *.parquet *.pq *.parq *.xlsx *.xlsm);;"
               "All files (*)")
ID_ROLE = Qt.ItemDataRole.UserRole
IMPORT_TIP = "Import a CSV, TSV, Parquet or Excel file (Ctrl+O)"


def local_files(mime: QMimeData) -> list[str]:
    """Paths of the local files (not folders) in dropped/pasted mime data."""
    if not mime.hasUrls():
        return []
    paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
    return [p for p in paths if p and Path(p).is_file()]


def read_listing(store) -> dict[str, Any]:
    """The worker's read for `refresh`: the versions, and whether this user may import (the
    core's own refusal text, or None)."""
    try:
        store.require_role("importing datasets", "analyst")
        refusal = None
    except PermissionDenied as exc:
        refusal = str(exc)
    return {"rows": datasets.list_datasets(store), "import_refusal": refusal}


def _missing_text(rows: int):
    def fmt(missing: Any) -> str:
        if not missing:
            return "0"
        return f"{missing:,} ({missing / rows:.1%})" if rows else f"{missing:,}"
    return fmt


def _top_text(top: Any) -> str:
    if not top:
        return ""
    return ", ".join(f"{t['value']} ({t['count']:,})" for t in top[:3])


class Pane(PaneBase):
    title = "Datasets"

    def __init__(self, store, parent=None):
        super().__init__(store, parent)
        self._queue: list[tuple[str, str | None]] = []
        self._importing: tuple[str, str | None] | None = None
        self._shown_id: int | None = None
        self._wanted: int | None = None  # a version to select once the list is loaded
        self._profile: dict[str, Any] | None = None
        self.import_refusal: str | None = None  # why this user may not import (None: may)
        self.setAcceptDrops(True)
        self._build()
        self.refresh()

    # -- layout -------------------------------------------------------------
    def _build(self) -> None:
        self.empty = EmptyState(
            "No datasets yet",
            "Import a CSV, TSV, Parquet or Excel file, or drop one on this window.\n"
            "To look around first, create a sample project: the bundled 2,000 loan "
            "applications,\ntwo runs trained on them and a model version waiting for review "
            "(or open only the sample data).",
            [("project_button", "Create sample project"), ("sample_button", "Open sample data"),
             ("import_button", "Import a file…")],
            wrap=False)
        self.empty.project_button.setDefault(True)
        self.empty.sample_button.clicked.connect(self.import_sample)
        self.empty.import_button.clicked.connect(self.choose_and_import)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(10, 10, 4, 10)
        head = QHBoxLayout()
        heading = section_heading("Datasets")
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip(IMPORT_TIP)
        self.import_button.clicked.connect(self.choose_and_import)
        head.addWidget(heading)
        head.addStretch(1)
        head.addWidget(self.import_button)
        left_layout.addLayout(head)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Dataset", "Rows × cols", "Created"])
        for column, tip in enumerate(["Dataset name and its versions", "Rows × columns",
                                      "When the (latest) version was imported"]):
            self.tree.headerItem().setToolTip(column, tip)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names keep both ends
        # Narrow: Created, then Rows × cols step aside (each version's tooltip has them).
        self.tree_columns = fit_columns(self.tree, main=0, optional=[2, 1])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.tree.currentItemChanged.connect(self._on_tree_current)
        context_menu.install(self.tree, extra=self._context_actions, name="datasets")
        left_layout.addWidget(self.tree, 1)
        hint = QLabel("Drop data files here to import them.")
        hint.setStyleSheet(palette.css_text("faint"))
        left_layout.addWidget(hint)

        self.detail = self._build_detail()
        self.splitter = side_by_side(left, self.detail, [340, 900])
        # A quarter of any change in width goes to the list: long names get room on a wide
        # screen, and a small window keeps most of its width for the data.
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 3)
        left.setMinimumWidth(240)

        self.import_bar = ImportBar()
        self.import_bar.cancel_button.clicked.connect(self.cancel_import)
        self.pages = empty_or_main(self, self.empty, self.splitter, self.import_bar)
        self.sample_project = SampleProjectOffer(self, self.empty.project_button)  # gui/welcome.py

    def _build_detail(self) -> QWidget:
        detail = QWidget()
        layout = QVBoxLayout(detail)
        layout.setContentsMargins(6, 10, 10, 6)
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header.setWordWrap(True)
        self.header.installEventFilter(self)  # long names are re-fitted when it resizes
        policy = self.header.sizePolicy()  # its width comes from the pane, not from a long name
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.header.setSizePolicy(policy)
        self.header.setMinimumWidth(160)
        self._header_row: dict | None = None
        self._header_shown = ("", "")
        layout.addWidget(self.header)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)

        # Data tab: a "loading" note until the worker hands over the table.
        self.data_model = ArrowTableModel()
        self.data_view = QTableView()
        self.data_view.setModel(self.data_model)
        self.data_view.setAlternatingRowColors(True)
        self.data_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        vheader = self.data_view.verticalHeader()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row sizing at 1M rows
        vheader.setDefaultSectionSize(self.fontMetrics().height() + 8)
        vheader.setDefaultAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.data_view.horizontalHeader().setResizeContentsPrecision(200)
        self.data_view.horizontalHeader().setTextElideMode(Qt.TextElideMode.ElideMiddle)
        context_menu.install(self.data_view, extra=self._context_actions, name="data")
        self.data_loading = QLabel("Loading…")
        self.data_loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.data_loading.setStyleSheet(palette.css_text("faint"))
        self.data_stack = QStackedWidget()
        self.data_stack.addWidget(self.data_loading)
        self.data_stack.addWidget(self.data_view)
        self.tabs.addTab(self.data_stack, "Data")

        # Profile tab: column table + warnings on the left, the selected column's chart right.
        self._missing_col = Column("missing", "Missing", fmt=_missing_text(0), align=ALIGN_RIGHT)
        self.profile_model = RecordsTableModel([
            Column("name", "Column"), Column("kind", "Kind"),
            self._missing_col,
            Column("unique", "Unique", fmt=number, align=ALIGN_RIGHT), Column("min", "Min", fmt=number, align=ALIGN_RIGHT),
            Column("max", "Max", fmt=number, align=ALIGN_RIGHT),
            Column("mean", "Mean", fmt=number, align=ALIGN_RIGHT),
            Column("top", "Top values", fmt=_top_text,
                   tooltip="most frequent values (count)"),
        ])
        self.profile_proxy = make_sort_proxy(self.profile_model, self)
        self.profile_view = QTableView()
        self.profile_view.setModel(self.profile_proxy)
        self.profile_view.setSortingEnabled(True)
        self.profile_view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # file order at first
        self.profile_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.profile_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.profile_view.setAlternatingRowColors(True)
        self.profile_view.verticalHeader().hide()
        self.profile_view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.profile_view.horizontalHeader().setStretchLastSection(True)
        self.profile_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.profile_view.selectionModel().currentRowChanged.connect(self._on_profile_current)
        context_menu.install(self.profile_view, extra=self._context_actions, name="profile")
        self.warnings_title = QLabel("Warnings")
        self.warnings = QListWidget()
        context_menu.install(self.warnings, name="warnings")
        warnings_box = QWidget()
        wl = QVBoxLayout(warnings_box)
        wl.setContentsMargins(0, 4, 0, 0)
        wl.addWidget(self.warnings_title)
        wl.addWidget(self.warnings, 1)
        self.chart = LazyChart(width=5.0, height=2.8)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.chart)
        bottom.addWidget(warnings_box)
        bottom.setSizes([520, 260])
        bottom.setStretchFactor(0, 1)  # a wider window widens the chart, not the warnings
        bottom.setChildrenCollapsible(False)
        # Table on top (it needs the width), chart and warnings under it.
        profile_split = QSplitter(Qt.Orientation.Vertical)
        profile_split.addWidget(self.profile_view)
        profile_split.addWidget(bottom)
        profile_split.setSizes([330, 300])
        profile_split.setChildrenCollapsible(False)
        self.profile_split = profile_split
        self.tabs.addTab(profile_split, "Profile")
        return detail

    # -- list of versions -----------------------------------------------------
    @property
    def import_task(self) -> Task | None:
        """The running (or last unfinished) import, if any."""
        return self.task("import")

    def refresh(self) -> None:
        """Re-read the dataset list in a worker; keep the selected version, else select the
        newest."""
        store = self.store
        self.start("load", lambda progress, cancelled: read_listing(store), self._show_listing,
                   on_failed=lambda text: self.notify(f"Could not refresh {self.title}: {text}"))

    def _show_listing(self, listing: dict[str, Any]) -> None:
        rows = listing["rows"]
        self._set_import_refusal(listing["import_refusal"])
        keep = self._wanted if self._wanted is not None else self._shown_id
        self._wanted = None
        self.tree.blockSignals(True)
        self.tree.clear()
        by_name: dict[str, list[dict]] = {}
        for r in rows:
            by_name.setdefault(r["name"], []).append(r)
        items: dict[int, QTreeWidgetItem] = {}
        for name, versions in by_name.items():
            latest = versions[-1]
            n = len(versions)
            top = QTreeWidgetItem([name, "", short_time(latest["created_at"])])
            top.setToolTip(0, f"{name}: {n} version{'s' if n != 1 else ''}")
            top.setData(0, ID_ROLE, latest["id"])
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            for v in versions:
                child = QTreeWidgetItem([f"v{v['version']}", f"{v['rows']:,} × {v['columns']}",
                                         short_time(v["created_at"])])
                child.setData(0, ID_ROLE, v["id"])
                child.setToolTip(0, f"{name}:{v['version']}  (id {v['id']}, sha256 "
                                    f"{v['sha256'][:12]}, {v['rows']:,} rows × {v['columns']} "
                                    f"columns, by {v['created_by']} on "
                                    f"{short_time(v['created_at'])})")
                child.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                top.addChild(child)
                items[v["id"]] = child
            self.tree.addTopLevelItem(top)
        self.tree.expandAll()
        self.tree.blockSignals(False)
        self.pages.setCurrentIndex(1 if rows else 0)
        if not rows:
            self._shown_id = None
            return
        newest = max(rows, key=lambda r: (r["created_at"], r["id"]))["id"]
        self.select_version(keep if keep in items else newest)

    def _set_import_refusal(self, refusal: str | None) -> None:
        """Disable every way to import (with the core's reason) for a role that may not."""
        self.import_refusal = refusal
        for button, tip in ((self.import_button, IMPORT_TIP),
                            (self.empty.import_button, IMPORT_TIP),
                            (self.empty.sample_button, "Import the bundled sample: 2,000 loan "
                                                       "applications"),
                            (self.empty.project_button, SAMPLE_PROJECT_TIP)):
            button.setEnabled(refusal is None)
            button.setToolTip(refusal or tip)

    def version_ids(self) -> list[int]:
        """Ids of the versions listed, in tree order."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            out += [top.child(j).data(0, ID_ROLE) for j in range(top.childCount())]
        return out

    def select_version(self, dataset_id: int) -> bool:
        """Select version `dataset_id`; while the list is loading, once it is loaded. False if
        it is not listed."""
        if self.is_busy("load"):
            self._wanted = dataset_id
            return True
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                if top.child(j).data(0, ID_ROLE) == dataset_id:
                    self.tree.setCurrentItem(top.child(j))
                    if self._shown_id != dataset_id:  # setCurrentItem on the same item is silent
                        self._show_version(dataset_id)
                    return True
        return False

    def show_ref(self, ref: Any) -> None:
        """Show dataset version `ref` (an id): what the main window calls on `navigate`."""
        self.select_version(int(ref))

    def _context_actions(self, _rows: list[int]) -> list:
        """Right-click entries of the tree and the data tables: train on the shown version, its
        lineage (a right-click on the tree makes its item the shown version)."""
        shown = self._shown_id
        train = ("Train on this dataset",
                 lambda: self.navigate.emit("experiments", ("dataset", shown)),
                 "Nothing is selected" if shown is None else None,
                 "Open Experiments with this version in the train form")
        return [train, context_menu.lineage_entry(self, self.store, "dataset", shown,
                                                  self.navigate.emit)]

    def selected_id(self) -> int | None:
        return self._shown_id

    def selected_ref(self) -> tuple[str, int] | None:
        """The shown version, for View → Lineage…"""
        return None if self._shown_id is None else ("dataset", self._shown_id)

    def _on_tree_current(self, current: QTreeWidgetItem | None, _previous=None) -> None:
        if current is not None:
            self._show_version(current.data(0, ID_ROLE))

    # -- the selected version ---------------------------------------------------
    def _show_version(self, dataset_id: int) -> None:
        if dataset_id == self._shown_id:
            return
        self._shown_id = dataset_id
        self.cancel("data")
        self.data_loading.setText("Loading…")
        self.data_stack.setCurrentIndex(0)
        self.data_model.set_table(pa.table({}))
        store = self.store
        self.start("version", lambda progress, cancelled: datasets.get(store, dataset_id),
                   self._show_row)

    def _show_row(self, row: dict) -> None:
        if row["id"] != self._shown_id:
            return  # another version was selected meanwhile
        self._header_row = row
        self._show_header(row)
        self._show_profile(row["profile"])
        self._load_data(row)

    def _fitted_names(self, row: dict) -> tuple[str, str]:
        """The version's name (13pt) and file name as the header's width has room for them:
        cut in the middle when too long (rich text cannot elide)."""
        font = QFont(self.header.font())
        font.setPointSizeF(13)
        font.setBold(True)
        room = self.header.width() - 50  # " v1" after the name
        return (fit_name(row["name"], QFontMetrics(font).horizontalAdvance, room),
                fit_name(Path(row["source_path"] or "").name,
                         self.header.fontMetrics().horizontalAdvance, room))

    def _show_header(self, row: dict) -> None:
        """The version's heading; what is cut of its names is whole in the tooltip."""
        name, source_shown = self._header_shown = self._fitted_names(row)
        self.header.setToolTip(f"{row['name']}:{row['version']} from {row['source_path']}"
                               if (name, source_shown) != (row["name"],
                                                           Path(row["source_path"] or "").name)
                               else "")
        self.header.setText(
            f"<span style='font-size:13pt'><b>{name}</b> v{row['version']}</span>"
            f"&nbsp;&nbsp;<span style='color:{palette.color('muted')}'>{row['rows']:,} rows × "
            f"{row['columns']} columns</span><br><span style='color:{palette.color('faint')}'>"
            f"sha256 {row['sha256'][:16]}… · "
            f"imported {short_time(row['created_at'])} by {row['created_by']} · "
            f"{row['source_format'] or ''} {source_shown}</span>")

    def eventFilter(self, obj, event) -> bool:
        if (obj is self.header and event.type() == QEvent.Type.Resize and self._header_row
                and self._fitted_names(self._header_row) != self._header_shown):
            self._show_header(self._header_row)  # the names, re-fitted to the new width
        return super().eventFilter(obj, event)

    def _load_data(self, row: dict) -> None:
        self.data_loading.setText(f"Loading {row['rows']:,} rows…")
        store = self.store
        self.start("data", lambda progress, cancelled: datasets.load_table(store, row),
                   lambda table, i=row["id"]: self._on_data_loaded(i, table),
                   on_failed=lambda msg, i=row["id"]: self._on_data_failed(i, msg))

    def _on_data_loaded(self, dataset_id: int, table) -> None:
        if dataset_id != self._shown_id:
            return  # an older selection's load: its table is no longer wanted
        self.data_model.set_table(table)
        self.data_view.resizeColumnsToContents()
        header = self.data_view.horizontalHeader()
        for c in range(self.data_model.columnCount()):
            header.resizeSection(c, min(max(header.sectionSize(c), 70), 260))
        self.data_stack.setCurrentIndex(1)

    def _on_data_failed(self, dataset_id: int, message: str) -> None:
        if dataset_id == self._shown_id:
            self.data_loading.setText(f"Could not load the data: {message}")

    def _show_profile(self, profile: dict) -> None:
        self._profile = profile
        rows = profile.get("rows", 0)
        self._missing_col.fmt = _missing_text(rows)  # percentages of this version's rows
        self.profile_model.set_records(profile.get("columns", []))
        self.profile_view.resizeColumnsToContents()
        header = self.profile_view.horizontalHeader()
        for c in range(self.profile_model.columnCount() - 1):  # names may take more room
            header.resizeSection(c, min(header.sectionSize(c) + 8, 320 if c == 0 else 200))
        warnings = profile.get("warnings", [])
        self.warnings.clear()
        self.warnings.addItems(warnings or ["No warnings"])
        self.warnings_title.setText(f"Warnings ({len(warnings)})" if warnings else "Warnings")
        if self.profile_proxy.rowCount():
            self.profile_view.selectRow(0)
            self._plot_column(self.profile_proxy.mapToSource(self.profile_proxy.index(0, 0)).row())
        else:
            self.chart.show_message("No columns")

    def _on_profile_current(self, current, _previous=None) -> None:
        if current.isValid():
            self._plot_column(self.profile_proxy.mapToSource(current).row())

    def _plot_column(self, source_row: int) -> None:
        column = self.profile_model.record(source_row)

        def draw(canvas) -> None:
            from ..charts import plot_histogram
            plot_histogram(canvas.clear(), column)
            canvas.redraw()
        self.chart.plot(draw)

    # -- importing --------------------------------------------------------------
    def choose_and_import(self) -> None:
        settings = QSettings()
        start = str(settings.value("datasets/last_dir", str(Path.home())))
        paths, _ = QFileDialog.getOpenFileNames(self, "Import dataset", start, FILE_FILTER)
        if paths:
            settings.setValue("datasets/last_dir", str(Path(paths[0]).parent))
            self.import_files(paths)

    def import_sample(self) -> None:
        self.import_file(str(SAMPLE_LOANS), name=SAMPLE_NAME)

    def import_files(self, paths: list[str]) -> None:
        for p in paths:
            self.import_file(p)

    def import_file(self, path: str, name: str | None = None) -> None:
        """Queue an import; imports run one at a time in a worker."""
        if self.import_refusal is not None:
            self.notify(self.import_refusal, "warning", "Import refused")
            return
        self._queue.append((str(path), name))
        if not self.is_busy("import"):
            self._start_next_import()

    def _start_next_import(self) -> None:
        if not self._queue:
            self.import_bar.hide()
            return
        path, name = self._importing = self._queue.pop(0)
        store = self.store
        task = self.start(
            "import", lambda progress, cancelled: import_dataset(
                store, path, name=name, progress=progress, cancelled=cancelled),
            self._on_imported, progress=self._on_import_progress,
            on_failed=self._on_import_failed, on_cancelled=self._on_import_cancelled)
        task.done.connect(self._after_import)  # the next queued import, if any
        self.import_bar.label.setText(f"Importing {Path(path).name}…")
        self.import_bar.bar.setValue(0)
        self.import_bar.cancel_button.setEnabled(True)
        self.import_bar.cancel_button.setText("Cancel")
        self.import_bar.show()

    @while_alive
    def _after_import(self) -> None:
        self._start_next_import()

    def cancel_import(self) -> None:
        """Cancel the running import and drop the queued ones."""
        self._queue.clear()
        if self.is_busy("import"):
            self.cancel("import")
            self.import_bar.cancel_button.setEnabled(False)
            self.import_bar.cancel_button.setText("Cancelling…")

    def _on_import_progress(self, fraction: float, text: str) -> None:
        self.import_bar.bar.setValue(round(fraction * 100))
        self.import_bar.label.setText(f"Importing {Path(self._importing[0]).name}: {text}")

    def _on_imported(self, row: dict) -> None:
        ref = f"{row['name']}:{row['version']}"
        if row.get("existing"):
            text = f"{Path(self._importing[0]).name} was already imported as {ref}"
        else:
            text = f"Imported {ref}: {row['rows']:,} rows × {row['columns']} columns"
        notes = row.get("notes") or []
        if notes:
            text += " (" + "; ".join(notes) + ")"
        self.refresh()
        self.select_version(row["id"])  # once the list is re-read
        self.message.emit(text)
        self.import_bar.finish(text)

    def _on_import_failed(self, message: str) -> None:
        path = self._importing[0]
        self.message.emit(f"Import of {Path(path).name} failed")
        self.import_bar.finish(f"Import of {Path(path).name} failed")
        self.notify(f"Could not import {path}\n\n{message}\n\nNothing was changed in the "
                    f"store.", "error", "Import failed")

    def _on_import_cancelled(self) -> None:
        text = f"Import of {Path(self._importing[0]).name} cancelled; nothing was changed"
        self.message.emit(text)
        self.import_bar.finish(text)

    # -- drag and drop -------------------------------------------------------------
    def accepts_mime(self, mime: QMimeData) -> bool:
        return bool(local_files(mime))

    def drop_mime(self, mime: QMimeData) -> bool:
        paths = local_files(mime)
        if paths:
            self.import_files(paths)
        return bool(paths)

    def dragEnterEvent(self, event) -> None:
        if self.accepts_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        if self.drop_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()
