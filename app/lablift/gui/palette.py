"""Every colour of the GUI, by meaning, for a light and a dark scheme: the one place colours live.

Widgets ask for a role (`color("muted")`, `qcolor("bad")`, `badge("approved")`), never a
literal, and the application gets the QPalette of the scheme (`apply`). "system" follows the
desktop's colour scheme (Qt >= 6.5), also while the app runs.

A theme switch restyles what was built with the old colours without a restart: every widget's
stylesheet is set again (so `palette(...)` in it is re-read), rich-text labels and item-view
brushes get the new scheme's value for each old one, and `notifier.changed` tells the charts
(gui/charts.py re-colours its figures). Swapping by value works because two roles that share a
value in one scheme share it in the other (`translation`; tests/test_gui_palette.py checks).
"""

from __future__ import annotations

import re

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QPalette, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QLabel, QListWidget, QToolTip,
                               QTreeWidget, QTreeWidgetItemIterator)

THEMES = ("system", "light", "dark")
SETTING_KEY = "appearance/theme"
SCHEMES = ("light", "dark")

# role: (light, dark). Lower-case #rrggbb only (the swap on a theme change matches them).
ROLES: dict[str, tuple[str, str]] = {
    # text beside the window's own
    "muted": ("#555555", "#b3b9c2"),  # secondary notes
    "faint": ("#737373", "#8d949e"),  # hints, missing values, queued jobs
    "good": ("#1e6b34", "#74d08e"),
    "warn": ("#8a4b00", "#f2b45c"),
    "bad": ("#a12622", "#ff8b82"),
    "accent": ("#1d4f91", "#8ab4f8"),
    # strips and boxes
    "warn_bg": ("#fff3cd", "#45381a"),
    "warn_text": ("#5c4400", "#ffe39a"),
    "warn_border": ("#e0c36a", "#7a6428"),
    "info_bg": ("#eef3f9", "#1f2936"),
    "info_border": ("#c9d6e6", "#3a4a5e"),
    "panel_bg": ("#f5f7fa", "#26292e"),
    "panel_border": ("#cfd8e3", "#3d434c"),
    "nav_bg": ("#f3f4f6", "#222529"),
    "nav_border": ("#d0d0d0", "#383b40"),
    "nav_selected_bg": ("#dde7f3", "#2e4360"),
    "nav_selected_text": ("#1d3f66", "#d6e6fb"),
    # table cells and badges
    "best_bg": ("#d7f0dc", "#1e4429"),
    "group_bg": ("#e8eef7", "#273243"),  # a row that heads a group (a sweep's runs)
    "focus_bg": ("#fff1b8", "#4a4120"),  # the row a dialog was opened on
    "outline": ("#e8590c", "#ff8c42"),  # the guided tour's frame around a widget
    "pass_bg": ("#d4edda", "#1f4a2b"),
    "pass_text": ("#1e5c2e", "#9be0ad"),
    "fail_bg": ("#f8d7da", "#5a2127"),
    "fail_text": ("#842029", "#ffb3b8"),
    "archived_bg": ("#e2e3e5", "#3a3d42"),
    "archived_text": ("#41464b", "#d0d3d8"),
    "other_bg": ("#eeeeee", "#33363b"),
    "other_text": ("#3a3a3a", "#e0e0e0"),
    # charts
    "chart_face": ("#ffffff", "#1c1f23"),
    "chart_text": ("#262626", "#dde1e6"),
    "chart_muted": ("#767676", "#979ea8"),  # notes, the secondary axis
    "chart_axis": ("#5c5c5c", "#a3a9b2"),  # spines, ticks, zero lines, error bars
    "chart_strong": ("#333333", "#d4d8de"),  # threshold lines, value annotations
    "chart_grid": ("#e6e6e6", "#33373d"),
    "chart_guide": ("#aaaaaa", "#6f7680"),  # chance / perfect-prediction diagonals
    "chart_accent": ("#3b75af", "#5e9fe0"),
    "chart_bad": ("#c0392b", "#ff6f61"),
    "chart_reference": ("#9aa5b1", "#7b8591"),  # the training distribution
    "chart_missing": ("#e3e3e3", "#3a3f46"),  # heatmap cell not measured
    "chart_volume": ("#d9dde3", "#353a41"),  # request-count bars behind latency
    "chart_marker": ("#111111", "#f4f4f4"),  # marks on heatmap cells
    "heat_text_low": ("#222222", "#e8eaed"),  # a count on a low (light / dark) cell
}
# The kinds of lineage items (dots beside them): mid tones, legible on either face.
for _kind, _value in (("dataset", "#2f6db5"), ("sweep", "#7b4fb0"), ("run", "#16877a"),
                      ("version", "#c7711c"), ("approval", "#2e8b3e"), ("alias", "#6b7280"),
                      ("bundle", "#8a5a2b"), ("batch", "#b0407a")):
    ROLES[f"kind_{_kind}"] = (_value, _value)
