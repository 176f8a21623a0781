"""Run tracking benchmark: recording a run (10 params, 5 metrics) and listing 1,000 / 10,000 runs.

Three contenders, same rows:
- Lablift: the functions `train` itself uses (training.record_start: the 'running' row and
  its audit entry in one transaction; training.record_finish: artifacts + finished row + audit
  entry in another) and training.list_runs (what `lablift run list` and the GUI table call).
- MLflow's tracking API on a SQLite backend (fluent API: start_run, log_params, log_metrics,
  end_run; MlflowClient.search_runs to list), as a subprocess: this venv's mlflow if it
  imports, else benchmarks/_venvs/mlflow (made on first use by `pip install mlflow`; without
  a network the MLflow lines are left out and say why).
- The floor: plain sqlite3 on the same schema, selecting in one SELECT (raw, and with the JSON
  columns decoded) and recording four ways: all runs in one transaction (the issue's literal
  floor, unreachable for a tracker that must commit each run), one INSERT per transaction,
  insert 'running' then update (2 transactions per run), and "same rows as Lablift": the same
  2 transactions writing exactly the rows Lablift writes (the run row with the same JSON text +
  its run.start audit row + the audit head setting, then its update + the run.finish audit row
  + the head), hashes, witnesses and JSON precomputed.
  The 2x target is checked against the last one: same rows, same commits per run.
- Lablift's recording is also timed with new artifact bytes every run (3 files written,
  fsynced and renamed, as a real `train` does); the main line reuses identical bytes, which
  are content-addressed and so deduplicated, and the floor and MLflow write no files.

Then recording a run with REAL artifacts, as a user's `train` does (tracking_real.py): the
three files of a real run trained here once (a random forest's fitted pipeline, ~1.1 MB
pickled; its holdout predictions, Parquet; its plot data, JSON), new bytes every run, so
each run writes 3 new files. Each contender in its own process, interleaved rounds, median:
- Lablift: record_start + record_finish with those bytes (--baseline APP: also another
  checkout's app/ folder, e.g. `git archive HEAD app | tar -x -C /tmp/before`).
- MLflow (this venv's mlflow if it imports, else benchmarks/_venvs/mlflow) on SQLite with a
  local artifact folder: MlflowClient (create_run, log_batch, log_artifacts, set_terminated)
  and the fluent API; its files are written before the clock (not counted).
- A reference: only the three files, one after another (sha256, write, fsync, rename); and
  the durable floor: the three written and fsynced at once, renamed, their folders fsynced
  at once (Lablift's file I/O without its hashing, claims and rows).
Ratios are also given paired by round (each round's ratio, then the median): under load the
rounds swing by 2x, and the contenders of one round share the machine's state.

Run: python benchmarks/bench_tracking.py [--runs 1000] [--sizes 1000 10000] [--skip-mlflow]
         [--rounds 7] [--round-runs 20] [--baseline APP] [--profile] [--quick]
--quick (for run_all.py, about a minute): 30 runs, listing 300, 5 rounds x 8 real runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
VENV = HERE / "_venvs" / "mlflow"
sys.path.insert(0, str(HERE))

import tracking_real  # noqa: E402

PARAMS = {f"param_{i}": (i * 3 if i % 2 else f"value_{i}") for i in range(10)}
METRICS = {"accuracy": 0.91, "f1": 0.88, "precision": 0.9, "recall": 0.86, "roc_auc": 0.95}


def run_spec(dataset_id: int) -> dict:
    return {"dataset_id": dataset_id, "target": "y", "features": ["a", "b", "c"],
            "algorithm": "random_forest", "params": PARAMS, "task": "classification",
            "test_size": 0.2, "cv": 5, "seed": 0, "sensitive": None, "classes": [0, 1]}


def run_result() -> dict:
    return {"status": "finished", "params": PARAMS,
            "metrics": {"holdout": METRICS, "cv": {}}, "predictions_sha256": "a" * 64,
            "pipeline_bytes": b"pipeline", "holdout_bytes": b"holdout", "plots_bytes": b"{}",
            "timings": {}, "folds": []}


def lablift_side(n_runs: int, sizes: list[int]) -> dict:
    from lablift.core import audit, training
    from lablift.core.store import Store, utcnow

    root = Path(tempfile.mkdtemp(prefix="bench_tracking_"))
    store = Store(root / "store", user="bench")
    with store.transaction():
        ds = store.insert("datasets", {
            "name": "bench", "version": 1, "sha256": "0" * 64, "artifact": "0" * 64,
            "rows": 1, "columns": 1, "schema": [], "profile": {}, "created_at": utcnow(),
            "created_by": "bench"})
        audit.append(store, "dataset.import", f"dataset:{ds}", {})  # witnessed, as import does
    prepared = SimpleNamespace(spec=run_spec(ds), notes=[])
    result = run_result()

    def record() -> None:
        # exactly what `train` does around compute(): record_start, then record_finish
        started = time.perf_counter()
        run_id = training.record_start(store, prepared)
        training.record_finish(store, run_id, result, started, prepared.notes)

    record()  # warm up (imports, first artifact files)
    t0 = time.perf_counter()
    for _ in range(n_runs):
        record()
    per_run = (time.perf_counter() - t0) / n_runs
    # The same, but each run brings new artifact bytes (a real run's pipeline and holdout
    # differ), so the three files are written, fsynced and renamed: the cost a real `train`
    # pays on top of the rows. Above, identical bytes are deduplicated after the warm-up.
    fresh_n = max(1, n_runs // 5)
    t0 = time.perf_counter()
    for i in range(fresh_n):
        tag = f"{i}-{time.perf_counter_ns()}".encode()
        fresh = dict(result, pipeline_bytes=b"pipeline" + tag, holdout_bytes=b"holdout" + tag,
                     plots_bytes=b"{}" + tag)
        started = time.perf_counter()
        run_id = training.record_start(store, prepared)
        training.record_finish(store, run_id, fresh, started, prepared.notes)
    fresh_per_run = (time.perf_counter() - t0) / fresh_n
    listing = {}
    for size in sorted(sizes):
        count = store.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        for _ in range(size - count):
            record()
        # (the warm-up run makes the store one run bigger: list the newest `size`, as MLflow does)
        listing[size] = best_of(lambda: training.list_runs(store, limit=size), 5)
        assert len(training.list_runs(store, limit=size)) == size
    store.close()
    return {"record_s": per_run, "record_fresh_s": fresh_per_run, "list_s": listing,
            "db": str(root)}


def floor_side(n_runs: int, sizes: list[int], template_db: str) -> dict:
    """Plain sqlite3: same schema (copied from a Lablift store), same final rows."""
    from lablift.core import training
    from lablift.core.store import Store, utcnow

    root = Path(tempfile.mkdtemp(prefix="bench_floor_"))
    store = Store(root / "store", user="bench")  # schema + WAL + synchronous=NORMAL
    store.close()
    conn = sqlite3.connect(root / "store" / "lineage.db", isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("INSERT INTO datasets (name, version, sha256, artifact, rows, columns, schema,"
                 " profile, created_at, created_by) VALUES ('b', 1, '', '', 1, 1, '[]', '{}',"
                 " '', 'bench')")
    env = json.dumps(training.environment())
    spec = json.dumps({"params": PARAMS, "target": "y", "features": ["a", "b", "c"]})
    row = (1, "finished", "classification", "random_forest", "y", spec, json.dumps(PARAMS),
           json.dumps({"holdout": METRICS, "cv": {}}),
           json.dumps({"pipeline": "p" * 64, "holdout": "h" * 64, "plots": "q" * 64}), env, 0,
           "a" * 64, "bench", utcnow(), utcnow(), utcnow(), 0.1, "host", 1)
    sql = ("INSERT INTO runs (dataset_id, status, task, algorithm, target, spec, params, metrics,"
           " artifacts, environment, seed, predictions_sha256, created_by, created_at,"
           " started_at, finished_at, duration_s, host, pid) VALUES "
           "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")

    t0 = time.perf_counter()
    conn.execute("BEGIN")
    for _ in range(n_runs):
        conn.execute(sql, row)
    conn.execute("COMMIT")
    batch = (time.perf_counter() - t0) / n_runs

    t0 = time.perf_counter()
    for _ in range(n_runs):  # one transaction per run, as a tracker must commit each run
        conn.execute("BEGIN")
        conn.execute(sql, row)
        conn.execute("COMMIT")
    each = (time.perf_counter() - t0) / n_runs
    # the same protocol as a tracker that survives a crash: insert 'running', update 'finished'
    upd = ("UPDATE runs SET status = ?, params = ?, metrics = ?, artifacts = ?, finished_at = ?,"
           " duration_s = ? WHERE id = ?")
    t0 = time.perf_counter()
    for _ in range(n_runs):
        conn.execute("BEGIN")
        rid = conn.execute(sql, (1, "running") + row[2:]).lastrowid
        conn.execute("COMMIT")
        conn.execute("BEGIN")
        conn.execute(upd, ("finished", row[6], row[7], row[8], utcnow(), 0.1, rid))
        conn.execute("COMMIT")
    two = (time.perf_counter() - t0) / n_runs

    # The same rows Lablift writes, with the same JSON text: the 'running' row (spec,
    # environment, details) plus its run.start audit row and the audit head setting in one
    # transaction; then its update plus the run.finish audit row and the head in a second.
    # Hashing, encoding and row witnesses are Lablift's work, so the floor gets them
    # precomputed: it is plain sqlite3 writing those rows.
    spec_d, res = run_spec(1), run_result()
    start_sql = ("INSERT INTO runs (dataset_id, sweep_id, reproduces, status, task, algorithm,"
                 " target, spec, params, seed, created_by, created_at, started_at, host, pid,"
                 " environment, details) VALUES (?,?,?,'running',?,?,?,?,?,?,?,?,?,?,?,?,?)")
    finish_sql = ("UPDATE runs SET status = ?, finished_at = ?, duration_s = ?, artifacts = ?,"
                  " params = ?, metrics = ?, predictions_sha256 = ?, details = ? WHERE id = ?")
    audit_sql = ("INSERT INTO audit_log (seq, ts, user, action, entity, details, prev_hash,"
                 " hash) VALUES (?,?,?,?,?,?,?,?)")
    head_sql = ("INSERT INTO settings (key, value) VALUES ('audit_head', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
    now = utcnow()
    start_row = (1, None, None, "classification", "random_forest", "y", json.dumps(spec_d),
                 json.dumps(PARAMS), 0, "bench", now, now, "host", 1, env,
                 json.dumps({"notes": []}))
    arts = json.dumps({"pipeline": "p" * 64, "holdout": "h" * 64, "plots": "q" * 64})
    details = json.dumps({"notes": [], "timings": {}, "cv_folds": []})
    witness = {f"runs:{1}": "c" * 64}
    audit_details = json.dumps({"predictions_sha256": "a" * 64, "status": "finished",
                                "witness": witness})
    start_details = json.dumps({"algorithm": "random_forest", "dataset": 1, "reproduces": None,
                                "sweep": None, "witness": witness})
    head = json.dumps({"seq": 1, "hash": "b" * 64})
    params_json, metrics_json = json.dumps(PARAMS), json.dumps(res["metrics"])
    seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetchone()[0]
    t0 = time.perf_counter()
    for _ in range(n_runs):
        conn.execute("BEGIN IMMEDIATE")
        rid = conn.execute(start_sql, start_row).lastrowid
        seq += 1
        conn.execute(audit_sql, (seq, now, "bench", "run.start", f"run:{rid}", start_details,
                                 "b" * 64, "b" * 64))
        conn.execute(head_sql, (head,))
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(finish_sql, ("finished", now, 0.1, arts, params_json, metrics_json,
                                  "a" * 64, details, rid))
        seq += 1
        conn.execute(audit_sql, (seq, now, "bench", "run.finish", f"run:{rid}", audit_details,
                                 "b" * 64, "b" * 64))
        conn.execute(head_sql, (head,))
        conn.execute("COMMIT")
    same = (time.perf_counter() - t0) / n_runs
    conn.execute("DELETE FROM runs")

    listing, listing_decoded = {}, {}
    cols = training.RUN_SUMMARY_COLUMNS
    for size in sorted(sizes):
        count = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        conn.execute("BEGIN")
        conn.executemany(sql, [row] * (size - count))
        conn.execute("COMMIT")
        q = f"SELECT {cols} FROM runs ORDER BY id DESC"
        listing[size] = best_of(lambda: conn.execute(q).fetchall(), 5)

        def decoded():
            out = []
            for r in conn.execute(q).fetchall():
                r = list(r)
                r[9], r[10] = json.loads(r[9]), json.loads(r[10])  # params, metrics
                out.append(r)
            return out
        listing_decoded[size] = best_of(decoded, 5)
    conn.close()
    shutil.rmtree(root, ignore_errors=True)
    return {"record_batch_s": batch, "record_each_s": each, "record_two_s": two,
            "record_same_s": same,
            "list_s": listing,
            "list_decoded_s": listing_decoded}


MLFLOW_SCRIPT = r"""
import json, logging, os, sys, time, warnings
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import mlflow
from mlflow.tracking import MlflowClient
n_runs, sizes, db = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
params, metrics = json.loads(sys.argv[4]), json.loads(sys.argv[5])
mlflow.set_tracking_uri(f"sqlite:///{db}")
exp = mlflow.set_experiment("bench")
client = MlflowClient()

