"""Start the desktop app: open the store, build the main window, run (or render a screenshot)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..core.errors import LabliftError

SCREENSHOT_SIZE = (1280, 800)
SCREENSHOT_TIMEOUT_S = 30.0
# For benchmarks/bench_gui_start.py only: print when the main window is first painted (and
# when its first pane has loaded), then close. Not a user setting.
FIRST_PAINT_ENV = "LABLIFT_FIRST_PAINT_EXIT"


def _headless() -> bool:
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) \
        and sys.platform.startswith("linux")


def _application():
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("Lablift")
    app.setOrganizationName("Lablift")
    app.setApplicationDisplayName("Lablift")
    if not os.environ.get("LABLIFT_NATIVE_STYLE"):
        app.setStyle("Fusion")  # the same look on every platform and offscreen
    return app


def run_gui(store_dir: str | None = None, user: str | None = None,
            screenshot: str | None = None, pane: str | None = None,
            size: tuple[int, int] | None = None, theme: str | None = None) -> int:
    """Open the GUI on a store. With `screenshot`, render the window to that PNG and return.
    `size` (width, height) overrides the remembered geometry; `theme` the colour setting."""
    if screenshot and _headless():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    elif _headless() and not os.environ.get("QT_QPA_PLATFORM"):
        # Qt would abort with a core dump; say what is wrong instead.
        print("error: no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY "
              "is set); run Lablift in a desktop session, use the command line "
              "(`lablift --help`), or render a pane with `lablift gui --screenshot PNG`",
              file=sys.stderr)
        return 1
    platform = os.environ.get("QT_QPA_PLATFORM") or (
        "wayland" if os.environ.get("WAYLAND_DISPLAY") else "xcb")
    if platform == "xcb" and os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        from . import system_libs
        missing = system_libs.missing_for_xcb()
        if missing:  # Qt would abort with a core dump, naming the wrong package
            print(f"error: {system_libs.message(missing)}", file=sys.stderr)
            return 1
    from PySide6.QtWidgets import QMessageBox

    from ..core.store import Store
    from . import palette
    from .main_window import MainWindow
    from .workers import cancel_all

    app = _application()
    palette.apply(theme)  # None: the setting ("system" unless chosen otherwise)
    try:
        store = Store(store_dir, user=user)
    except LabliftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not screenshot:  # a modal dialog would hang a headless screenshot run
            QMessageBox.critical(None, "Lablift", f"Cannot open the store:\n\n{exc}")
        return 1
    if not screenshot and store.root is not None:
        from .connect import remember_store
        remember_store(getattr(store, "url", None) or str(store.root))  # never a password
    window = MainWindow(store, restore_state=not screenshot, watch=not screenshot,
                        claimed_user=user, owns_store=True, first_pane=pane)
    if pane:
        try:
            window.select_pane(pane)
        except LookupError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            cancel_all()  # the first pane may have started a load
            window.deleteLater()
            return 1
    if screenshot:
        return _screenshot(app, window, Path(screenshot), size or SCREENSHOT_SIZE)
    if size:
        window.resize(*size)
    if os.environ.get(FIRST_PAINT_ENV):
        exit_after_first_paint(app, window)
    window.show()
    return app.exec()


def exit_after_first_paint(app, window, ready=None) -> None:
    """Print `first-paint <time.time()>` once `window`'s first paint has ended (the window and
    every child drawn in that pass), then `ready <time.time()>` once `ready()` (default: the
    window's `is_busy`, i.e. the shown pane's first load) says it is done, then close it and
    quit. The benchmark compares the first with its own clock before it started the process;
    an empty PySide6 window measured the same way uses this too."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    def is_ready() -> bool:
        if ready is not None:
            return bool(ready())
        busy = getattr(window, "is_busy", None)
        return not busy() if callable(busy) else True

    deadline = time.monotonic() + SCREENSHOT_TIMEOUT_S

    def wait_ready() -> None:
        if not is_ready() and time.monotonic() < deadline:
            QTimer.singleShot(5, wait_ready)
            return
        print(f"ready {time.time():.6f}", flush=True)
        window.close()
        app.quit()

    def painted() -> None:  # runs after the paint pass that sent the first Paint event
        print(f"first-paint {time.time():.6f}", flush=True)
        wait_ready()

    class FirstPaint(QObject):
        def eventFilter(self, obj, event) -> bool:
            if obj is window and event.type() == QEvent.Type.Paint:
                window.removeEventFilter(self)
                QTimer.singleShot(0, painted)
            return False

    window._first_paint_filter = FirstPaint(window)  # kept alive with the window
    window.installEventFilter(window._first_paint_filter)


def _screenshot(app, window, path: Path, size: tuple[int, int]) -> int:
    window.resize(*size)
    window.show()
    deadline = time.monotonic() + SCREENSHOT_TIMEOUT_S
    # Let the pane finish its first load (a worker) and every queued paint before grabbing.
    while time.monotonic() < deadline:
        app.processEvents()
        if not window.is_busy():
            break
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()
        time.sleep(0.02)
    canvas_class = _canvas_class()
    for canvas in window.findChildren(canvas_class) if canvas_class else ():
        canvas.draw()  # draw_idle may still be pending: render charts now
    app.processEvents()
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(path), "PNG")
    window.close()
    window.deleteLater()
    app.processEvents()
    if not ok:
        print(f"error: could not write the screenshot {path}", file=sys.stderr)
        return 1
    return 0


def _canvas_class():
    """matplotlib's Qt canvas, or None if no pane has imported it (then there is no chart)."""
    module = sys.modules.get("matplotlib.backends.backend_qtagg")
    return getattr(module, "FigureCanvasQTAgg", None)