ROLES["banner_bg"] = ROLES["warn_bg"]
ROLES["banner_text"] = ROLES["warn_text"]
ROLES["banner_border"] = ROLES["warn_border"]
ROLES["heat_text_high"] = ("#ffffff", ROLES["chart_face"][1])  # on a dark / bright cell
# Version status badges: (text, background).
BADGES = {"pending": ("warn_text", "warn_bg"), "approved": ("pass_text", "pass_bg"),
          "rejected": ("fail_text", "fail_bg"), "archived": ("archived_text", "archived_bg")}
# Series of overlaid runs, classes and groups: Okabe-Ito (colour-blind safe); the dark scheme
# lightens them to stand out on a dark face.
SERIES = (("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
           "#f0e442"),
          ("#3d9ae0", "#f07b3f", "#2cc498", "#e08fc0", "#f2b53d", "#8ccff5", "#e6e6e6",
           "#f2e56b"))
for _i, (_light, _dark) in enumerate(zip(*SERIES)):
    ROLES[f"series_{_i}"] = (_light, _dark)
# Sequential colour maps, low to high: a count (confusion matrix) and PSI (drift heatmap).
COLORMAPS = {
    "heat": (("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"),
             ("#1a2430", "#173a5e", "#1f5f96", "#3d8fd6", "#a4d3ff")),
    "psi": (("#f7fbff", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000"),
            ("#23272d", "#4d3526", "#8a4427", "#c8492c", "#f0643f")),  # white marks stay legible
}

# QPalette colours: (role, light, dark); disabled text gets its own.
_QPALETTE = (
    ("Window", "#efefef", "#2b2f34"), ("WindowText", "#000000", "#e4e6e9"),
    ("Base", "#ffffff", "#1e2125"), ("AlternateBase", "#f7f7f7", "#24282c"),
    ("Text", "#000000", "#e4e6e9"), ("Button", "#efefef", "#353a40"),
    ("ButtonText", "#000000", "#e4e6e9"), ("BrightText", "#ffffff", "#ffffff"),
    ("Light", "#ffffff", "#4a5058"), ("Midlight", "#cacaca", "#3f444b"),
    ("Mid", "#b8b8b8", "#2a2e33"), ("Dark", "#9f9f9f", "#1b1d20"),
    ("Shadow", "#767676", "#0e0f11"), ("Highlight", "#308cc6", "#3a73b8"),
    ("HighlightedText", "#ffffff", "#ffffff"), ("Link", "#1a5fb4", "#8ab4f8"),
    ("LinkVisited", "#7b3fb4", "#c29df5"), ("ToolTipBase", "#ffffdc", "#3a3f45"),
    ("ToolTipText", "#000000", "#e4e6e9"), ("PlaceholderText", "#7a7a7a", "#8b929c"),
    ("Accent", "#308cc6", "#3a73b8"),
)
_QPALETTE_DISABLED = (
    ("WindowText", "#bebebe", "#7b8089"), ("Text", "#bebebe", "#7b8089"),
    ("ButtonText", "#bebebe", "#7b8089"), ("Base", "#efefef", "#26292d"),
    ("Highlight", "#919191", "#4a4f57"), ("Dark", "#bebebe", "#1b1d20"),
)

_HEX = re.compile(r"#[0-9a-fA-F]{6}\b")
_CSS_HEX = re.compile(r"((?:color|background)\s*:\s*)(#[0-9a-fA-F]{6})\b")


class _Notifier(QObject):
    changed = Signal(str)  # the scheme now in use: "light" or "dark"


notifier = _Notifier()
_state = {"scheme": "light", "requested": "system", "applied": False, "following": False,
          "applying": False}


def theme_setting() -> str:
    """The theme the user chose ("system", "light" or "dark"; "system" if none or unknown)."""
    value = QSettings().value(SETTING_KEY, "system")
    return value if value in THEMES else "system"


def set_theme_setting(name: str) -> None:
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r}: one of {', '.join(THEMES)}")
    QSettings().setValue(SETTING_KEY, name)


