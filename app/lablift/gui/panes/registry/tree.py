"""The Registry pane's models tree: one row per model (its name, version count and aliases in
one spanned cell), under it its versions newest first (status badge, aliases, who, when, ⚠
for attention)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem

from ... import palette
from ...column_fit import fit_columns
from ...format import short_time
from .common import ID_ROLE


def make_tree() -> tuple[QTreeWidget, Any]:
    """The tree and its column fitter (kept by the caller: it lives as long as the tree)."""
    tree = QTreeWidget()
    tree.setHeaderLabels(["Model / version", "Status", "Aliases", "By", "Created"])
    for column, tip in enumerate(["Model name and its versions", "Status of the version",
                                  "Aliases pointing at the version", "Registered by",
                                  "When the version was registered"]):
        tree.headerItem().setToolTip(column, tip)
    tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names keep both ends
    # Narrow: Created, then By, then Aliases step aside (each row's tooltip has them).
    columns = fit_columns(tree, main=0, optional=[4, 3, 2])
    tree.setRootIsDecorated(True)
    tree.setUniformRowHeights(True)
    tree.setAlternatingRowColors(True)
    tree.setStyleSheet("QTreeWidget::item { padding: 3px 2px; }")
    header = tree.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for c in range(1, 5):
        header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
    tree.setMinimumWidth(180)  # narrow windows scroll the columns, not the window
    return tree, columns


def _version_item(v: dict[str, Any]) -> QTreeWidgetItem:
    label = f"v{v['version']}"
    if v.get("attention"):
        label = f"⚠ {label}"
    child = QTreeWidgetItem([label, v["status"], ", ".join(v["aliases"]), v["created_by"],
                             short_time(v["created_at"])])
    child.setData(0, ID_ROLE, v["id"])
    fg, bg = palette.badge(v["status"])
    child.setForeground(1, QBrush(QColor(fg)))
    child.setBackground(1, QBrush(QColor(bg)))
    child.setTextAlignment(1, Qt.AlignmentFlag.AlignCenter)
    tip = (f"{v['ref']}: {v['status']}, run {v['run_id']}, registered by "
           f"{v['created_by']} on {short_time(v['created_at'])}"
           + (f", aliases {', '.join(v['aliases'])}" if v["aliases"] else ""))
    if v.get("approver"):
        tip += f", approved by {v['approver']}"
    if v.get("attention"):
        tip += f"\nNeeds attention: {v['attention']}"
        child.setForeground(0, palette.brush("warn"))
    child.setToolTip(0, tip)
    return child


def fill_tree(tree: QTreeWidget, versions: list[dict[str, Any]],
              models: list[dict[str, Any]]) -> None:
    """Replace the tree's rows (the caller blocks its signals)."""
    by_name = {m["name"]: m for m in models}
    tree.clear()
    by_model: dict[str, list[dict]] = {}
    for v in versions:
        by_model.setdefault(v["model"], []).append(v)
    for name, vs in by_model.items():
        m = by_name.get(name) or {}
        alias_text = ", ".join(f"{a}→{n}" for a, n in (m.get("aliases") or {}).items())
        count = f"{len(vs)} version{'s' if len(vs) != 1 else ''}"
        # One spanned cell, so a long model name is never clipped by the columns.
        top = QTreeWidgetItem([f"{name}   ({count}" + (f"; {alias_text})" if alias_text
                                                        else ")")])
        top.setToolTip(0, f"model {name}: {count}" + (f", aliases {alias_text}"
                                                       if alias_text else ""))
        font = top.font(0)
        font.setBold(True)
        top.setFont(0, font)
        top.setData(0, ID_ROLE, vs[-1]["id"])
        for v in reversed(vs):  # newest first
            top.addChild(_version_item(v))
        tree.addTopLevelItem(top)
        top.setFirstColumnSpanned(True)
    tree.expandAll()


def version_items(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    out = []
    for i in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(i)
        out += [top.child(j) for j in range(top.childCount())]
    return out
