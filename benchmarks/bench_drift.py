"""Drift benchmark: 100,000 reference rows x 100,000 current rows x 25 columns (20 numeric,
5 categorical) through lablift.core.drift against Evidently's DataDriftPreset on the same
frames in the same run (target: >= 10x faster and under 1 s on two cores).

Run: python benchmarks/bench_drift.py [--rows N] [--repeat K] [--no-evidently] [--no-whole]
                                     [--baseline APP]

Evidently needs pandas<3, so it runs from its own venv (benchmarks/_venvs/evidently, created
and cached on first use with `pip install evidently 'pandas<3' pyarrow`) as a subprocess that
reads the same Parquet files (benchmarks/_data/, git-ignored). Both sides time only the drift
computation on frames already in memory; file reading is excluded on both sides.

Then what a user waits for, whole processes from a CSV file to the verdict: `lablift monitor
ingest` of the current rows as CSV for a logistic regression trained on the reference rows
(a store made once under benchmarks/_data/, with one earlier ingest done, so the version's
reference summary and the exact ONNX form of its pipeline are what later ingests find: they
score with onnxruntime and import neither scikit-learn nor scipy.stats), the same ingest with
LABLIFT_SCORER=pickle (the fitted pipeline unpickled, as before the ONNX path), Evidently's
whole script (start, read both CSVs, report) and three floors: start and read the CSV with
pyarrow; start and import what the ONNX path needs (pandas, pyarrow, onnxruntime); start and
import what scoring a scikit-learn pipeline imports (numpy, pandas, pyarrow, scipy.stats,
sklearn). --baseline APP times another checkout's app/ folder in the same rounds (e.g.
`git archive HEAD app | tar -x -C /tmp/before`, then --baseline /tmp/before/app), with a
store of its own made by that checkout (its reference summary is its own).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
VENV = HERE / "_venvs" / "evidently"
N_NUM, N_CAT = 20, 5
SHIFTED_NUM = {f"num_{i}" for i in range(0, 20, 3)}  # 7 numeric columns shifted
SHIFTED_CAT = {"cat_0", "cat_3"}

EVIDENTLY_SCRIPT = r'''
import json, sys, time, warnings
import pandas as pd
warnings.filterwarnings("ignore")
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2]); repeat = int(sys.argv[3])
import evidently
times, flags = [], {}
try:  # Evidently >= 0.7
    from evidently import Report, Dataset, DataDefinition
    from evidently.presets import DataDriftPreset
    num = [c for c in ref.columns if c.startswith("num_")]
    cat = [c for c in ref.columns if c.startswith("cat_")]
    def run():
        dd = DataDefinition(numerical_columns=num, categorical_columns=cat)
        r = Dataset.from_pandas(ref, data_definition=dd)
        c = Dataset.from_pandas(cur, data_definition=dd)
        return Report([DataDriftPreset()]).run(current_data=c, reference_data=r)
    def read(snap):
        out = {}
        for m in snap.dict()["metrics"]:
            cfg = m.get("config", {})
            col = cfg.get("column")
            if cfg.get("type", "").endswith("ValueDrift") and col:
                thr = cfg.get("threshold")
                method = str(cfg.get("method", ""))
                v = m["value"]
                p_value = "p_value" in method or "p-value" in method
                out[col] = {"score": float(v), "method": method,
                            "drifted": bool((v <= thr) if p_value else (v >= thr))}
        return out
except ImportError:  # Evidently < 0.7
    from evidently.report import Report
    from evidently.metric_preset import DataDriftPreset
    def run():
        rep = Report(metrics=[DataDriftPreset()])
        rep.run(reference_data=ref, current_data=cur)
        return rep
    def read(rep):
        for m in rep.as_dict()["metrics"]:
            res = m["result"]
            if "drift_by_columns" in res:
                return {c: {"score": v["drift_score"], "method": v["stattest_name"],
                            "drifted": v["drift_detected"]}
                        for c, v in res["drift_by_columns"].items()}
        return {}
for _ in range(repeat):
    t0 = time.perf_counter(); snap = run(); times.append(time.perf_counter() - t0)
print(json.dumps({"version": evidently.__version__, "times": times, "columns": read(snap)}))
'''


EVIDENTLY_WHOLE_SCRIPT = r'''
import sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from evidently import Report, Dataset, DataDefinition
from evidently.presets import DataDriftPreset
ref = pd.read_csv(sys.argv[1]).drop(columns=["target"]); cur = pd.read_csv(sys.argv[2])
num = [c for c in ref.columns if c.startswith("num_")]
cat = [c for c in ref.columns if c.startswith("cat_")]
dd = DataDefinition(numerical_columns=num, categorical_columns=cat)
snap = Report([DataDriftPreset()]).run(current_data=Dataset.from_pandas(cur, data_definition=dd),
                                       reference_data=Dataset.from_pandas(ref, data_definition=dd))
print(snap.dict()["metrics"][0]["value"])
'''
FLOOR_SCRIPT = "import sys, pyarrow.csv; pyarrow.csv.read_csv(sys.argv[1])"
# what the ONNX path of `monitor ingest` needs at least
ONNX_FLOOR_SCRIPT = "import pandas, pyarrow.csv, pyarrow.parquet, onnxruntime"
# what any process scoring a scikit-learn pipeline imports (sklearn itself imports scipy.stats)
IMPORTS_FLOOR_SCRIPT = ("import pandas, pyarrow.csv, pyarrow.parquet, scipy.stats, "
                        "sklearn.pipeline, sklearn.compose, sklearn.linear_model, "
                        "sklearn.impute, sklearn.preprocessing")


def make_frames(rows: int) -> tuple[Path, Path]:
    ref_path = HERE / "_data" / f"drift_ref_{rows}.parquet"
    cur_path = HERE / "_data" / f"drift_cur_{rows}.parquet"
    if ref_path.exists() and cur_path.exists():
        return ref_path, cur_path
    ref_path.parent.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    cats = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
    base_p = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    moved_p = np.array([0.15, 0.15, 0.2, 0.2, 0.2, 0.1])

    def frame(shifted: bool) -> pd.DataFrame:
        d = {}
        for i in range(N_NUM):
            shift = 0.5 if shifted and f"num_{i}" in SHIFTED_NUM else 0.0
            scale = 1 + i
            if i % 4 == 1:  # some skewed columns
                d[f"num_{i}"] = rng.lognormal(shift, 0.7, rows) * scale
            else:
                d[f"num_{i}"] = rng.normal(i + shift * scale, scale, rows)
        for j in range(N_CAT):
            p = moved_p if shifted and f"cat_{j}" in SHIFTED_CAT else base_p
            d[f"cat_{j}"] = cats[rng.choice(len(cats), size=rows, p=p)]
        return pd.DataFrame(d)

    frame(False).to_parquet(ref_path)
    frame(True).to_parquet(cur_path)
    return ref_path, cur_path


def ensure_evidently() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "evidently", "pandas<3",
                        "pyarrow"], check=True)
    return python


def run_lablift(ref: pd.DataFrame, cur: pd.DataFrame, repeat: int) -> tuple[list[float], dict]:
    from lablift.core import drift
    kinds = {c: ("numeric" if c.startswith("num_") else "categorical") for c in ref.columns}
    times, result = [], None
    drift.dataset_drift(ref.head(2000), cur.head(2000), kinds=kinds)  # warm imports
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = drift.dataset_drift(ref, cur, kinds=kinds)
        times.append(time.perf_counter() - t0)
    return times, result


def _summary_format(app: Path) -> str:
    """The reference summary format of that checkout: a store's earlier ingest must have been
    made by code of the same format, or every timed ingest would summarise again."""
    text = (app / "lablift" / "core" / "monitoring" / "reference.py")
    for line in (text.read_text().splitlines() if text.exists() else []):
        if line.startswith("SUMMARY_FORMAT"):
            return line.split("=")[1].split("#")[0].strip()
    return "0"


def make_ingest_store(rows: int, ref_path: Path, cur_path: Path,
                      app: Path | None = None) -> tuple[Path, Path, Path]:
    """(store snapshot, reference CSV with a target, current CSV), made once per summary
    format (by `app`, default this checkout; a baseline gets a store of its own)."""
    app = APP if app is None else app
    base = HERE / "_data" / f"ingest_{rows}"
    if app != APP:
        tag = hashlib.sha256(str(app.resolve()).encode()).hexdigest()[:12]
        base = HERE / "_data" / f"ingest_{rows}_baseline_{tag}"
    store, ref_csv, cur_csv = base / "store", base / "reference.csv", base / "current.csv"
    ready = f"summary format {_summary_format(app)}"
    if (base / "ready").exists() and (base / "ready").read_text() == ready:
        return store, ref_csv, cur_csv
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    rng = np.random.default_rng(1)
    score = ref["num_0"] + ref["num_3"] / 4 + (ref["cat_1"] == "alpha") + rng.normal(0, 1, rows)
    ref.assign(target=(score > score.median()).astype(int)).to_csv(ref_csv, index=False)
    cur.to_csv(cur_csv, index=False)
    warm = base / "earlier_batch.csv"
    cur.sample(n=min(rows, 5000), random_state=0).to_csv(warm, index=False)
    print(f"making {store} (once): import, train, register, one earlier ingest ...",
          file=sys.stderr)
    for argv in (["dataset", "import", str(ref_csv), "--name", "drift_ref"],
                 ["train", "--dataset", "drift_ref", "--target", "target", "--algorithm",
                  "logistic_regression", "--cv", "0"],
                 ["model", "register", "1", "--name", "drift"],
                 ["monitor", "ingest", "drift:1", str(warm)]):
        subprocess.run(lablift_argv(app, store) + argv, env=app_env(app), check=True,
                       stdout=subprocess.DEVNULL)
    (base / "ready").write_text(ready)
    return store, ref_csv, cur_csv


APP = HERE.parent / "app"


def app_env(app: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(app)}


def lablift_argv(app: Path, store: Path) -> list[str]:
    return [sys.executable, "-m", "lablift.cli", "--store", str(store), "--user", "ana"]


def whole_process(args, ref_path: Path, cur_path: Path) -> None:
    snapshot, ref_csv, cur_csv = make_ingest_store(args.rows, ref_path, cur_path)
    evidently = None if args.no_evidently else (VENV / "bin" / "python")
    # name: (argv, app folder or None, store snapshot or None, extra environment)
    cases = {"floor: start + pyarrow read_csv": ([sys.executable, "-c", FLOOR_SCRIPT,
                                                   str(cur_csv)], None, None, {}),
             "floor: start + pandas, pyarrow, onnxruntime": (
                 [sys.executable, "-c", ONNX_FLOOR_SCRIPT], None, None, {}),
             "floor: start + a sklearn scorer's imports": (
                 [sys.executable, "-c", IMPORTS_FLOOR_SCRIPT], None, None, {})}
    apps = [("lablift monitor ingest", APP, snapshot, {}),
            ("lablift ingest, LABLIFT_SCORER=pickle", APP, snapshot,
             {"LABLIFT_SCORER": "pickle"})]
    if args.baseline:
        apps.append(("baseline monitor ingest", args.baseline,
                     make_ingest_store(args.rows, ref_path, cur_path, args.baseline)[0], {}))
    for label, app, store, extra in apps:
        argv = lablift_argv(app, Path("STORE")) + ["monitor", "ingest", "drift:1", str(cur_csv),
                                                    "--json"]
        cases[label] = (argv, app, store, extra)
    if evidently is not None and evidently.exists():
        cases["Evidently whole script"] = ([str(evidently), "-c", EVIDENTLY_WHOLE_SCRIPT,
                                            str(ref_csv), str(cur_csv)], None, None, {})
    times: dict[str, list[float]] = {k: [] for k in cases}
    verdicts: dict[str, str] = {}
    rounds = max(3, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):  # interleaved: load from other work hits every case alike
            for name, (argv, app, store, extra) in cases.items():
                if store is not None:  # a fresh copy: the same content may be ingested again
                    target = Path(tmp) / "store"
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.copytree(store, target)
                    argv = [str(target) if a == "STORE" else a for a in argv]
                t0 = time.perf_counter()
                proc = subprocess.run(argv, env={**app_env(app), **extra} if app else None,
                                      capture_output=True, text=True)
                times[name].append(time.perf_counter() - t0)
                if proc.returncode != 0:
                    raise SystemExit(f"{name} failed: {proc.stderr[-2000:]}")
                if store is not None:
                    b = json.loads(proc.stdout)
                    verdicts[name] = (f"{b['n_drifted']} of {b['n_columns']} drifted, dataset "
                                      f"drift {b['dataset_drift']}, prediction drift "
                                      f"{(b.get('prediction_drift') or {}).get('statistic')}"
                                      f", scorer {(b.get('scorer') or {}).get('kind', '?')}")
    print(f"whole processes, CSV file ({args.rows:,} rows x 25 columns) to verdict: median "
          f"(min-max) of {rounds} interleaved rounds")
    for name, ts in times.items():
        print(f"  {name:<44} {statistics.median(ts):6.2f} s  ({min(ts):.2f}-{max(ts):.2f})"
              + (f"  {verdicts[name]}" if name in verdicts else ""))
    ours = statistics.median(times["lablift monitor ingest"])
    for name in ("lablift ingest, LABLIFT_SCORER=pickle", "baseline monitor ingest",
                 "Evidently whole script"):
        if name in times:
            print(f"  {name} / lablift: {statistics.median(times[name]) / ours:.1f}x")
    floor = statistics.median(times["floor: start + pandas, pyarrow, onnxruntime"])
    print(f"  lablift / its floor (start + pandas, pyarrow, onnxruntime): {ours / floor:.1f}x")
    if "Evidently whole script" not in times:
        print("  (Evidently is not installed here: no same-run peer figure)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-evidently", action="store_true")
    ap.add_argument("--no-whole", action="store_true", help="skip the whole-process ingest")
    ap.add_argument("--baseline", type=Path, metavar="APP",
                    help="also time `monitor ingest` from this app/ folder")
    args = ap.parse_args()
    ref_path, cur_path = make_frames(args.rows)
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    print(f"{args.rows:,} reference x {args.rows:,} current rows x {ref.shape[1]} columns "
          f"({N_NUM} numeric, {N_CAT} categorical); {os.cpu_count()} CPUs")
    ours, result = run_lablift(ref, cur, args.repeat)
    flagged = {c["name"] for c in result["columns"] if c["drifted"]}
    expected = SHIFTED_NUM | SHIFTED_CAT
    print(f"lablift drift: median {statistics.median(ours):.3f} s, best {min(ours):.3f} s "
          f"over {args.repeat} runs; flagged {len(flagged)} columns "
          f"({'exactly the shifted ones' if flagged == expected else sorted(flagged)}), "
          f"drift share {result['drift_share']:.2f}")
    if not args.no_evidently:
        in_memory_evidently(args, ref_path, cur_path, ours, result)
    if not args.no_whole:
        whole_process(args, ref_path, cur_path)


def in_memory_evidently(args, ref_path: Path, cur_path: Path, ours: list[float],
                        result: dict) -> None:
    python = ensure_evidently()
    proc = subprocess.run([str(python), "-c", EVIDENTLY_SCRIPT, str(ref_path), str(cur_path),
                           str(max(1, min(args.repeat, 3)))],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit("Evidently run failed")
    evi = json.loads(proc.stdout.strip().splitlines()[-1])
    theirs = evi["times"]
    print(f"Evidently {evi['version']} DataDriftPreset: median {statistics.median(theirs):.3f} s, "
          f"best {min(theirs):.3f} s over {len(theirs)} runs")
    print(f"speed-up (median/median): {statistics.median(theirs) / statistics.median(ours):.1f}x")
    cols = evi["columns"]
    if cols:
        agree = sum(1 for c in result["columns"]
                    if c["name"] in cols and bool(cols[c["name"]]["drifted"]) == c["drifted"])
        print(f"per-column drift verdicts agree with Evidently on {agree} of "
              f"{len(result['columns'])} columns")
        worst = 0.0
        for c in result["columns"]:
            e = cols.get(c["name"])
            if e is not None and c["statistic"] is not None:
                worst = max(worst, abs(float(e["score"]) - c["statistic"]))
        print(f"largest |statistic difference| vs Evidently: {worst:.2e}")


if __name__ == "__main__":
    main()