def scheme() -> str:
    """The scheme in use: "light" or "dark"."""
    return _state["scheme"]


def is_dark() -> bool:
    return _state["scheme"] == "dark"


def color(role: str, scheme_name: str | None = None) -> str:
    """'#rrggbb' of a role in the scheme in use (or the one named)."""
    return ROLES[role][SCHEMES.index(scheme_name or _state["scheme"])]


def qcolor(role: str) -> QColor:
    return QColor(color(role))


def brush(role: str) -> QBrush:
    return QBrush(qcolor(role))


def badge(status: str) -> tuple[str, str]:
    """(text, background) colours of a version status badge."""
    text, background = BADGES.get(status, ("other_text", "other_bg"))
    return color(text), color(background)


def css_text(role: str) -> str:
    """A stylesheet that colours a widget's text with `role`."""
    return f"color: {color(role)};"


def css_warning() -> str:
    """A stylesheet for a boxed warning: warning text on the warning background."""
    return f"color: {color('warn_text')}; background: {color('warn_bg')}; padding: 4px;"


def series(i: int) -> str:
    """The i-th colour of the chart series cycle."""
    return color(f"series_{i % len(SERIES[0])}")


def colormap(name: str) -> tuple[str, ...]:
    """The colours, low to high, of a sequential colour map ("heat", "psi")."""
    return COLORMAPS[name][SCHEMES.index(_state["scheme"])]


def mpl_style() -> dict:
    """Matplotlib rcParams for the scheme in use: faces, text, ticks, spines, grid, series."""
    from cycler import cycler
    face, text, axis = color("chart_face"), color("chart_text"), color("chart_axis")
    return {
        "figure.facecolor": face, "figure.edgecolor": face, "savefig.facecolor": face,
        "axes.facecolor": face, "axes.edgecolor": axis, "axes.labelcolor": text,
        "axes.titlecolor": text, "text.color": text,
        "xtick.color": axis, "ytick.color": axis, "xtick.labelcolor": text,
        "ytick.labelcolor": text, "grid.color": color("chart_grid"),
        "legend.facecolor": face, "legend.edgecolor": color("chart_grid"),
        "patch.edgecolor": axis, "hatch.color": axis,
        "axes.prop_cycle": cycler(color=[series(i) for i in range(len(SERIES[0]))]),
    }


def qpalette(scheme_name: str) -> QPalette:
    i = SCHEMES.index(scheme_name)
    pal = QPalette()
    for name, *values in _QPALETTE:
        pal.setColor(getattr(QPalette.ColorRole, name), QColor(values[i]))
    for name, *values in _QPALETTE_DISABLED:
        pal.setColor(QPalette.ColorGroup.Disabled, getattr(QPalette.ColorRole, name),
                     QColor(values[i]))
    return pal


def translation(old: str, new: str) -> dict[str, str]:
    """{old scheme's '#rrggbb': new scheme's} over every role ({} if the schemes are one)."""
    a, b = SCHEMES.index(old), SCHEMES.index(new)
    return {pair[a]: pair[b] for pair in ROLES.values()} if a != b else {}


def swap(text: str, table: dict[str, str], css_only: bool = False) -> str:
    """`text` with each colour of `table` replaced (in rich text: only CSS colour values)."""
    if not table or "#" not in text:
        return text
    if css_only:
        return _CSS_HEX.sub(lambda m: m.group(1) + table.get(m.group(2).lower(), m.group(2)),
                            text)
    return _HEX.sub(lambda m: table.get(m.group(0).lower(), m.group(0)), text)


def _system_scheme() -> str:
    hints = QGuiApplication.styleHints()
    get = getattr(hints, "colorScheme", None)  # Qt >= 6.5
    return "dark" if get is not None and get() == Qt.ColorScheme.Dark else "light"


