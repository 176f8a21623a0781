"""What the pane tests share: the notices a pane gives (gui/notifications, instead of dialogs)
and waiting, as a user would, for a pane's workers to read or write the store."""

from __future__ import annotations

import pytest

from lablift.gui import notifications

TIMEOUT_MS = 60000


@pytest.fixture
def notices():
    """Every Notice given while the test runs; none opens a dialog."""
    seen = []
    remove = notifications.add_handler(lambda n: seen.append(n) or True)
    yield seen
    remove()


def settled(qtbot, pane, timeout: int = TIMEOUT_MS):
    """Wait until `pane` runs no task (its loads and actions have ended); returns the pane."""
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=timeout)
    return pane


def pane_opener(qtbot, pane_class, opened: list):
    """`open(store)`: a `pane_class` on `store`, shown at a window's size once its first load
    has ended; each pane is appended to `opened` (to wait for at teardown)."""
    def open_(store):
        pane = pane_class(store)
        qtbot.addWidget(pane)
        pane.resize(1120, 740)
        pane.show()
        opened.append(pane)
        return settled(qtbot, pane)  # the store is read in a worker
    return open_
