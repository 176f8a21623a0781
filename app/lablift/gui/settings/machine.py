"""Settings of this machine, not of the store (QSettings): the Dask scheduler, the number of
local workers, the colour theme. Other parts of the GUI read them through these functions."""

from __future__ import annotations

import os
import re

from PySide6.QtCore import QSettings

SCHEDULER_KEY = "compute/dask_scheduler"   # empty or absent: no Dask scheduler
LOCAL_WORKERS_KEY = "compute/local_workers"  # joblib's n_jobs: -1 is every core
THEME_KEY = "appearance/theme"
THEMES = ("system", "light", "dark")  # palette.THEMES, when palette.py is there
ALL_CORES = -1
# What distributed.Client accepts: scheme://host[:port] or host:port.
_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|ucx|inproc)://)?(\[[0-9a-fA-F:]+\]|[\w.-]+)"
                      r"(?::(\d{1,5}))?/?$")


def scheduler_setting() -> str | None:
    """The Dask scheduler address set in File → Settings… → Compute, or None."""
    value = str(QSettings().value(SCHEDULER_KEY, "") or "").strip()
    return value or None


def set_scheduler_setting(address: str | None) -> None:
    QSettings().setValue(SCHEDULER_KEY, (address or "").strip())


def check_scheduler_address(text: str) -> str | None:
    """Why `text` is not a scheduler address (None if it is one, or empty: no scheduler)."""
    text = text.strip()
    if not text:
        return None
    m = _ADDRESS.match(text)
    if not m:
        return (f"Scheduler address: {text!r} is not an address like tcp://host:8786 "
                f"(or host:8786)")
    if m.group(1) in (None, "tcp", "tls", "ws", "wss") and not m.group(3):
        return f"Scheduler address: {text!r} needs a port, e.g. {text.rstrip('/')}:8786"
    if m.group(3) and not 0 < int(m.group(3)) < 65536:
        return f"Scheduler address: port {m.group(3)} is not between 1 and 65535"
    return None


def default_local_workers() -> int:
    return min(2, os.cpu_count() or 1)  # what the sweep form starts with


def local_workers_setting() -> int:
    """How many local processes a sweep uses by default (joblib n_jobs; -1: every core)."""
    try:
        value = int(QSettings().value(LOCAL_WORKERS_KEY, default_local_workers()))
    except (TypeError, ValueError):
        return default_local_workers()
    return value if value == ALL_CORES or value >= 1 else default_local_workers()


def set_local_workers_setting(n_jobs: int) -> None:
    QSettings().setValue(LOCAL_WORKERS_KEY, int(n_jobs))


# -- theme: gui/palette.py owns colours; without it, only the choice is kept ------------------
def _palette():
    try:
        from .. import palette
    except ImportError:
        return None
    return palette


def themes() -> tuple[str, ...]:
    palette = _palette()
    return tuple(getattr(palette, "THEMES", THEMES)) if palette else THEMES


def theme_setting() -> str:
    palette = _palette()
    if palette is not None and hasattr(palette, "theme_setting"):
        return palette.theme_setting()
    value = str(QSettings().value(THEME_KEY, "system") or "system")
    return value if value in THEMES else "system"


def set_theme_setting(name: str) -> None:
    palette = _palette()
    if palette is not None and hasattr(palette, "set_theme_setting"):
        palette.set_theme_setting(name)
    else:
        QSettings().setValue(THEME_KEY, name)


def apply_theme(name: str) -> bool:
    """Show the application in theme `name` now; False when this build cannot (no palette)."""
    palette = _palette()
    if palette is None or not hasattr(palette, "apply"):
        return False
    palette.apply(name)
    return True


def message_style(kind: str) -> str:
    """A stylesheet for a field's message ("error" or "ok") or a boxed "warning" in the
    theme's colours (palette.py restyles it when the theme changes); empty without a
    palette: the text still says it."""
    palette = _palette()
    if palette is None:
        return ""
    try:
        if kind == "warning":
            return palette.css_warning()
        return palette.css_text({"error": "bad", "ok": "good"}[kind])
    except (AttributeError, KeyError):
        return ""