def _ask_platform(requested: str) -> None:
    """Tell the platform the scheme asked for (window title bars follow on Windows/macOS)."""
    hints = QGuiApplication.styleHints()
    if requested == "system":
        unset = getattr(hints, "unsetColorScheme", None)  # Qt >= 6.8
        if unset is not None:
            unset()
    elif hasattr(hints, "setColorScheme"):
        hints.setColorScheme(Qt.ColorScheme.Dark if requested == "dark" else Qt.ColorScheme.Light)


def _on_system_scheme(*_args) -> None:
    if _state["requested"] == "system" and not _state["applying"]:
        apply("system")


def apply(theme: str | None = None) -> str:
    """Use `theme` ("system", "light", "dark"; None: the setting) from now on: the app's
    palette, and a restyle of what exists if the scheme changed. Returns "light" or "dark"."""
    requested = theme_setting() if theme is None else theme
    if requested not in THEMES:
        raise ValueError(f"unknown theme {requested!r}: one of {', '.join(THEMES)}")
    app = QGuiApplication.instance()
    _state["requested"] = requested
    if app is None:  # nothing to paint yet: the colours asked for later are this scheme's
        _state["scheme"] = "light" if requested == "system" else requested
        return _state["scheme"]
    _state["applying"] = True
    try:
        _ask_platform(requested)
        new = _system_scheme() if requested == "system" else requested
    finally:
        _state["applying"] = False
    if not _state["following"] and hasattr(QGuiApplication.styleHints(), "colorSchemeChanged"):
        QGuiApplication.styleHints().colorSchemeChanged.connect(_on_system_scheme)
        _state["following"] = True
    old = _state["scheme"]
    _state["scheme"] = new
    app.setPalette(qpalette(new))
    if isinstance(app, QApplication):
        QToolTip.setPalette(qpalette(new))  # tooltips keep a palette of their own
    if old != new or not _state["applied"]:
        _state["applied"] = True
        _restyle_widgets(translation(old, new))
        notifier.changed.emit(new)
    return new


def _restyle_widgets(table: dict[str, str]) -> None:
    if not isinstance(QApplication.instance(), QApplication):
        return
    models = set()  # a model shown by two views is swapped once
    for widget in QApplication.allWidgets():
        sheet = widget.styleSheet()
        if sheet:  # set again even if unchanged: palette(...) in it is read anew
            widget.setStyleSheet(swap(sheet, table))
        if isinstance(widget, QLabel) and widget.textFormat() != Qt.TextFormat.PlainText:
            text = widget.text()
            new_text = swap(text, table, css_only=True)
            if new_text != text:
                widget.setText(new_text)
        if table and isinstance(widget, QAbstractItemView):
            for item, columns in _stored_items(widget, models):
                _swap_item(item, table, columns)


def _stored_items(view, models: set):
    """(item, columns or None) of a view whose items store their brushes: QTreeWidget,
    QListWidget, a QStandardItemModel's (table models compute theirs when asked)."""
    if isinstance(view, QTreeWidget):
        it = QTreeWidgetItemIterator(view)
        while it.value() is not None:
            yield it.value(), it.value().columnCount()
            it += 1
    elif isinstance(view, QListWidget):
        for row in range(view.count()):
            yield view.item(row), None
    elif isinstance(view.model(), QStandardItemModel) and id(view.model()) not in models:
        models.add(id(view.model()))
        stack = [view.model().invisibleRootItem()]
        while stack:
            parent = stack.pop()
            for r in range(parent.rowCount()):
                for c in range(parent.columnCount()):
                    if (child := parent.child(r, c)) is not None:
                        yield child, None
                        stack.append(child)


def _swap_item(item, table: dict[str, str], columns: int | None) -> None:
    """Item brushes (QTreeWidgetItem per column, QListWidgetItem, QStandardItem) to the new
    scheme."""
    for c in range(columns) if columns is not None else (None,):
        args = () if c is None else (c,)
        for get, put in ((item.foreground, item.setForeground),
                         (item.background, item.setBackground)):
            b = get(*args)
            if b.style() != Qt.BrushStyle.NoBrush and b.color().name() in table:
                put(*args, QBrush(QColor(table[b.color().name()])))