def record():
    with mlflow.start_run():
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)

record()
t0 = time.perf_counter()
for _ in range(n_runs):
    record()
per_run = (time.perf_counter() - t0) / n_runs
listing = {}
done = n_runs + 1
for size in sorted(sizes):
    while done < size:
        record()
        done += 1
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        runs = client.search_runs([exp.experiment_id], max_results=size)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    assert len(runs) == size, len(runs)
    listing[size] = best
print(json.dumps({"record_s": per_run, "list_s": listing, "version": mlflow.__version__}))
"""


def _imports_mlflow(python: Path) -> bool:
    return python.exists() and subprocess.run(
        [str(python), "-c", "import mlflow.tracking, sqlalchemy"],
        capture_output=True).returncode == 0


def mlflow_python() -> tuple[Path | None, str]:
    """An interpreter that imports mlflow: this one, else benchmarks/_venvs/mlflow, else a
    new venv there (`pip install mlflow`; fails offline). (None, why) when there is none."""
    for python in (Path(sys.executable), VENV / "bin" / "python"):
        if _imports_mlflow(python):
            return python, ""
    print("creating", VENV, "with `pip install mlflow` (cached for next time) ...",
          file=sys.stderr)
    python = VENV / "bin" / "python"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "mlflow"], check=True,
                       timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"no MLflow here and `pip install mlflow` failed ({exc})"
    return (python, "") if _imports_mlflow(python) else (None, "mlflow does not import")


def mlflow_side(n_runs: int, sizes: list[int], python: Path) -> dict:
    db = Path(tempfile.mkdtemp(prefix="bench_mlflow_")) / "mlflow.db"
    out = subprocess.run([str(python), "-c", MLFLOW_SCRIPT, str(n_runs), json.dumps(sizes),
                          str(db), json.dumps(PARAMS), json.dumps(METRICS)],
                         capture_output=True, text=True, cwd=db.parent,
                         env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"})
    if out.returncode != 0:
        raise SystemExit(f"MLflow side failed:\n{out.stderr[-3000:]}")
    shutil.rmtree(db.parent, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(fn, repeat: int) -> float:
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--rounds", type=int, default=7,
                    help="interleaved rounds of recording with real artifacts")
    ap.add_argument("--round-runs", type=int, default=20, help="runs per contender per round")
    ap.add_argument("--real-rows", type=int, default=2000,
                    help="rows the real run is trained on (its pipeline: ~1.1 MB at 50 trees)")
    ap.add_argument("--real-trees", type=int, default=50)
    ap.add_argument("--skip-real", action="store_true", help="no real-artifact recording")
    ap.add_argument("--skip-lists", action="store_true",
                    help="only the real-artifact recording (not the first part)")
    ap.add_argument("--baseline", type=Path, metavar="APP",
                    help="also record real runs with this app/ folder, in the same rounds")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes for run_all.py: 30 runs, listing 300, 5 x 8 real")
    ap.add_argument("--profile", action="store_true",
                    help="also cProfile Lablift's recording with real artifacts")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.sizes, args.rounds, args.round_runs = 30, [300], 5, 8

    python, why = (None, "--skip-mlflow") if args.skip_mlflow else mlflow_python()
    real = None if args.skip_real else tracking_real.real_side(
        args, python, run_spec(0), PARAMS, METRICS)
    if not args.skip_lists:
        lists_part(args, python)
    if real:
        tracking_real.report(real, args.rounds, args.round_runs, why)


def lists_part(args, python: Path | None) -> None:
    ours = lablift_side(args.runs, args.sizes)
    floor = floor_side(args.runs, args.sizes, ours["db"])
    shutil.rmtree(ours["db"], ignore_errors=True)
    theirs = None if python is None else mlflow_side(args.runs, args.sizes, python)

    ms = 1000.0
    print(f"\nRecording a run (10 params, 5 metrics), mean of {args.runs} runs")
    print(f"{'':34}{'ms/run':>10}{'vs Lablift':>12}")
    rows = [("Lablift (record_start+finish)", ours["record_s"]),
            ("Lablift, 3 new artifact files/run", ours["record_fresh_s"])]
    if theirs:
        rows.append((f"MLflow {theirs['version']} (SQLite)", theirs["record_s"]))
    rows += [("floor: same rows as Lablift, 2 txn", floor["record_same_s"]),
             ("floor: insert+update, 2 txn/run", floor["record_two_s"]),
             ("floor: sqlite3, 1 txn per run", floor["record_each_s"]),
             ("floor: sqlite3, all in 1 txn", floor["record_batch_s"])]
    for name, s in rows:
        print(f"{name:34}{s * ms:10.3f}{s / ours['record_s']:11.2f}x")
    print("\nListing runs (best of repeats)")
    print(f"{'':34}" + "".join(f"{f'{n} runs (ms)':>16}" for n in sorted(args.sizes)))
    lrows = [("Lablift list_runs", ours["list_s"])]
    if theirs:
        lrows.append(("MLflow search_runs", {int(k): v for k, v in theirs["list_s"].items()}))
    lrows += [("floor: SELECT + json.loads", floor["list_decoded_s"]),
              ("floor: SELECT (raw tuples)", floor["list_s"])]
    for name, d in lrows:
        print(f"{name:34}" + "".join(f"{d[n] * ms:16.2f}" for n in sorted(args.sizes)))
    if theirs:
        print(f"\nLablift vs MLflow: recording {theirs['record_s'] / ours['record_s']:.0f}x faster; "
              + ", ".join(f"listing {n}: {theirs['list_s'][str(n)] / ours['list_s'][n]:.0f}x "
                          f"faster" for n in sorted(args.sizes)))
    print(f"Lablift vs floor: recording {ours['record_s'] / floor['record_same_s']:.2f}x "
          f"(same rows: run insert + audit row + head; update + audit row + head), "
          f"{ours['record_s'] / floor['record_two_s']:.2f}x "
          f"(insert+update), {ours['record_s'] / floor['record_each_s']:.2f}x "
          f"(1 txn per run), {ours['record_s'] / floor['record_batch_s']:.2f}x (batch); "
          + ", ".join(f"listing {n}: {ours['list_s'][n] / floor['list_decoded_s'][n]:.2f}x "
                      f"(decoded), {ours['list_s'][n] / floor['list_s'][n]:.2f}x (raw)"
                      for n in sorted(args.sizes)))


if __name__ == "__main__":
    main()
