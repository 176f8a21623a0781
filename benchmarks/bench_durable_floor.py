"""The durable floor of recording a run's three files, and what each way of syncing costs.

A run's artifacts are a ~1.14 MB pipeline, ~6.8 KB of predictions and ~2.3 KB of plot data
(the sizes tracking_real.py's real run gives; random bytes here, new every run: ext4 does
not compress, so only the sizes matter). Each way below stores the three files in a folder
laid out as ArtifactStore's (`xx/SHA`), timed in interleaved rounds whose order rotates; the
table shows the median of the rounds and the median of each round's ratio to `at_once`
(paired in time, so a machine under load shifts both alike).

Durable (a crash or power cut at any instant leaves no name pointing at unwritten bytes):
- put_many:      Lablift's ArtifactStore.put_many itself (hashes, claims, all of it)
- at_once:       the floor: write + fsync the three in threads, rename, fsync their folders
                 in threads; nothing hashed, nothing claimed
- at_once_fdatasync: the same with fdatasync (a new file's size and blocks are metadata it
                 must still commit, so ext4 does the same journal commit)
- in_turn:       the same, one file after another, folders one after another
- dirs_in_turn:  files at once, their folders fsynced one after another
- pipeline_only: the 1.14 MB file alone (the other two free): what 3 files cost beyond 1
Not durable (for comparison only; each gives up an ordering recovery relies on):
- no_dir_fsync:  the names are not made durable (a power cut can lose an artifact a row names)
- rename_first:  renamed before fsync, then one fsync pair: one journal commit instead of two,
                 but a name can reach the disk before its bytes (a power cut leaves an empty or
                 short file under a hash that a later run would take as stored)
- page_cache:    no fsync at all (MLflow's artifact store does this)

Run: python benchmarks/bench_durable_floor.py [--rounds 15] [--runs 10] [--dir /tmp] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "app"))

SIZES = (1_140_000, 6_800, 2_300)
_pool = ThreadPoolExecutor(4)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(data: bytes, folder: str, sync) -> str:
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        if sync is not None:
            sync(f.fileno())
    return tmp


def _both(fn, items) -> list:
    """fn on every item at once: the first here, the others in threads."""
    futures = [_pool.submit(fn, *item) for item in items[1:]]
    return [fn(*items[0])] + [f.result() for f in futures]


class Ways:
    def __init__(self, root: Path):
        from lablift.core.artifacts import ArtifactStore
        self.root = str(root)
        self.store = ArtifactStore(root / "lablift")

    def _names(self, datas):  # random names: only put_many pays for hashing
        return [secrets.token_hex(32) for _ in datas]

    def _store(self, datas, sync=os.fsync, files_at_once=True, dirs=True, dirs_at_once=True):
        names = self._names(datas)
        folders = [os.path.join(self.root, n[:2]) for n in names]
        jobs = [(d, f, sync) for d, f in zip(datas, folders)]
        temps = _both(_write, jobs) if files_at_once else [_write(*j) for j in jobs]
        for tmp, folder, name in zip(temps, folders, names):
            os.replace(tmp, os.path.join(folder, name))
        if dirs:
            unique = [(f,) for f in sorted(set(folders))]
            if dirs_at_once:
                _both(_fsync_dir, unique)
            else:
                for (f,) in unique:
                    _fsync_dir(f)

    def put_many(self, datas):
        self.store.put_many(datas)

    def at_once(self, datas):
        self._store(datas)

    def at_once_fdatasync(self, datas):
        self._store(datas, sync=os.fdatasync)

    def in_turn(self, datas):
        self._store(datas, files_at_once=False, dirs_at_once=False)

    def dirs_in_turn(self, datas):
        self._store(datas, dirs_at_once=False)

    def pipeline_only(self, datas):
        self._store(datas[:1])

    def no_dir_fsync(self, datas):
        self._store(datas, dirs=False)

    def page_cache(self, datas):
        self._store(datas, sync=None, dirs=False)

    def rename_first(self, datas):
        names = self._names(datas)
        folders = [os.path.join(self.root, n[:2]) for n in names]
        fds = []
        try:
            for data, folder, name in zip(datas, folders, names):
                os.makedirs(folder, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming.", suffix=".tmp")
                fds.append(fd)
                os.write(fd, data)
                os.replace(tmp, os.path.join(folder, name))
            _both(os.fsync, [(fd,) for fd in fds])
        finally:
            for fd in fds:
                os.close(fd)
        _both(_fsync_dir, [(f,) for f in sorted(set(folders))])


ORDER = ("at_once", "put_many", "at_once_fdatasync", "in_turn", "dirs_in_turn",
         "pipeline_only", "no_dir_fsync", "rename_first", "page_cache")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--runs", type=int, default=10, help="runs per way per round")
    ap.add_argument("--dir", default=None, help="where to write (default: the temp folder)")
    ap.add_argument("--ways", default=",".join(ORDER))
    ap.add_argument("--quick", action="store_true", help="5 rounds x 5 runs (run_all.py)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.runs = 5, 5
    names = args.ways.split(",")
    base = [os.urandom(n) for n in SIZES]
    root = Path(tempfile.mkdtemp(prefix="durable_floor_", dir=args.dir))
    ways = Ways(root)

    def fresh():
        tag = secrets.token_bytes(8)
        return [b + tag for b in base]
    try:
        for name in names:  # warm up: imports, threads, the first folders
            for _ in range(3):
                getattr(ways, name)(fresh())
        times: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                fn, total = getattr(ways, name), 0.0
                for _ in range(args.runs):
                    datas = fresh()
                    t0 = time.perf_counter()
                    fn(datas)
                    total += time.perf_counter() - t0
                times[name].append(total / args.runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ref = names[0]
    print(f"Storing a run's 3 files ({', '.join(f'{n / 1e3:g} KB' for n in SIZES)}), new bytes "
          f"every run: median of {args.rounds} interleaved rounds x {args.runs} runs")
    print(f"  {'':20}{'ms/run':>8}{'min-max':>15}{f'paired vs {ref}':>20}")
    for name in names:
        x = times[name]
        paired = statistics.median(a / b for a, b in zip(x, times[ref]))
        print(f"  {name:20}{statistics.median(x) * 1e3:8.2f}"
              f"{f'{min(x) * 1e3:.2f}-{max(x) * 1e3:.2f}':>15}{paired:19.2f}x")
    print(f"(sha256 of the {SIZES[0] / 1e6:g} MB file here: "
          f"{_hash_ms(base[0]):.2f} ms; put_many hashes it while the disk works)")


def _hash_ms(data: bytes) -> float:
    runs = []
    for _ in range(20):
        t0 = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs) * 1e3


if __name__ == "__main__":
    main()
