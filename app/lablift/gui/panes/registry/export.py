"""Exporting a bundle from the Registry pane: the worker (which creates missing folders above
the bundle and removes them again on failure), the progress strip, the "Bundle exported"
dialog with "Open folder". `ExportActions` is the Pane's part that drives them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox

from ....core import bundles
from ....core.errors import LabliftError
from ...workers import Task, while_alive


def export_into(store, ref: str, out: Path, progress) -> dict[str, Any]:
    """The export worker: `ref` into the new folder `out`, creating the folders above it when
    missing (a remembered export folder may have been removed); those are removed again if the
    export fails."""
    made = []
    for folder in reversed(out.parents):
        if not folder.exists():
            try:
                folder.mkdir()
            except OSError as exc:
                _remove_empty(made)
                raise LabliftError(f"cannot create the export folder {folder}: "
                                   f"{exc.strerror or exc}") from None
            made.append(folder)
    try:
        return bundles.export(store, ref, out, progress=progress)
    except BaseException:
        _remove_empty(made)
        raise


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            pass


def open_folder(folder: Path) -> bool:
    """Show `folder` in the desktop's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


class ExportActions:
    """The Pane's export: pick a folder, export in a worker with progress, report. Mixed into
    the Pane, which has `detail`, `export_bar`, `export_button`, `start` and `notify`."""

    @property
    def export_task(self) -> Task | None:
        """The running export, if any."""
        return self.task("export")

    def ask_export(self) -> None:
        if not self.detail:
            return
        settings = QSettings()
        start = str(settings.value("registry/export_dir", str(Path.home())))
        parent = QFileDialog.getExistingDirectory(
            self, f"Folder to export {self.detail['ref']} into", start)
        if parent:
            settings.setValue("registry/export_dir", parent)
            self.export_bundle(self.bundle_path(parent))

    def bundle_path(self, parent: str | Path) -> Path:
        """A new folder under `parent` for the selected version's bundle (never an existing one:
        the core refuses to write over a path)."""
        d = self.detail
        base = Path(parent) / f"{d['model']}-v{d['version']}"
        out, n = base, 2
        while out.exists():
            out = base.with_name(f"{base.name}-{n}")
            n += 1
        return out

    def export_bundle(self, out: str | Path) -> Task | None:
        d = self.detail
        if not d or self.is_busy("export"):
            return None
        store, ref, out = self.store, d["ref"], Path(out)
        task = self.start(
            "export", lambda progress, cancelled: export_into(store, ref, out, progress),
            lambda result, r=ref: self._on_exported(r, result),
            progress=self._on_export_progress,
            on_failed=lambda msg, r=ref: self._on_export_failed(r, msg))
        task.done.connect(lambda: self._on_export_done(task, ref))
        self.export_bar.label.setText(f"Exporting {ref} to {out}…")
        self.export_bar.bar.setValue(0)
        self.export_bar.show()
        self.export_button.setEnabled(False)
        return task

    def _on_export_progress(self, fraction: float, text: str) -> None:
        self.export_bar.bar.setValue(round(fraction * 100))
        self.export_bar.label.setText(f"Exporting: {text}")

    def _on_exported(self, ref: str, result: dict) -> None:
        self.message.emit(f"Exported {ref} to {result['path']}")
        box = self._dialog(QMessageBox.Icon.Information, "Bundle exported",
                           f"{ref} was exported to\n{result['path']}\n\n{len(result['files'])} "
                           f"files, manifest sha256 {result['manifest_sha256'][:16]}…\nCheck it "
                           f"with `lablift bundle verify {result['path']}`.")
        folder = Path(result["path"])
        self.open_folder_button = box.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
        self.open_folder_button.setToolTip(str(folder))
        self.open_folder_button.setProperty("folder", str(folder))
        self.open_folder_button.clicked.connect(lambda: open_folder(folder))

    def _on_export_failed(self, ref: str, message: str) -> None:
        self.message.emit(f"Export of {ref} failed")
        self.notify(f"Could not export {ref}:\n\n{message}", "error", "Export failed")

    @while_alive
    def _on_export_done(self, task: Task | None = None, ref: str = "") -> None:
        ended = {"finished": "done"}.get(task.state, task.state) if task else "ended"
        self.export_bar.finish(f"Export of {ref}: {ended}")
        self.refresh()  # the lineage gains the bundle; refresh keeps the selection
