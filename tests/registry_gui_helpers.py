"""A store for the Registry and Approvals pane tests: users, the sample loans and real runs.

Trained once per test module into a template folder, copied per test (training is the slow
part). alice (analyst) imported the sample (the file the `sample_csv` fixture names) and
trained every run; runs 1 and 2 are logistic regressions with sensitive column gender.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lablift.core import training
from lablift.core.datasets import import_dataset
from lablift.core.store import Store
from lablift.resources import SAMPLE_LOANS

USERS = {"alice": "analyst", "bob": "reviewer", "carol": "analyst", "olga": "ops",
         "rita": "reviewer"}
SPEC = {"dataset": "loans", "target": "approved", "algorithm": "logistic_regression",
        "cv": 2, "sensitive": "gender"}


def build_template(root: Path) -> Path:
    admin = Store(root, user="admin")
    for name, role in USERS.items():
        admin.add_user(name, role)
    alice = Store(root, user="alice")
    import_dataset(alice, SAMPLE_LOANS, name="loans")
    training.train(alice, SPEC)
    training.train(alice, {**SPEC, "params": {"C": 0.1}})
    alice.close()
    admin.close()
    return root


class Stores:
    """Open the copied store as any user; closes them all at the end."""

    def __init__(self, template: Path, root: Path):
        shutil.copytree(template, root)
        self.root = root
        self._opened: list[Store] = []

    def __call__(self, user: str) -> Store:
        s = Store(self.root, user=user)
        self._opened.append(s)
        return s

    def close(self) -> None:
        for s in self._opened:
            s.close()


def table_rows(view) -> list[list[str]]:
    """The text of every cell of a QTableView, as shown."""
    model = view.model()
    return [[model.index(r, c).data() or "" for c in range(model.columnCount())]
            for r in range(model.rowCount())]


def history_rows(pane) -> list[list[str]]:
    """The History tab of the pane's evidence: [#, When, Who, Action, Details] per entry."""
    return table_rows(pane.evidence.history_table)
