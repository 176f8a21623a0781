"""Panes of the main window: module `lablift.gui.panes.<name>` defines `class Pane(QWidget)`.

A pane is built as `Pane(store, parent)` and may define:
- `title` (str): label in the navigation list (default: the module name, capitalised);
- `refresh()`: re-read the store; called each time the pane becomes visible;
- `is_busy() -> bool`: True while an initial load runs (the screenshot waits for it);
- `message` (Signal(str)): text the main window shows in its status bar.
The main window loads whichever of PANE_NAMES exist, so adding a pane means adding its module.
"""

PANE_NAMES = ("datasets", "experiments", "registry", "approvals", "monitoring")
