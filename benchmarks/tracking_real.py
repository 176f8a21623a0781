"""bench_tracking.py's second part: recording a run with REAL artifacts, beside MLflow.

The three files of a real run trained here once (a random forest's pickled pipeline, ~1.1 MB
at 50 trees on 2,000 rows; its holdout predictions, Parquet; its plot data, JSON), made new
every run by a unique suffix, so every run writes 3 new files. Each contender runs in its own
process (a worker answering "record N runs" over a pipe), in interleaved rounds whose order
rotates; a round's figure is the mean of its runs, the table shows the median of the rounds.
Each worker prepares a run's bytes before its clock starts (compute()'s output for Lablift,
files on disk for MLflow, which logs files: that staging write is not counted, in its favour).
The floor is what no durable tracker can beat here: the same 3 files written and fsynced at
once, renamed, their folders fsynced at once (put_many's I/O), without hashing, claiming or
writing any row (benchmarks/bench_durable_floor.py times the other ways of syncing them).
Under load the rounds swing by 2x; the ratios are also given paired by round (each round's
ratio, then the median), since the contenders of one round share the machine's state.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = HERE.parent / "app"
ART_NAMES = {"pipeline": "model.pkl", "holdout": "holdout.parquet", "plots": "plots.json"}

# Shared by the workers: read the base files, then answer {"how", "runs"} lines with the mean
# seconds per run; the first line out names the version.
_SERVE = r"""
def serve(version, how, prepare):
    print(json.dumps({"version": version}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        total = 0.0
        for _ in range(cmd["runs"]):
            arg = prepare()
            t0 = time.perf_counter()
            how[cmd["how"]](arg)
            total += time.perf_counter() - t0
        print(json.dumps({"s": total / cmd["runs"]}), flush=True)

def fresh():  # every run its own bytes (a real run's pipeline and predictions differ)
    tag = ("|" + secrets.token_hex(8)).encode()
    return {name: data + tag for name, data in base.items()}
"""

LABLIFT_WORKER = r"""
import json, secrets, sys, time
from pathlib import Path
from types import SimpleNamespace
root, work = Path(sys.argv[1]), Path(sys.argv[2])
spec, params, metrics = json.loads(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5])
base = {f.name: f.read_bytes() for f in (root / "base").iterdir()}
""" + _SERVE + r"""
import lablift
from lablift.core import audit, training
from lablift.core.store import Store, utcnow
store = Store(work / "store", user="bench")
with store.transaction():  # a dataset row, witnessed as import does
    ds = store.insert("datasets", {
        "name": "bench", "version": 1, "sha256": "0" * 64, "artifact": "0" * 64, "rows": 1,
        "columns": 1, "schema": [], "profile": {}, "created_at": utcnow(),
        "created_by": "bench"})
    audit.append(store, "dataset.import", f"dataset:{ds}", {})
prepared = SimpleNamespace(spec=dict(spec, dataset_id=ds), notes=[])
result = {"status": "finished", "params": params, "metrics": {"holdout": metrics, "cv": {}},
          "predictions_sha256": "a" * 64, "timings": {}, "folds": []}

def prepare():  # compute()'s output: the bytes in memory
    arts = fresh()
    return dict(result, pipeline_bytes=arts["model.pkl"], holdout_bytes=arts["holdout.parquet"],
                plots_bytes=arts["plots.json"])

def record(res):  # exactly what `train` does around compute()
    started = time.perf_counter()
    run_id = training.record_start(store, prepared)
    training.record_finish(store, run_id, res, started, prepared.notes)

if len(sys.argv) > 6:  # --profile: cProfile 50 runs to a file, then serve as usual
    import cProfile
    prof = cProfile.Profile()
    for _ in range(50):
        res = prepare()
        prof.enable()
        record(res)
        prof.disable()
    prof.dump_stats(sys.argv[6])
serve(lablift.__version__, {"record": record}, prepare)
"""

MLFLOW_WORKER = r"""
import json, logging, os, secrets, sys, time, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
root, work = Path(sys.argv[1]), Path(sys.argv[2])
params, metrics = json.loads(sys.argv[3]), json.loads(sys.argv[4])
base = {f.name: f.read_bytes() for f in (root / "base").iterdir()}
""" + _SERVE + r"""
import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
client = MlflowClient()
exp = client.create_experiment("real", artifact_location=(work / "artifacts").as_uri())
stage = work / "stage"
stage.mkdir()
P = [Param(k, str(v)) for k, v in params.items()]

def prepare():  # MLflow logs files: written before the clock (not counted)
    for name, data in fresh().items():
        (stage / name).write_bytes(data)

def client_run(_):
    now = int(time.time() * 1000)
    rid = client.create_run(exp).info.run_id
    client.log_batch(rid, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()], params=P)
    client.log_artifacts(rid, str(stage))
    client.set_terminated(rid)

