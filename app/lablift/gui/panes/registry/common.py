"""Names the Registry pane's modules share."""

from __future__ import annotations

from PySide6.QtCore import Qt

ID_ROLE = Qt.ItemDataRole.UserRole
COMMON_ALIASES = ("production", "staging", "champion", "challenger")
ROLLBACK_ALIAS = "production"  # the alias "Roll back production…" moves
# (key, the action as the core names it, the roles the core lets do it besides admin)
ROLE_CHECKS = (("alias", "setting an alias", ("ops",)),
               ("archive", "archiving a model version", ("ops", "reviewer")),
               ("export", "exporting a bundle", ("ops",)),
               ("card", "editing a model card", ("analyst",)))
