"""Light and dark themes: no colour outside gui/palette.py, the app palette and the charts follow
the scheme, a switch restyles live widgets, and `lablift gui --theme dark` renders dark."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest
from matplotlib.colors import is_color_like, to_hex
from PySide6.QtCore import Qt
from PySide6.QtGui import (QColor, QGuiApplication, QImage, QPalette, QStandardItem,
                           QStandardItemModel)
from PySide6.QtWidgets import QApplication, QLabel, QTreeView, QTreeWidget, QTreeWidgetItem

from lablift.cli import main
from lablift.core.store import Store
from lablift.gui import charts, palette
from lablift.gui.evidence import status_badge
from lablift.gui.main_window import MainWindow

GUI = Path(__file__).resolve().parents[1] / "app" / "lablift" / "gui"
COLOUR_LITERALS = {
    "hex colour": re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{8}\b|[:'\"\s]#[0-9a-fA-F]{3}\b"),
    "QColor literal": re.compile(r"QColor\(\s*(['\"]|\d)"),
    "Qt global colour": re.compile(r"Qt\.GlobalColor\.(?!transparent)|\bQt\.(white|black|red|"
                                   r"darkRed|green|blue|gray|darkGray|lightGray|yellow)\b"),
    "rgb()": re.compile(r"\brgba?\("),
    "named stylesheet colour": re.compile(
        r"(?<![\w-])(color|background(-color)?|border[\w-]*)\s*:[^;{}'\"]*\b(white|black|red|"
        r"green|blue|gr[ae]y|orange|yellow|purple|navy|maroon|silver|darkred)\b", re.I),
}
# A colour argument given as a literal matplotlib understands ("white", "C0", "0.5", "Blues").
MPL_ARGUMENT = re.compile(r"\b(colou?rs?|facecolors?|edgecolors?|ecolor|markerfacecolor|"
                          r"markeredgecolor|labelcolor|bad|over|under|cmap)"
                          r"\s*=\s*['\"]([^'\"]*)['\"]")


def mpl_literal(line: str) -> bool:
    return any((is_color_like(value) and value.lower() != "none")
               or (key == "cmap" and value in matplotlib.colormaps)
               for key, value in MPL_ARGUMENT.findall(line))


@pytest.fixture
def light_after(qapp):
    """The test may switch themes; the next test starts light again (rcParams too)."""
    yield
    palette.apply("light")


def lightness(colour) -> float:
    return QColor(colour).lightnessF()


def test_no_colour_literal_outside_the_palette_module():
    found = []
    for path in sorted(GUI.rglob("*.py")):
        if path.name == "palette.py" and path.parent == GUI:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for what, pattern in COLOUR_LITERALS.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(GUI)}:{n}: {what}: {line.strip()}")
            if mpl_literal(line):
                found.append(f"{path.relative_to(GUI)}:{n}: matplotlib colour: {line.strip()}")
    assert not found, "colours belong in gui/palette.py:\n" + "\n".join(found)


def test_roles_that_share_a_value_share_it_in_the_other_scheme_too():
    # The theme switch swaps colours by value: it must be a one-to-one translation.
    for a, b in (("light", "dark"), ("dark", "light")):
        there = palette.translation(a, b)
        back = palette.translation(b, a)
        assert all(back[there[v]] == v for v in there), (a, b)
    for role, values in palette.ROLES.items():
        assert all(re.fullmatch(r"#[0-9a-f]{6}", v) for v in values), role


def test_apply_dark_and_light_set_the_application_palette(qapp, light_after):
    assert palette.apply("dark") == "dark" and palette.is_dark()
    pal = QApplication.palette()
    assert lightness(pal.color(QPalette.ColorRole.Window)) < 0.3
    assert lightness(pal.color(QPalette.ColorRole.WindowText)) > 0.7
    assert lightness(pal.color(QPalette.ColorRole.Base)) < 0.3
    assert lightness(palette.color("chart_face")) < 0.3
    assert palette.apply("light") == "light" and not palette.is_dark()
    pal = QApplication.palette()
    assert lightness(pal.color(QPalette.ColorRole.Window)) > 0.7
    assert lightness(pal.color(QPalette.ColorRole.WindowText)) < 0.3
    with pytest.raises(ValueError):
        palette.apply("sepia")


def test_system_theme_follows_the_setting_and_the_desktop_live(qapp, light_after, monkeypatch):
    palette.set_theme_setting("dark")
    assert palette.theme_setting() == "dark"
    assert palette.apply() == "dark"  # None: the setting
    palette.set_theme_setting("system")
    desktop = {"scheme": "dark"}
    monkeypatch.setattr(palette, "_system_scheme", lambda: desktop["scheme"])
    assert palette.apply() == "dark"
    seen = []
    palette.notifier.changed.connect(seen.append)
    try:
        desktop["scheme"] = "light"  # the desktop switches while the app runs
        QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert palette.scheme() == "light" and seen == ["light"]
        palette.apply("dark")  # chosen explicitly: the desktop's switches no longer apply
        QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert palette.scheme() == "dark"
    finally:
        palette.notifier.changed.disconnect(seen.append)
    with pytest.raises(ValueError):
        palette.set_theme_setting("sepia")


COLUMN = {"name": "age", "kind": "numeric", "dtype": "int64",
          "histogram": {"counts": [3, 5, 2], "edges": [0.0, 1.0, 2.0, 3.0]}}


def test_charts_follow_the_scheme_and_a_drawn_chart_is_recoloured(qtbot, light_after):
    palette.apply("dark")
    canvas = charts.ChartCanvas()
    qtbot.addWidget(canvas)
    ax = canvas.clear()
    assert charts.plot_histogram(ax, COLUMN)
    canvas.draw()
    assert lightness(to_hex(canvas.figure.get_facecolor())) < 0.3
    ticks = ax.get_xticklabels() + ax.get_yticklabels()
    assert ticks and all(lightness(to_hex(t.get_color())) > 0.7 for t in ticks)
    assert lightness(to_hex(ax.title.get_color())) > 0.7
    assert to_hex(ax.patches[0].get_facecolor()) == palette.color("chart_accent", "dark")
    palette.apply("light")  # the same figure, recoloured without a replot
    assert lightness(to_hex(canvas.figure.get_facecolor())) > 0.9
    assert lightness(to_hex(ax.get_facecolor())) > 0.9
    ticks = ax.get_xticklabels() + ax.get_yticklabels()
    assert all(lightness(to_hex(t.get_color())) < 0.3 for t in ticks)
    assert to_hex(ax.title.get_color()) == palette.color("chart_text", "light")
    assert to_hex(ax.patches[0].get_facecolor()) == palette.color("chart_accent", "light")
    canvas.draw()  # and it still draws


def test_a_switch_restyles_the_live_window_without_a_restart(qtbot, tmp_path, light_after):
    store = Store(tmp_path / "store", user="ana")
    window = MainWindow(store, restore_state=False, watch=False)
    qtbot.addWidget(window)
    window.resize(800, 500)
    window.show()
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=30000)
    badge = QLabel(status_badge("approved"))
    tree = QTreeWidget()
    item = QTreeWidgetItem(["v1", "approved"])
    item.setBackground(1, palette.brush("pass_bg"))
    tree.addTopLevelItem(item)
    view, model = QTreeView(), QStandardItemModel()
    cell = QStandardItem("rejected")
    cell.setForeground(palette.brush("bad"))
    model.appendRow([QStandardItem("v2"), cell])
    view.setModel(model)
    for widget in (badge, tree, view):
        qtbot.addWidget(widget)

    def nav_pixel() -> float:
        image = window.nav.grab().toImage()
        return image.pixelColor(image.width() // 2, image.height() - 4).lightnessF()
    assert nav_pixel() > 0.85
    palette.apply("dark")
    qtbot.waitUntil(lambda: nav_pixel() < 0.25, timeout=5000)
    assert palette.color("nav_bg", "dark") in window.nav.styleSheet()
    assert palette.color("banner_bg", "dark") in window.banner.styleSheet()
    assert palette.color("pass_bg", "dark") in badge.text()
    assert item.background(1).color().name() == palette.color("pass_bg", "dark")
    assert cell.foreground().color().name() == palette.color("bad", "dark")
    palette.apply("light")
    qtbot.waitUntil(lambda: nav_pixel() > 0.85, timeout=5000)
    assert palette.color("nav_bg", "light") in window.nav.styleSheet()
    assert palette.color("pass_bg", "light") in badge.text()
    window.close()
    store.close()


def brightness(png: Path) -> tuple[float, float]:
    """Mean lightness of a PNG's pixels (a sample) and the share of light ones."""
    image = QImage(str(png))
    samples = [image.pixelColor(x, y).lightnessF()
               for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)]
    return sum(samples) / len(samples), sum(s > 0.7 for s in samples) / len(samples)


def test_screenshot_with_theme_dark_is_dark(tmp_path, qapp, light_after):
    png = tmp_path / "dark.png"
    assert main(["--store", str(tmp_path / "store"), "--user", "ana", "gui", "--screenshot",
                 str(png), "--pane", "registry", "--size", "480x320", "--theme", "dark"]) == 0
    mean, light_share = brightness(png)
    assert mean < 0.3
    assert light_share > 0.005  # not a blank dark image: light text on it