def fluent_run(_):
    with mlflow.start_run(experiment_id=exp):
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(stage))

serve(mlflow.__version__, {"client": client_run, "fluent": fluent_run}, prepare)
"""

FILES_WORKER = r"""
import hashlib, json, os, secrets, sys, time
from pathlib import Path
root, work = Path(sys.argv[1]), Path(sys.argv[2])
base = {f.name: f.read_bytes() for f in (root / "base").iterdir()}
""" + _SERVE + r"""
def write(folder, name, data):  # write, fsync, rename: how every file here lands
    folder.mkdir(exist_ok=True)
    tmp = folder / f".tmp.{name}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / name)

def files(arts):  # one after another: sha256, write, fsync, rename (no rows, no folder fsync)
    for data in arts.values():
        sha = hashlib.sha256(data).hexdigest()
        write(work / sha[:2], sha, data)

from concurrent.futures import ThreadPoolExecutor
pool = ThreadPoolExecutor(4)

def fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

def at_once(fn, items):  # the first here, the others in threads (as put_many does)
    futures = [pool.submit(fn, *item) for item in items[1:]]
    return [fn(*items[0])] + [f.result() for f in futures]

def stage(folder, data):
    folder.mkdir(exist_ok=True)
    tmp = folder / f".tmp.{secrets.token_hex(8)}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp

def floor(arts):  # the durable minimum for the 3 files, done as put_many does it, less the
    # hashing, claims and rows: written + fsynced at once, renamed, folders fsynced at once
    names = [secrets.token_hex(32) for _ in arts]
    folders = [work / n[:2] for n in names]
    datas = sorted(arts.values(), key=len, reverse=True)  # the largest in this thread
    temps = at_once(stage, list(zip(folders, datas)))
    for tmp, folder, name in zip(temps, folders, names):
        os.replace(tmp, folder / name)
    at_once(fsync_dir, [(f,) for f in sorted(set(folders))])

