"""Regenerate the README's screenshots: every pane, light and dark, at 1024x640 and 1920x1080.

    python scripts/screenshots.py [OUT_DIR]     # default docs/screenshots

It builds a demo store in a temporary folder through the core API, as people would through
the app (an analyst imports the sample and trains two runs, a reviewer approves one, ops
sets production and exports it, two production batches are ingested, one of them shifted),
then renders each picture with `lablift gui --screenshot` in its own process, so what you
see is what a user starting the app sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PANES = ("datasets", "experiments", "registry", "approvals", "monitoring")
THEMES = ("light", "dark")
SIZES = ("1024x640", "1920x1080")
# who is signed in for each pane's picture: the role that works there
VIEWER = {"datasets": "ana", "experiments": "ana", "registry": "oscar", "approvals": "rita",
          "monitoring": "oscar"}


def build_demo_store(folder: Path) -> Path:
    import numpy as np
    import pandas as pd

    from lablift.core import bundles, datasets, monitoring, registry, training
    from lablift.core.store import Store
    from lablift.resources import SAMPLE_LOANS

    store_dir = folder / "store"
    admin = Store(store_dir, user="admin")
    for name, role in (("ana", "analyst"), ("rita", "reviewer"), ("oscar", "ops")):
        admin.add_user(name, role)
    ana = Store(store_dir, user="ana")
    datasets.import_dataset(ana, SAMPLE_LOANS, name="loans")
    spec = {"dataset": "loans", "target": "approved", "cv": 3}
    first = training.train(ana, {**spec, "algorithm": "logistic_regression", "params": {}})
    second = training.train(ana, {**spec, "algorithm": "random_forest",
                                  "params": {"n_estimators": 60, "max_depth": 8}})
    registry.register(ana, first["id"], "loans")
    registry.register(ana, second["id"], "loans")
    rita = Store(store_dir, user="rita")
    registry.approve(rita, "loans:1", comment="Checks pass; fairness within the gate.")
    oscar = Store(store_dir, user="oscar")
    registry.set_alias(oscar, "loans:1", "production")
    bundles.export(oscar, "loans:1", folder / "bundle")

    loans = pd.read_csv(SAMPLE_LOANS)
    steady = loans.sample(500, random_state=3).reset_index(drop=True)
    shifted = loans.sample(500, random_state=4).reset_index(drop=True)
    shifted["age"] += 12
    shifted["income"] *= 1.6
    shifted["credit_score"] -= 70
    shifted["loan_amount"] *= 1.8
    shifted["home_ownership"] = "rent"
    flip = np.arange(len(shifted)) % 3 == 0
    shifted.loc[flip, "approved"] = 1 - shifted.loc[flip, "approved"]
    for name, frame in (("week-1.csv", steady), ("week-2.csv", shifted)):
        path = folder / name
        frame.to_csv(path, index=False)
        monitoring.ingest(oscar, "loans:1", path, label="approved")
    for opened in (admin, ana, rita, oscar):
        opened.close()
    return store_dir


def shoot(store_dir: Path, out: Path) -> list[Path]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), os.environ.get("PYTHONPATH", "")])}
    written = []
    for pane in PANES:
        for theme in THEMES:
            for size in SIZES:
                path = out / f"{pane}-{theme}-{size}.png"
                subprocess.run([sys.executable, "-m", "lablift.cli", "--store", str(store_dir),
                                "--user", VIEWER[pane], "gui", "--screenshot", str(path),
                                "--pane", pane, "--size", size, "--theme", theme],
                               check=True, env=env)
                written.append(path)
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return written


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT / "app"))
    out = Path(argv[0]) if argv else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lablift-demo-") as tmp:
        store_dir = build_demo_store(Path(tmp))
        shoot(store_dir, out.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
