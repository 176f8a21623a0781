"""Settings → Compute and → Appearance: settings of this machine (QSettings, see machine.py),
not of the store. "Test connection" reaches the Dask scheduler in a worker."""

from __future__ import annotations

import importlib.util
import os

from PySide6.QtWidgets import (QButtonGroup, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QRadioButton, QSpinBox, QVBoxLayout)

from ...core.errors import LabliftError
from . import machine
from .common import FieldMessage, SettingsPage, muted

TEST_TIMEOUT_S = 5.0
MAX_LOCAL_WORKERS = 256
NO_DISTRIBUTED = ("Dask's distributed package is not installed in this Python, so sweeps "
                  "cannot use a cluster; to add it: pip install 'dask[distributed]'")


def distributed_version() -> str | None:
    if importlib.util.find_spec("distributed") is None:
        return None
    import distributed
    return getattr(distributed, "__version__", "?")


def reach_scheduler(address: str, timeout: float) -> str:
    """One line on what the scheduler at `address` has; LabliftError if it cannot be reached."""
    if distributed_version() is None:
        raise LabliftError(NO_DISTRIBUTED)
    from distributed import Client
    try:  # not the default client: a test must not redirect this process's joblib work
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:
        raise LabliftError(f"cannot reach the Dask scheduler at {address}: "
                           f"{' '.join(str(exc).split()) or type(exc).__name__}") from None
    try:
        workers = client.scheduler_info().get("workers", {})
    finally:
        client.close()
    threads = sum(int(w.get("nthreads") or 0) for w in workers.values())
    return (f"✓ Reached the scheduler at {address}: {len(workers)} worker"
            f"{'s' if len(workers) != 1 else ''}, {threads} thread{'s' if threads != 1 else ''}")


class ComputePage(SettingsPage):
    title = "Compute"

    def __init__(self, store, parent=None):
        super().__init__(store, parent)
        outer = QVBoxLayout(self)
        dask_box = QGroupBox("Dask cluster")
        box = QVBoxLayout(dask_box)
        box.addWidget(muted(QLabel("Sweeps sent to Dask run on this scheduler; leave it empty "
                                   "to run sweeps on this machine only. Kept on this "
                                   "machine, not in the store.")))
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.address = QLineEdit(machine.scheduler_setting() or "")
        self.address.setPlaceholderText("tcp://scheduler-host:8786")
        self.address.setAccessibleName("Dask scheduler address")
        self.address.setClearButtonEnabled(True)
        self.address.textChanged.connect(self._address_edited)
        self.address_message = FieldMessage()
        form.addRow("Scheduler address", self.address)
        form.addRow("", self.address_message)
        box.addLayout(form)
        row = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = FieldMessage()
        row.addWidget(self.test_button)
        row.addStretch(1)
        box.addLayout(row)
        box.addWidget(self.test_result)
        self.dask_note = muted(QLabel())
        box.addWidget(self.dask_note)
        outer.addWidget(dask_box)

        local_box = QGroupBox("This machine")
        form = QFormLayout(local_box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.workers = QSpinBox()
        self.workers.setRange(0, MAX_LOCAL_WORKERS)
        self.workers.setSpecialValueText(f"every core ({os.cpu_count() or 1})")
        self.workers.setAccessibleName("local workers")
        self.workers.setMaximumWidth(200)
        self.workers.setValue(self._spin_value(machine.local_workers_setting()))
        self.workers.valueChanged.connect(self.changed)
        form.addRow("Local workers for a sweep", self.workers)
        form.addRow("", muted(QLabel(f"Processes a sweep on this machine starts with; it has "
                                     f"{os.cpu_count() or 1} cores.")))
        outer.addWidget(local_box)
        outer.addStretch(1)
        self.refresh()

    @staticmethod
    def _spin_value(n_jobs: int) -> int:
        return 0 if n_jobs == machine.ALL_CORES else n_jobs

    def n_jobs(self) -> int:
        return machine.ALL_CORES if self.workers.value() == 0 else self.workers.value()

    def refresh(self) -> None:
        # finding the package reads the disk: not on the GUI thread
        self.start("find dask", lambda progress, cancelled: distributed_version(),
                   self._show_dask)

    def _show_dask(self, version: str | None) -> None:
        self.dask_note.setText(f"Dask distributed {version} is installed here." if version
                               else NO_DISTRIBUTED)

    def _address_edited(self) -> None:
        self.address_message.show_problem(machine.check_scheduler_address(self.address.text()))
        self.test_result.show_problem(None)
        self.changed.emit()

    def test_connection(self):
        address = self.address.text().strip()
        problem = machine.check_scheduler_address(address) if address else \
            "Scheduler address: type an address to test, e.g. tcp://scheduler-host:8786"
        if problem:
            self.address_message.show_problem(problem)
            return None
        self.test_button.setEnabled(False)
        self.test_result.show_ok(f"Reaching {address}… (up to {TEST_TIMEOUT_S:g} s)")

        def done(text: str | None = None, failed: str | None = None) -> None:
            self.test_button.setEnabled(True)
            if failed:
                self.test_result.show_problem(failed)
            else:
                self.test_result.show_ok(text or "")
        timeout = TEST_TIMEOUT_S
        return self.start("test", lambda progress, cancelled: reach_scheduler(address, timeout),
                          lambda text: done(text), on_failed=lambda msg: done(failed=msg))

    def has_changes(self) -> bool:
        return (self.address.text().strip() != (machine.scheduler_setting() or "")
                or self.n_jobs() != machine.local_workers_setting())

    def problems(self) -> list[str]:
        problem = machine.check_scheduler_address(self.address.text())
        self.address_message.show_problem(problem)
        return [problem] if problem else []

    def save(self) -> None:
        machine.set_scheduler_setting(self.address.text())
        machine.set_local_workers_setting(self.n_jobs())


class AppearancePage(SettingsPage):
    title = "Appearance"
    LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}

    def __init__(self, store, parent=None):
        super().__init__(store, parent)
        self.kept = machine.theme_setting()
        outer = QVBoxLayout(self)
        box = QGroupBox("Theme")
        column = QVBoxLayout(box)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for name in machine.themes():
            button = QRadioButton(self.LABELS.get(name, name.capitalize()))
            button.setChecked(name == self.kept)
            button.setAccessibleName(f"theme {name}")
            self.group.addButton(button)
            self.buttons[name] = button
            column.addWidget(button)
            button.toggled.connect(lambda on, n=name: self._chosen(n) if on else None)
        self.note = muted(QLabel("Shown at once; kept with OK or Apply, undone with Cancel. "
                                 "A setting of this machine."))
        column.addWidget(self.note)
        outer.addWidget(box)
        outer.addStretch(1)

    def chosen(self) -> str:
        return next((n for n, b in self.buttons.items() if b.isChecked()), self.kept)

    def _chosen(self, name: str) -> None:
        if not machine.apply_theme(name):
            self.note.setText("This build cannot change colours yet: the choice is kept and "
                              "used once it can.")
        self.changed.emit()

    def has_changes(self) -> bool:
        return self.chosen() != self.kept

    def save(self) -> None:
        machine.set_theme_setting(self.chosen())
        self.kept = self.chosen()

    def discard(self) -> None:
        if self.chosen() != self.kept:
            self.buttons[self.kept].setChecked(True)  # shows the kept theme again

    def refresh(self) -> None:
        """Nothing of the store to read."""

