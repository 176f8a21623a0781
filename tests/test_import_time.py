"""The command line starts in a blink: a read command, or --help, imports none of the numeric,
plotting or GUI stack (`python -X importtime` in a subprocess names every module imported)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import lablift
from lablift.core import datasets, registry, training
from lablift.core.store import Store
from lablift.resources import SAMPLE_LOANS

APP = str(Path(lablift.__file__).resolve().parent.parent)
# What a listing never needs: scientific stack, plots, Qt, and the store's optional tooling
# (sqlite-utils pulls in pandas; SQLAlchemy/Alembic are for the team store and migrations).
FORBIDDEN = {"scipy", "sklearn", "matplotlib", "PySide6", "numpy", "pandas", "pyarrow",
             "sqlite_utils", "sqlalchemy", "alembic"}


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """A dataset, one finished run with metrics, and a registered version: every listing has
    a row to format (a lazy import on a row's code path would show)."""
    root = tmp_path_factory.mktemp("cli_start") / "store"
    store = Store(root, user="ana")
    datasets.import_dataset(store, SAMPLE_LOANS, name="loans")
    run = training.train(store, {"dataset": "loans", "target": "approved", "cv": 0,
                                 "algorithm": "decision_tree", "params": {"max_depth": 2}})
    registry.register(store, run["id"], "loans")
    return root


def imported_by(*argv: str) -> tuple[set[str], str]:
    """Top-level modules a `lablift ARGV` process imported, and what it printed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [APP] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lablift.cli", *argv],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {line.rsplit("|", 1)[-1].strip().split(".")[0]
               for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "lablift" in modules  # the report is really there: this parses what it says
    return modules, proc.stdout


@pytest.mark.parametrize("command, shows", [
    (("dataset", "list"), "loans"),
    (("run", "list"), "decision_tree"),
    (("model", "list"), "pending"),
    (("--help",), "monitor"),
])
def test_a_read_command_imports_no_heavy_stack(small_store, command, shows):
    argv = command if command == ("--help",) else \
        ("--store", str(small_store), "--user", "ana", *command)
    modules, out = imported_by(*argv)
    assert shows in out
    assert not modules & FORBIDDEN, f"`lablift {' '.join(command)}` imported " \
                                    f"{sorted(modules & FORBIDDEN)}"


def test_choices_the_parser_spells_out_match_core():
    # The parser names these without importing their (heavy) core modules.
    from lablift.cli import experiments, monitoring
    from lablift.core import drift, sweeps
    assert experiments.SWEEP_BACKENDS == sweeps.BACKENDS
    assert monitoring.DRIFT_TESTS == drift.TESTS
