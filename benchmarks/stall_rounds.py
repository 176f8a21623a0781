"""What bench_gui_stall.py and bench_train_handoff.py share, without Qt: the training data
both fit, and their baseline-against-current rounds (fresh processes, order alternated)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def make_data(path: Path, rows: int) -> None:
    """A churn-like table: 5 numeric columns, 2 categorical, a binary target."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 5))
    region = np.array(["north", "south", "east", "west"])[rng.integers(0, 4, rows)]
    plan = np.array(["basic", "plus", "pro"])[rng.integers(0, 3, rows)]
    logit = x[:, 0] - 0.7 * x[:, 1] + 0.4 * x[:, 2] * x[:, 3] + (region == "east") * 0.5
    y = (logit + rng.normal(scale=1.0, size=rows) > 0).astype(int)
    frame = pd.DataFrame({f"x{i}": x[:, i] for i in range(5)})
    frame["region"], frame["plan"], frame["churned"] = region, plan, y
    frame.to_csv(path, index=False)


def interleaved(script: Path, sides: dict[str, Path], flags: list[str],
                rounds: int) -> dict[str, list[dict]] | None:
    """Run `script *flags` once per side per round, with that side's package on PYTHONPATH,
    alternating which goes first; each run prints its figures as JSON on its last line.
    None (after printing why) when a run fails."""
    figures: dict[str, list[dict]] = {name: [] for name in sides}
    for r in range(rounds):
        for name, app in (sides.items() if r % 2 == 0 else reversed(sides.items())):
            env = {**os.environ, "PYTHONPATH": str(app)}
            out = subprocess.run([sys.executable, str(script), *flags], env=env,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print(f"error: the {name} round failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                return None
            figures[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {name:<8} " + "  ".join(
                f"{k} {v:.1f}" for k, v in figures[name][-1].items()), flush=True)
    return figures
