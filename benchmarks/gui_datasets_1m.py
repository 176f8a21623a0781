"""How long the Datasets pane takes to show a 1,000,000-row version (load in a worker + first paint).

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_datasets_1m.py [STORE_DIR] [--csv FILE] [--quick]

Imports a generated 1M x 8 Parquet file (or FILE, e.g. bench_import.py's 1M x 20 CSV) once,
not timed, then times: selecting the version until the table is painted, and scrolling to
the last row.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from lablift.core import datasets  # noqa: E402
from lablift.core.store import Store  # noqa: E402
from lablift.gui.app import _application  # noqa: E402
from lablift.gui.panes.datasets import Pane  # noqa: E402

N = 1_000_000


def make_file(path: Path) -> None:
    rng = np.random.default_rng(0)
    cats = np.array(["north", "south", "east", "west"])
    x = rng.normal(size=N)
    x[rng.random(N) < 0.05] = np.nan
    pq.write_table(pa.table({
        "id": np.arange(N), "x": x, "y": rng.integers(0, 1000, N),
        "z": rng.exponential(3.0, N), "region": pa.array(cats[rng.integers(0, 4, N)]),
        "flag": rng.random(N) < 0.3, "score": rng.uniform(0, 1, N),
        "label": pa.array(np.array(["yes", "no"])[rng.integers(0, 2, N)])}), path)


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--quick"]  # --quick (run_all.py): as is
    if {"-h", "--help"} & set(args):
        print(__doc__)
        return
    csv = None
    if "--csv" in args:
        i = args.index("--csv")
        csv = Path(args[i + 1])
        del args[i:i + 2]
    root = Path(args[0]) if args else Path(tempfile.mkdtemp()) / "store"
    store = Store(root, user="bench")
    if not datasets.list_datasets(store):
        src = csv or root.parent / "million.parquet"
        if csv is None:
            make_file(src)
        datasets.import_dataset(store, src, name="million")
    app = _application()
    start = time.perf_counter()
    pane = Pane(store)  # selects the newest version and starts loading it in a worker
    pane.resize(1280, 760)
    pane.show()
    while pane.is_busy():
        app.processEvents()
        time.sleep(0.001)
    loaded = time.perf_counter()
    pane.data_view.repaint()
    painted = time.perf_counter()
    pane.data_view.scrollToBottom()
    pane.data_view.repaint()
    bottom = time.perf_counter()
    assert pane.data_model.rowCount() == N
    print(f"rows {pane.data_model.rowCount():,} x {pane.data_model.columnCount()} columns: pane built + load in worker {loaded - start:.3f} s, "
          f"first paint {painted - loaded:.3f} s (total {painted - start:.3f} s), "
          f"scroll to last row {bottom - painted:.3f} s")


if __name__ == "__main__":
    main()
