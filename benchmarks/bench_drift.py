"""Drift benchmark: 100,000 reference rows x 100,000 current rows x 25 columns (20 numeric,
5 categorical) through lablift.core.drift against Evidently's DataDriftPreset on the same
frames in the same run (target: >= 10x faster and under 1 s on two cores).

Run: python benchmarks/bench_drift.py [--rows N] [--repeat K] [--no-evidently]

Evidently needs pandas<3, so it runs from its own venv (benchmarks/_venvs/evidently, created
and cached on first use with `pip install evidently 'pandas<3' pyarrow`) as a subprocess that
reads the same Parquet files (benchmarks/_data/, git-ignored). Both sides time only the drift
computation on frames already in memory; file reading is excluded on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-evidently", action="store_true")
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
    if args.no_evidently:
        return
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
