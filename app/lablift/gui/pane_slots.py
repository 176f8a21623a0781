"""The main window's panes by name, each built the first time it is asked for.

Building every pane before the first paint cost seconds (each pulls in matplotlib, pandas,
scikit-learn...); so the window lists the panes there are and builds one only when it is
shown, navigated to or asked for by name.
"""

from __future__ import annotations

import importlib.util
from typing import Callable, Iterator

from PySide6.QtWidgets import QWidget


def pane_exists(name: str) -> bool:
    """Whether the module lablift.gui.panes.<name> exists, without importing it."""
    return importlib.util.find_spec(f"lablift.gui.panes.{name}") is not None


class PaneSlots:
    """Panes in navigation order. `name in panes`, iteration and len() cover every pane there
    is, built or not; `panes[name]` and `panes.get(name)` build it first if need be; but
    `values()` and `items()` are the panes built so far, so that cancelling, retiring or
    waiting for panes never builds one."""

    def __init__(self, names: list[str], build: Callable[[str], QWidget]):
        self._names = list(names)
        self._build = build
        self._built: dict[str, QWidget] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, name: str) -> QWidget:
        if name not in self._names:
            raise KeyError(name)
        pane = self._built.get(name)
        if pane is None:
            pane = self._built[name] = self._build(name)
        return pane

    def get(self, name: str, default=None):
        return self[name] if name in self._names else default

    def keys(self) -> list[str]:
        return list(self._names)

    def built(self, name: str) -> QWidget | None:
        """The pane if it has been built, else None (never builds it)."""
        return self._built.get(name)

    def values(self) -> list[QWidget]:
        return [self._built[n] for n in self._names if n in self._built]

    def items(self) -> list[tuple[str, QWidget]]:
        return [(n, self._built[n]) for n in self._names if n in self._built]
