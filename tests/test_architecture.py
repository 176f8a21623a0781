"""The import contracts of pyproject.toml, checked as a test: core stays headless, the layers
cli -> gui -> core -> bundle_runtime hold, and no pane imports another."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_never_imports_qt():
    lint = Path(sys.executable).with_name("lint-imports")
    # the checkout's code, not whatever copy of lablift is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "app"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([str(lint), str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    for contract in ("core never imports Qt or the GUI KEPT",
                     "layers: cli, then gui, then core, then the bundle runtime KEPT",
                     "panes are independent of each other KEPT"):
        assert contract in result.stdout