serve("-", {"files": files, "floor": floor}, fresh)
"""


class Worker:
    """One process answering "record N runs"; `how` picks the API inside it."""

    def __init__(self, root: Path, python: str, script: str, args: list[str],
                 env: dict[str, str] | None = None):
        self.work = Path(tempfile.mkdtemp(prefix="worker_", dir=root))
        self.proc = subprocess.Popen([python, "-c", script, str(root), str(self.work), *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=self.work, env=env)
        self.version = self._reply()["version"]

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"a benchmark worker exited ({self.proc.wait()})")
        return json.loads(line)

    def runs(self, how: str, n: int) -> float:
        self.proc.stdin.write(json.dumps({"how": how, "runs": n}) + "\n")
        self.proc.stdin.flush()
        return self._reply()["s"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def real_artifacts(root: Path, rows: int, trees: int) -> dict[str, bytes]:
    """The three artifacts of a real run, trained here once."""
    sys.path.insert(0, str(HERE))
    from bench_training import make_data

    from lablift.core import datasets, training
    from lablift.core.store import Store
    make_data(rows, root / "data.csv")
    store = Store(root / "train_store", user="bench")
    datasets.import_dataset(store, root / "data.csv", name="bench")
    run = training.train(store, {"dataset": "bench", "target": "label",
                                 "algorithm": "random_forest",
                                 "params": {"n_estimators": trees}, "cv": 2, "seed": 0})
    arts = {k: store.artifacts.read_bytes(v) for k, v in run["artifacts"].items()}
    store.close()
    return arts


def lablift_env(app: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(app)}


def real_side(args, mlflow_python: Path | None, spec: dict, params: dict,
              metrics: dict) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench_tracking_real_"))
    print(f"training a real run (random forest, {args.real_trees} trees, {args.real_rows} "
          f"rows) for its artifacts ...", file=sys.stderr)
    base = real_artifacts(root, args.real_rows, args.real_trees)
    (root / "base").mkdir()
    for key, name in ART_NAMES.items():
        (root / "base" / name).write_bytes(base[key])
    profile = str(root / "lablift.prof") if args.profile else None
    lab_args = [json.dumps(spec), json.dumps(params), json.dumps(metrics)]
    workers, contenders = {}, {}
    try:
        workers["lablift"] = Worker(root, sys.executable, LABLIFT_WORKER,
                                    lab_args + ([profile] if profile else []), lablift_env(APP))
        contenders["lablift"] = (workers["lablift"], "record")
        if args.baseline:
            workers["baseline"] = Worker(root, sys.executable, LABLIFT_WORKER, lab_args,
                                         lablift_env(args.baseline.resolve()))
            contenders["baseline"] = (workers["baseline"], "record")
        if mlflow_python:
            workers["mlflow"] = Worker(root, str(mlflow_python), MLFLOW_WORKER,
                                       [json.dumps(params), json.dumps(metrics)])
            contenders["mlflow_client"] = (workers["mlflow"], "client")
            contenders["mlflow_fluent"] = (workers["mlflow"], "fluent")
        workers["files"] = Worker(root, sys.executable, FILES_WORKER, [])
        contenders["files"] = (workers["files"], "files")
        contenders["floor"] = (workers["files"], "floor")
        times = timed_rounds(contenders, args.rounds, args.round_runs)
        if profile:
            print_profile(profile)
    finally:
        for w in workers.values():
            w.close()
        shutil.rmtree(root, ignore_errors=True)
    return {"times": times, "sizes": {k: len(v) for k, v in base.items()},
            "versions": {k: w.version for k, w in workers.items()}}


def timed_rounds(contenders: dict, rounds: int, runs: int) -> dict[str, list[float]]:
    """Per contender, the mean seconds per run of each round; the order rotates per round."""
    names = list(contenders)
    for name in names:
        worker, how = contenders[name]
        worker.runs(how, 3)  # warm up: imports, statement caches, first folders
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            worker, how = contenders[name]
            out[name].append(worker.runs(how, runs))
        print(f"  round {r + 1}/{rounds}: " + ", ".join(
            f"{n} {out[n][-1] * 1000:.2f} ms" for n in names), file=sys.stderr)
    return out


def print_profile(path: str) -> None:
    import io
    import pstats
    out = io.StringIO()
    pstats.Stats(path, stream=out).sort_stats("tottime").print_stats(15)
    print("\n-- Lablift record_start + record_finish with real artifacts, 50 runs, "
          "cProfile by own time:")
    print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))


def report(real: dict, rounds: int, round_runs: int, mlflow_why: str) -> None:
    t, ms, med, v = real["times"], 1000.0, statistics.median, real["versions"]
    sizes = ", ".join(f"{k} {n / 1e6:.2f} MB" if n > 1e5 else f"{k} {n / 1e3:.1f} KB"
                      for k, n in real["sizes"].items())
    print(f"\nRecording a run with real artifacts ({sizes}; 3 new files per run, 10 params, "
          f"5 metrics): median of {rounds} interleaved rounds x {round_runs} runs, ms per run")
    labels = {"lablift": f"Lablift {v['lablift']} record_start+finish",
              "baseline": "baseline (--baseline APP), same calls",
              "mlflow_client": f"MLflow {v.get('mlflow')} MlflowClient",
              "mlflow_fluent": f"MLflow {v.get('mlflow')} fluent API",
              "files": "reference: the 3 files alone, in turn",
              "floor": "floor: the 3 files at once, durable"}
    ours = med(t["lablift"])

    def paired(key: str) -> float:  # the median of each round's ratio to Lablift's
        return med(a / b for a, b in zip(t[key], t["lablift"]))
    print(f"  {'':42}{'median':>8}{'min-max':>15}{'vs Lablift':>12}{'paired':>9}")
    for key, label in labels.items():
        if key in t:
            x = t[key]
            print(f"  {label:42}{med(x) * ms:8.2f}{f'{min(x) * ms:.2f}-{max(x) * ms:.2f}':>15}"
                  f"{med(x) / ours:11.2f}x{paired(key):8.2f}x")
    print("  (Lablift: hashed, written, fsynced, renamed, folders fsynced, the row built "
          "meanwhile and committed after; MLflow fsyncs no artifact file; the reference "
          "fsyncs each file in turn, not its folder; the floor is Lablift's file I/O alone: "
          "no hash, no claim, no row)")
    if "mlflow_client" in t:
        key = min(("mlflow_client", "mlflow_fluent"), key=lambda k: med(t[k]))
        best = med(t[key])
        ratio = best / ours
        print(f"record with real artifacts: Lablift {ours * ms:.2f} ms, MLflow {best * ms:.2f} "
              f"ms (its faster API): {ratio:.1f}x faster, {paired(key):.1f}x paired by round "
              f"(target >= 10x: {'met' if min(ratio, paired(key)) >= 10 else 'MISSED'}); the "
              f"durable floor {med(t['floor']) * ms:.2f} ms would be "
              f"{best / med(t['floor']):.1f}x")
    else:
        print(f"record with real artifacts: Lablift {ours * ms:.2f} ms; MLflow not measured: "
              f"{mlflow_why}")
