"""README "Command line" runs as written, in order, in a fresh store (bash -e, the real
`lablift` command), with the bundled sample as loans.csv and batch.csv."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lablift.resources import SAMPLE_LOANS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_readme_command_line_walkthrough_runs_as_written(tmp_path):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```\n(.*?)```", section, flags=re.S)
    assert "users add bob" in block.split("model approve")[0]  # people before their acts
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(SAMPLE_LOANS, work / "loans.csv")
    shutil.copy(SAMPLE_LOANS, work / "batch.csv")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lablift").write_text(f"#!/bin/sh\nexec {sys.executable} -m lablift.cli \"$@\"\n")
    (bin_dir / "lablift").chmod(0o755)
    env = {**os.environ, "PATH": os.pathsep.join([str(bin_dir), os.environ["PATH"]]),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), os.environ.get("PYTHONPATH", "")]),
           "LABLIFT_STORE": str(tmp_path / "store")}
    env.pop("LABLIFT_USER", None)
    script = "set -euo pipefail\n" + "\n".join(
        f"echo '$ {line.split('#')[0].strip()}'\n{line}" for line in block.strip().splitlines())
    done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "imported loans:1" in out and "approved by bob" in out
    assert (work / "loans-bundle" / "serve.py").exists()
    assert re.search(r"intact", out)
