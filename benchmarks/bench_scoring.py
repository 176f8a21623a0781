"""Scoring benchmarks for exported bundles (run by hand; prints a table, writes JSON).

    /work/venv/bin/python benchmarks/bench_scoring.py [--rows 100000] [--requests 2000]
                                                      [--trees 100] [--no-mlflow]
                                                      [--batch-only]

1. Batch (--batch-only: this part alone): `python serve.py predict` on N rows (a fresh
   process: integrity check, load, read, validate, score, write), with the ONNX fast path
   (model.onnx on onnxruntime) and with the pickle (LABLIFT_SCORER=pickle), against the
   fitted pipeline's `predict` called directly, (a) in-process on the DataFrame already in
   memory, (b) in-process with the file I/O (read_csv, predict, to_csv) and (c) as that
   plain script in a fresh process. Five rounds, the contenders alternated within each;
   medians (and each round's ONNX / in-process ratio, same load).
2. HTTP: single-row latency p50/p99 over R sequential requests on loopback (keep-alive
   client, `dataframe_split` JSON), serve.py with ONNX and with the pickle against `mlflow
   models serve --env-manager local` on the same bundle, beside in-process single-row
   `predict`. Requests go to the contenders in turn (same machine load for all), and each
   server's CPU time per request is read from /proc: on a shared machine wall latency
   follows the load, CPU time does not. A second run on a logistic regression shows each
   server's fixed per-request overhead.
3. Start time: process start until /ping answers 200, both servers.

The bundle is a random forest on the sample loan data, exported through Lablift (trained,
registered, approved by a second user). Full MLflow lives in its own venv under
benchmarks/_venvs/mlflow (created on first use, pinned to this venv's scikit-learn, numpy,
pandas and scipy so it unpickles the same model); data and results go to benchmarks/_data/.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
VENVS = HERE / "_venvs"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_bundle(work: Path, algorithm: str, params: dict) -> tuple[Path, dict]:
    from lablift.core import bundles, datasets, registry, training
    from lablift.core.store import Store
    from lablift.resources import SAMPLE_LOANS
    store_dir = work / "store"
    admin = Store(store_dir, user="admin")
    admin.add_user("reviewer", "reviewer")
    datasets.import_dataset(admin, SAMPLE_LOANS, name="loans")
    run = training.train(admin, {"dataset": "loans", "target": "approved",
                                 "algorithm": algorithm, "params": params, "cv": 2})
    registry.register(admin, run["id"], "loans")
    registry.approve(Store(store_dir, user="reviewer"), "loans:1", comment="benchmark")
    out = work / "bundle"
    bundles.export(admin, "loans:1", out)
    frame = datasets.load_frame(admin, datasets.resolve(admin, "loans"))
    return out, {"run": run, "frame": frame}


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def load_runtime(bundle: Path):
    """The bundle's own serve.py as a module (not Lablift's copy)."""
    import importlib.util
    sys.dont_write_bytecode = True  # a __pycache__/ in the bundle would count as tampering
    spec = importlib.util.spec_from_file_location("bundle_serve", bundle / "serve.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bundle_serve"] = mod  # serve.py loads its sibling modules through it
    spec.loader.exec_module(mod)
    return mod


def run_proc(cmd, cwd=None, env=None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


DIRECT_SCRIPT = """
import pickle, sys
import pandas as pd
model = pickle.load(open(sys.argv[1], "rb"))
X = pd.read_csv(sys.argv[2])
pd.DataFrame({"prediction": model.predict(X)}).to_csv(sys.argv[3], index=False)
"""


def bench_batch(bundle: Path, frame: pd.DataFrame, features: list[str], rows: int,
                work: Path) -> dict:
    import pickle
    rng = np.random.default_rng(0)
    X = frame[features].iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
    src = work / f"batch_{rows}.csv"
    X.to_csv(src, index=False)
    model = pickle.loads((bundle / "model.pkl").read_bytes())
    X_mem = pd.read_csv(src)
    log(f"batch: {rows} rows")
    out = work / "out.csv"
    # The scorer's own path in-process (no interpreter start): read, validate, score with
    # probabilities, write; against predict on the DataFrame already in memory.
    runtime = load_runtime(bundle)
    runtime.verify_bundle(bundle)  # its sibling modules run only once the bundle is verified
    scorer = runtime.runtime_module("scoring").Scorer(bundle)

    def scorer_path():
        frame_, _ = scorer.frame_from_dataframe(scorer.read_csv(src))
        pred, proba = scorer.score(frame_, want_proba=True)
        res = pd.DataFrame({"prediction": pred})
        for i, col in enumerate(scorer.proba_columns()):
            res[col] = proba[:, i]
        res.to_csv(work / "out_inproc.csv", index=False)

    def inproc_io():  # the plain script's work without the interpreter start
        X_ = pd.read_csv(src)
        pd.DataFrame({"prediction": model.predict(X_)}).to_csv(work / "out_direct.csv",
                                                               index=False)

    onnx = scorer.kind == "onnx"
    envs = {"onnx": {**os.environ, "LABLIFT_SCORER": "onnx"},
            "pickle": {**os.environ, "LABLIFT_SCORER": "pickle"}}
    # Alternate the contenders, five rounds, and take each one's median: the machine is
    # shared and its load changes by the second, so back-to-back blocks would compare
    # different loads (the best of the five is kept too).
    # The floors of a whole process on the ONNX path: start Python and import what any ONNX
    # scorer must (numpy, onnxruntime), and what serve.py also uses to read CSV (pandas);
    # added to the in-process work they are the best a new process can do.
    names = ["inproc", "io", "path", "script", "serve"] + (
        ["onnx", "start", "start_pd"] if onnx else [])
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(5):
        times["inproc"].append(timed(lambda: model.predict(X_mem), 1))
        times["io"].append(timed(inproc_io, 1))
        times["path"].append(timed(scorer_path, 1))
        times["script"].append(run_proc([sys.executable, "-c", DIRECT_SCRIPT,
                                         str(bundle / "model.pkl"), str(src), str(out)]))
        times["serve"].append(run_proc([sys.executable, "-I", "serve.py", "predict", str(src),
                                        "-o", str(out)], cwd=bundle, env=envs["pickle"]))
        if onnx:
            times["onnx"].append(run_proc([sys.executable, "-I", "serve.py", "predict",
                                           str(src), "-o", str(work / "out_onnx.csv")],
                                          cwd=bundle, env=envs["onnx"]))
            times["start"].append(run_proc([sys.executable, "-I", "-c",
                                            "import numpy, onnxruntime"]))
            times["start_pd"].append(run_proc([sys.executable, "-I", "-c",
                                               "import numpy, pandas, onnxruntime"]))
    med = {n: statistics.median(v) for n, v in times.items()}
    t_inproc, t_io, t_path, t_script, t_serve = (med[n] for n in names[:5])
    got = pd.read_csv(out)["prediction"].to_numpy()
    assert (got == model.predict(X_mem)).all(), "serve.py predictions differ"
    result = {"rows": rows, "scorer_path": scorer.kind, "statistic": "median of 5, alternated",
              "all_runs_s": times, "best_s": {n: min(v) for n, v in times.items()},
              "inprocess_predict_s": t_inproc,
              "inprocess_predict_with_io_s": t_io, "direct_script_s": t_script,
              "serve_py_predict_s": t_serve, "scorer_path_inprocess_s": t_path,
              "ratio_scorer_path_vs_inprocess_predict": t_path / t_inproc,
              "ratio_vs_direct_script": t_serve / t_script,
              "ratio_vs_inprocess_predict": t_serve / t_inproc,
              "ratio_vs_inprocess_with_io": t_serve / t_io}
    if onnx:
        t_onnx = med["onnx"]
        got = pd.read_csv(work / "out_onnx.csv")["prediction"].to_numpy()
        assert (got == model.predict(X_mem)).all(), "serve.py's ONNX predictions differ"
        # per round, against the in-process run of the same round (same load)
        per_round = [o / i for o, i in zip(times["onnx"], times["io"])]
        result.update({"serve_py_onnx_predict_s": t_onnx,
                       "ratio_onnx_vs_inprocess_with_io": t_onnx / t_io,
                       "ratio_onnx_vs_inprocess_with_io_per_round": per_round,
                       "ratio_onnx_vs_direct_script": t_onnx / t_script,
                       "start_and_imports_s": med["start"],
                       "floor_ratio_vs_inprocess_with_io": (t_io + med["start"]) / t_io,
                       "start_and_imports_with_pandas_s": med["start_pd"],
                       "floor_with_pandas_ratio_vs_inprocess_with_io":
                           (t_io + med["start_pd"]) / t_io})
    return result


def wait_ping(port: int, proc, timeout: float = 120) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError("server did not answer /ping")


def start(cmd, port: int, cwd=None, env=None) -> tuple[subprocess.Popen, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    return proc, wait_ping(port, proc) - t0


def stop(proc) -> None:
    import signal
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # mlflow serve spawns uvicorn workers
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def post(conn, body: bytes, expected) -> float:
    t = time.perf_counter()
    conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.perf_counter() - t
    if resp.status != 200 or json.loads(data)["predictions"] != [expected]:
        raise RuntimeError(f"bad answer {resp.status}: {data[:200]!r}")
    return elapsed


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every live process of a process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def interleaved(targets: dict, bodies: list[bytes], frames: list, expected: list) -> dict:
    """Request i goes to every target in turn (order rotated), so that both servers and the
    in-process call see the same machine load: this box is shared and its load varies."""
    names = list(targets)
    out = {n: [] for n in names}
    for i, (body, frame, exp) in enumerate(zip(bodies, frames, expected)):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            target = targets[name]
            if callable(target):
                t, c = time.perf_counter(), time.thread_time()
                target(frame)
                out[name].append(time.perf_counter() - t)
                out.setdefault(name + "_cpu", []).append(time.thread_time() - c)
            else:
                out[name].append(post(target, body, exp))
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def mlflow_venv() -> Path | None:
    venv = VENVS / "mlflow"
    exe = venv / "bin" / "mlflow"
    if exe.exists():
        return exe
    log("creating benchmarks/_venvs/mlflow (full mlflow; a few minutes)...")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pins = [f"{p}=={importlib.metadata.version(p)}"
            for p in ("scikit-learn", "numpy", "pandas", "scipy")]
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "mlflow", *pins], check=True)
    return exe if exe.exists() else None


def bench_http(bundle: Path, frame: pd.DataFrame, features: list[str], n: int,
               with_mlflow: bool) -> dict:
    import pickle
    model = pickle.loads((bundle / "model.pkl").read_bytes())
    rng = np.random.default_rng(1)
    rows = frame[features].iloc[rng.integers(0, len(frame), n)].reset_index(drop=True)
    split = json.loads(rows.to_json(orient="split", index=False))
    bodies = [json.dumps({"dataframe_split": {"columns": split["columns"], "data": [r]}}).encode()
              for r in split["data"]]
    frames = [rows.iloc[[i]] for i in range(n)]  # in-process reference: one-row DataFrames
    expected = model.predict(rows).tolist()
    # A fresh port for every start: a stopping server's children may still hold the old one.
    def serve_cmd(port):
        return [sys.executable, "-I", "serve.py", "serve", "--port", str(port)]

    # serve.py twice on the same bundle: its ONNX fast path (when the export shipped one)
    # and the pickle (LABLIFT_SCORER=pickle)
    kinds = {"serve_py": "pickle"}
    if (bundle / "model.onnx").is_file():  # "serve_py": what ops get by default
        kinds = {"serve_py": "onnx", "serve_py_pickle": "pickle"}
    result: dict = {"requests": n, "serve_py_kinds": kinds}
    procs, targets = [], {"inprocess": model.predict}
    try:
        for name, kind in kinds.items():
            env = {**os.environ, "LABLIFT_SCORER": kind}
            starts = []
            for _ in range(3):
                port = free_port()
                proc, startup = start(serve_cmd(port), port, cwd=bundle, env=env)
                starts.append(startup)
                stop(proc)
            result[name] = {"start_s": statistics.median(starts)}
            port = free_port()
            proc, _ = start(serve_cmd(port), port, cwd=bundle, env=env)
            procs.append(proc)
            targets[name] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        if with_mlflow:
            exe = mlflow_venv()
            env = {**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
                   # mlflow starts `uvicorn` through the shell: its venv must be on PATH
                   "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                   "MLFLOW_TRACKING_URI": (DATA / "mlruns").as_uri()}

            def cmd(port):
                return [str(exe), "models", "serve", "-m", str(bundle), "--env-manager",
                        "local", "-p", str(port), "-h", "127.0.0.1", "-w", "1"]

            mstarts = []
            for _ in range(2):
                mport = free_port()
                p, startup = start(cmd(mport), mport, env=env, cwd=tempfile.gettempdir())
                mstarts.append(startup)
                stop(p)
            mport = free_port()
            p, _ = start(cmd(mport), mport, env=env, cwd=tempfile.gettempdir())
            procs.append(p)
            targets["mlflow"] = http.client.HTTPConnection("127.0.0.1", mport, timeout=30)
            ver = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout
            result["mlflow"] = {"start_s": statistics.median(mstarts), "version": ver.strip()}
        log(f"http: {n} sequential single-row requests to each of {', '.join(targets)}")
        interleaved(targets, bodies[:50], frames[:50], expected[:50])  # warm-up
        # CPU time per request does not depend on how busy the (shared) machine is
        cpu0 = [group_cpu_s(p.pid) for p in procs]
        lat = interleaved(targets, bodies, frames, expected)
        cpu = [(group_cpu_s(p.pid) - c0) * 1000.0 / n for p, c0 in zip(procs, cpu0)]
    finally:
        for p in procs:
            stop(p)
    result["inprocess_predict_ms"] = {"p50": pct(lat["inprocess"], 50),
                                      "p99": pct(lat["inprocess"], 99),
                                      "cpu_mean": float(np.mean(lat["inprocess_cpu"]) * 1000)}
    for i, name in enumerate([*kinds, "mlflow"]):
        if name in lat:
            result[name].update({"p50_ms": pct(lat[name], 50), "p99_ms": pct(lat[name], 99),
                                 "server_cpu_ms_per_request": cpu[i]})
    if "mlflow" in lat:
        for name in kinds:
            result[f"p50_ratio_{name}_vs_mlflow"] = (result[name]["p50_ms"]
                                                     / result["mlflow"]["p50_ms"])
    return result


def report_http(label: str, h: dict) -> None:
    print(f"HTTP single row, {label} ({h['requests']} sequential requests each, interleaved):")
    print(f"  in-process predict     p50 {h['inprocess_predict_ms']['p50']:6.2f} ms  "
          f"p99 {h['inprocess_predict_ms']['p99']:6.2f} ms  CPU "
          f"{h['inprocess_predict_ms']['cpu_mean']:.2f} ms per call")
    for name, kind in h["serve_py_kinds"].items():
        s = h[name]
        ratio = (f"  = {h[f'p50_ratio_{name}_vs_mlflow']:.2f} x MLflow"
                 if f"p50_ratio_{name}_vs_mlflow" in h else "")
        label = "serve.py" if name == "serve_py" else f"serve.py ({kind})"
        print(f"  {label:22s} p50 {s['p50_ms']:6.2f} ms  "
              f"p99 {s['p99_ms']:6.2f} ms  start {s['start_s']:.2f} s  "
              f"(p50 - in-process p50: {s['p50_ms'] - h['inprocess_predict_ms']['p50']:+.2f}"
              f" ms)  server CPU {s['server_cpu_ms_per_request']:.2f} ms per request{ratio}"
              f"  [{kind} scorer]")
    if "mlflow" in h:
        print(f"  mlflow models serve    p50 {h['mlflow']['p50_ms']:6.2f} ms  "
              f"p99 {h['mlflow']['p99_ms']:6.2f} ms  start {h['mlflow']['start_s']:.2f} s  "
              f"({h['mlflow']['version']})  server CPU "
              f"{h['mlflow']['server_cpu_ms_per_request']:.2f} ms per request")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--no-mlflow", action="store_true")
    ap.add_argument("--batch-only", action="store_true",
                    help="only the batch part (serve.py predict against in-process)")
    ap.add_argument("--no-linear", action="store_true",
                    help="skip the second HTTP run on a logistic regression (fixed overhead)")
    ap.add_argument("--quick", action="store_true", help="small sizes (run_all.py): 20,000 "
                    "rows, 300 requests, 50 trees, no logistic-regression run")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.requests, args.trees, args.no_linear = 20_000, 300, 50, True
    DATA.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_scoring_", dir=DATA))
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "platform": platform.platform()}}
    try:
        log("exporting a random forest bundle...")
        bundle, info = make_bundle(work / "forest", "random_forest",
                                   {"n_estimators": args.trees})
        features = info["run"]["spec"]["features"]
        results["batch"] = bench_batch(bundle, info["frame"], features, args.rows, work)
        if not args.batch_only:
            results["http_forest"] = bench_http(bundle, info["frame"], features,
                                                args.requests, not args.no_mlflow)
        if not args.no_linear and not args.batch_only:
            # A fast model makes each server's own per-request overhead visible.
            log("exporting a logistic regression bundle...")
            bundle, info = make_bundle(work / "linear", "logistic_regression", {})
            results["http_linear"] = bench_http(bundle, info["frame"], features, args.requests,
                                                not args.no_mlflow)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_average_after"] = os.getloadavg()
    (DATA / "bench_scoring.json").write_text(json.dumps(results, indent=2))
    b = results["batch"]
    print(f"batch {b['rows']} rows, random forest ({args.trees} trees), median of 5, "
          f"alternated:")
    if "serve_py_onnx_predict_s" in b:  # the default scorer, so the line run_all.py reads
        print(f"  serve.py predict (new process)  {b['serve_py_onnx_predict_s']:.2f} s   "
              f"[onnx scorer] = x{b['ratio_onnx_vs_inprocess_with_io']:.2f} in-process "
              f"predict + file I/O, x{b['ratio_onnx_vs_direct_script']:.2f} direct script")
        print(f"  serve.py predict, pickle        {b['serve_py_predict_s']:.2f} s   "
              f"= x{b['ratio_vs_inprocess_with_io']:.2f} in-process predict + file I/O")
    else:
        print(f"  serve.py predict (new process)  {b['serve_py_predict_s']:.2f} s   [pickle "
              f"scorer] = x{b['ratio_vs_inprocess_with_io']:.2f} in-process predict + file I/O")
    print(f"  direct script (new process)     {b['direct_script_s']:.2f} s   serve.py (pickle) = "
          f"x{b['ratio_vs_direct_script']:.2f}")
    print(f"  in-process predict + file I/O   {b['inprocess_predict_with_io_s']:.2f} s")
    print(f"  in-process predict (in memory)  {b['inprocess_predict_s']:.2f} s   serve.py (pickle) "
          f"= x{b['ratio_vs_inprocess_predict']:.2f}")
    print(f"  scorer path in-process ({b['scorer_path']})   {b['scorer_path_inprocess_s']:.2f} s   = "
          f"x{b['ratio_scorer_path_vs_inprocess_predict']:.2f} in-process predict "
          f"(read, validate, score + probabilities, write; no interpreter start)")
    if "start_and_imports_s" in b:
        print(f"  floor: start + import numpy, onnxruntime {b['start_and_imports_s']:.2f} s; "
              f"in-process + that = x{b['floor_ratio_vs_inprocess_with_io']:.2f}")
        print(f"  floor with pandas (serve.py reads CSV with it) "
              f"{b['start_and_imports_with_pandas_s']:.2f} s; in-process + that = "
              f"x{b['floor_with_pandas_ratio_vs_inprocess_with_io']:.2f}")
    if "ratio_onnx_vs_inprocess_with_io_per_round" in b:
        print("  onnx / in-process + I/O, per round: " + ", ".join(
            f"{r:.2f}" for r in b["ratio_onnx_vs_inprocess_with_io_per_round"]))
    if "http_forest" in results:
        report_http(f"random forest ({args.trees} trees)", results["http_forest"])
    if "http_linear" in results:
        report_http("logistic regression", results["http_linear"])
    print(f"load average after the run: "
          f"{', '.join(f'{x:.1f}' for x in results['machine']['load_average_after'])} on "
          f"{os.cpu_count()} CPUs (details: {DATA / 'bench_scoring.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
