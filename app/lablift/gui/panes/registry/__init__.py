"""The Registry pane: models and their versions (status, aliases, who, when, attention), the
selected version's lineage and evidence, and the ops actions (Set alias, Roll back
production, Archive, Export bundle, Edit card).

  pane     the Pane: the tree beside the evidence, the actions, their tasks
  tree     the models tree and its rows
  actions  why an action is closed, in the core's words (tooltips, the note under the buttons)
  data     what is read in workers: the listing, the role checks, a version's detail and the
           rollback plan of its model
  dialogs  a run on its own, the model card editor, the rollback confirmation's text
  export   the export worker, its progress and the "Bundle exported" dialog
  common   shared names
"""

from .common import COMMON_ALIASES, ID_ROLE, ROLE_CHECKS, ROLLBACK_ALIAS
from .data import read_detail, read_registry, resolve_listed
from .dialogs import CardDialog, RunDialog, rollback_question, run_markdown
from .export import export_into, open_folder
from .pane import Pane

__all__ = ["COMMON_ALIASES", "CardDialog", "ID_ROLE", "Pane", "ROLE_CHECKS", "ROLLBACK_ALIAS",
           "RunDialog", "export_into", "open_folder", "read_detail", "read_registry",
           "resolve_listed", "rollback_question", "run_markdown"]
