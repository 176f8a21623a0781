"""Every benchmark in benchmarks/, one after another, then ONE table for a human: work,
Lablift, peer, ratio, target, met? Not a CI gate: the figures come from a shared machine.

    PYTHONPATH=app python benchmarks/run_all.py --quick [--only NAME ...] [--skip NAME ...]

--quick runs each script at a small size that still means something (its own --quick; a
script without one yet gets the small arguments in FALLBACK), a few minutes in all; without
it every script runs at its full size (an hour or more). Each script is its own process,
its whole output kept in benchmarks/_data/run_all/NAME.txt; the table's figures are read
from that output. A peer that cannot run here (no venv for it and no network to make one,
no PostgreSQL) makes its row say so instead of failing; a script that fails, or runs past
its time limit, gets a row saying that, and the others still run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOGS = HERE / "_data" / "run_all"
VENVS = HERE / "_venvs"

# Small arguments for the scripts that have no --quick of their own (yet).
FALLBACK = {
    "bench_cli_start": ["--rounds", "3"],
    "bench_drift": ["--repeat", "3"],
    "bench_import": ["--repeat", "2"],
    "bench_runs_table": ["--runs", "10000", "--rounds", "1"],
    "bench_run_list": ["--rounds", "2"],
}
ORDER = ("bench_tracking", "bench_import", "bench_cli_start", "bench_gui_start", "bench_drift",
         "bench_training", "bench_sweep", "bench_fairness", "bench_scoring", "bench_team",
         "bench_copy",
         "bench_gui_stall", "bench_runs_table", "bench_run_list", "gui_datasets_1m")


@dataclass
class Row:
    work: str
    lablift: str = "-"
    peer: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: str = "-"


# ------------------------------------------------------------------ reading the outputs

def num(pattern: str, text: str, group: int = 1) -> float | None:
    m = re.search(pattern, text, re.M)
    return float(m.group(group).replace(",", "")) if m else None


def faster(peer: float | None, ours: float | None) -> str:
    """peer time / Lablift time, in words."""
    if not peer or not ours:
        return "-"
    r = peer / ours
    return f"{r:.1f}x faster" if r >= 1 else f"{1 / r:.2f}x slower"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def s(x: float | None, unit: str = "s", digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f} {unit}"


def read_tracking(out: str) -> list[Row]:
    rows = []
    ours, ml = num(r"^Lablift \(record_start\+finish\)\s+([\d.]+)", out), \
        num(r"^MLflow [\d.]+ \(SQLite\)\s+([\d.]+)", out)
    rows.append(Row("record a run (10 params, 5 metrics)", s(ours, "ms", 3),
                    f"MLflow {s(ml, 'ms', 1)}" if ml else "MLflow: not measured",
                    faster(ml, ours), ">= 50x faster",
                    verdict(ml / ours >= 50 if ml and ours else None)))
    m = re.search(r"^record with real artifacts: Lablift ([\d.]+) ms(?:, MLflow ([\d.]+) ms)?"
                  r"(?:.*?; MLflow not measured: (.*))?", out, re.M)
    if m:
        ours, ml = float(m.group(1)), m.group(2) and float(m.group(2))
        rows.append(Row("record a run, real artifacts (1.1 MB pipeline + 3 new files)",
                        s(ours, "ms"), f"MLflow {s(ml, 'ms', 1)}" if ml
                        else f"MLflow: not measured ({m.group(3)})", faster(ml, ours),
                        ">= 10x faster", verdict(ml / ours >= 10 if ml else None)))
    size = num(r"^Listing runs.*\n\s+(\d+) runs", out)
    ours = num(r"^Lablift list_runs\s+([\d.]+)", out)
    ml = num(r"^MLflow search_runs\s+([\d.]+)", out)
    floor = num(r"^floor: SELECT \+ json.loads\s+([\d.]+)", out)
    if ours:
        rows.append(Row(f"list {size or '?':.0f} runs", s(ours, "ms", 1),
                        f"MLflow {s(ml, 'ms', 0)}; floor {s(floor, 'ms', 1)}",
                        faster(ml, ours), "<= 2x the floor",
                        verdict(ours <= 2 * floor if floor else None)))
    return rows


def read_import(out: str) -> list[Row]:
    ours = num(r"lablift import \(total\)\s+median\s+([\d.]+)", out)
    pandas = num(r"pandas.read_csv\s+median\s+([\d.]+)", out)
    target = num(r"ratio lablift/pandas.*target <= ([\d.]+)x", out) or 2.5
    rows_ = num(r"^file: \S+ \(([\d,]+) rows", out)
    ratio = ours / pandas if ours and pandas else None
    return [Row(f"import {rows_ or 0:,.0f} x 20 CSV (parse, hash, profile, Parquet, record)",
                s(ours), f"pandas.read_csv {s(pandas)}",
                "-" if ratio is None else f"{ratio:.2f}x pandas", f"<= {target:g}x pandas",
                verdict(ratio <= target if ratio else None))]


def read_cli_start(out: str) -> list[Row]:
    rows = []
    passed = num(r"python -c pass\s+([\d.]+) s", out)
    ml = num(r"mlflow --version\s+([\d.]+) s", out)
    for command in ("run list", "dataset list"):
        ours = num(rf"^\s+lablift {command}\s+([\d.]+) s", out)
        rows.append(Row(f"`lablift {command}`, whole process", s(ours, "s", 3),
                        (f"mlflow --version {s(ml, 's')}; " if ml else "") +
                        f"python -c pass {s(passed, 's', 3)}", faster(ml, ours), "<= 0.35 s",
                        verdict(ours <= 0.35 if ours else None)))
    return rows


def read_gui_start(out: str) -> list[Row]:
    rows = []
    for platform in ("offscreen", "Xvfb"):
        block = re.search(rf"^{platform}:\n(.*?)(?=^\S|\Z)", out, re.M | re.S)
        if not block:
            continue
        b = block.group(1)
        ours = num(r"^\s+lablift gui\s+first paint\s+([\d.]+) s", b)
        empty = num(r"^\s+empty PySide6 window\s+first paint\s+([\d.]+) s", b)
        rows.append(Row(f"`lablift gui` to the first painted window ({platform})",
                        s(ours, "s", 3), f"empty PySide6 window {s(empty, 's', 3)}",
                        "-" if not (ours and empty) else f"{ours / empty:.1f}x the empty window",
                        "<= 0.8 s", verdict(ours <= 0.8 if ours else None)))
    return rows


def read_drift(out: str) -> list[Row]:
    rows = []
    ours = num(r"^lablift drift: median ([\d.]+) s", out)
    evi = num(r"^Evidently \S+ DataDriftPreset: median ([\d.]+) s", out)
    n = num(r"^([\d,]+) reference x", out)
    ratio = evi / ours if evi and ours else None
    rows.append(Row(f"drift {n or 0:,.0f} x {n or 0:,.0f} rows x 25 columns (in memory)",
                    s(ours, "s", 3), f"Evidently {s(evi)}" if evi
                    else "Evidently: not measured (no venv)", faster(evi, ours),
                    ">= 10x faster and < 1 s",
                    verdict(ours < 1 and ratio >= 10 if ratio else None)))
    ours = num(r"^\s+lablift monitor ingest\s+([\d.]+) s", out)
    evi = num(r"^\s+Evidently whole script\s+([\d.]+) s", out)
    floor = num(r"^\s+floor: start \+ pyarrow read_csv\s+([\d.]+) s", out)
    if ours:
        rows.append(Row("`monitor ingest` CSV to verdict, whole process", s(ours),
                        (f"Evidently script {s(evi)}" if evi else "Evidently: not measured "
                         "(no venv)") + f"; floor {s(floor)}", faster(evi, ours),
                        ">= 10x faster", verdict(evi / ours >= 10 if evi else None)))
    return rows


def read_training(out: str) -> list[Row]:
    plain = num(r"^plain scikit-learn script\s+([\d.]+)", out)
    ours = num(r"^Lablift training.train \(full run\)\s+([\d.]+)\s+([\d.]+)", out)
    what = re.search(r"^(\w+) .*?, (\d+) rows x", out, re.M)
    ratio = ours / plain if ours and plain else None
    return [Row(f"one run, {what.group(1) if what else '?'} on {what.group(2) if what else '?'}"
                " rows", s(ours), f"plain script {s(plain)}",
                "-" if ratio is None else f"{ratio:.2f}x plain", "<= 1.1x plain",
                verdict(ratio <= 1.1 if ratio else None))]


def read_sweep(out: str) -> list[Row]:
    ours = num(r"^Lablift sweep \(100 recorded runs \+ best\)\s+([\d.]+)", out)
    one = num(r"^GridSearchCV, 1 score\s+([\d.]+)", out)
    seven = num(r"^GridSearchCV, 7 metrics\s+([\d.]+)", out)
    return [Row("100-configuration sweep (recorded runs)", s(ours),
                f"GridSearchCV {s(one)} (1 score), {s(seven)} (7 metrics)",
                f"{faster(seven, ours)} (7 metrics)", "-", "-")]


def read_fairness(out: str) -> list[Row]:
    m = re.search(r"rows ([\d,]+), groups (\d+): lablift ([\d.]+) ms, fairlearn ([\d.]+) ms"
                  r".*agree: (\w+)", out)
    if not m:
        return []
    ours, peer = float(m.group(3)), float(m.group(4))
    return [Row(f"group metrics, {m.group(1)} rows, {m.group(2)} groups", s(ours, "ms", 1),
                f"Fairlearn MetricFrame {s(peer, 'ms', 0)}", faster(peer, ours),
                "numbers agree", verdict(m.group(5) == "True"))]


def read_scoring(out: str) -> list[Row]:
    rows = []
    ours = num(r"serve.py predict \(new process\)\s+([\d.]+) s", out)
    direct = num(r"direct script \(new process\)\s+([\d.]+) s", out)
    if ours:
        ratio = ours / direct if direct else None
        rows.append(Row("batch scoring, whole process (serve.py predict)", s(ours),
                        f"direct script {s(direct)}",
                        "-" if ratio is None else f"{ratio:.2f}x direct", "<= 1.2x direct",
                        verdict(ratio <= 1.2 if ratio else None)))
    p50 = num(r"^\s+serve.py\s+p50\s+([\d.]+) ms", out)
    ml = num(r"^\s+mlflow models serve\s+p50\s+([\d.]+) ms", out)
    if p50:
        ratio = p50 / ml if ml else None
        rows.append(Row("HTTP single row, p50 (random forest)", s(p50, "ms"),
                        f"mlflow models serve {s(ml, 'ms')}" if ml
                        else "MLflow: not measured (no benchmarks/_venvs/mlflow)",
                        "-" if ratio is None else f"{ratio:.2f}x MLflow", "<= 0.6x MLflow",
                        verdict(ratio <= 0.6 if ratio else None)))
    return rows


def read_team(out: str) -> list[Row]:
    rows = []
    for payload in ("tiny", "real"):
        block = re.search(rf"artifacts '{payload}'.*?(?=\n\n|\Z)", out, re.S)
        if not block:
            continue
        b = block.group(0)
        ours = num(r"Lablift TeamStore \(PostgreSQL\)\s+([\d.]+)", b)
        client = num(r"MLflow MlflowClient \(PostgreSQL\)\s+([\d.]+)", b)
        store = num(r"MLflow SqlAlchemyStore direct\s+([\d.]+)", b)
        rows.append(Row(f"team store (PostgreSQL): record a run, {payload} artifacts",
                        s(ours, "ms"), f"MLflow client {s(client, 'ms', 1)}, store "
                        f"{s(store, 'ms', 1)}", faster(store, ours) + " (store)",
                        ">= 20x faster", verdict(store / ours >= 20 if store and ours
                                                 else None)))
    n = num(r"^2. Listing (\d+) runs", out)
    ours = num(r"Lablift list_runs, TeamStore\s+([\d.]+)", out)
    ml = num(r"MLflow MlflowClient.search_runs\s+([\d.]+)", out)
    if ours:
        rows.append(Row(f"team store: list {n or 0:,.0f} runs", s(ours, "ms", 0),
                        f"MLflow search_runs {s(ml, 'ms', 0)}", faster(ml, ours),
                        "< 0.2 s at 10,000", verdict(ours < 200 if n == 10000 else None)))
    return rows


def read_copy(out: str) -> list[Row]:
    ours = num(r"^to team\s+([\d.]+)", out)
    dump = num(r"^pg_dump \| psql\s+([\d.]+)", out)
    what = re.search(r"^source: (\d+) runs, a ([\d,]+) x 20", out, re.M)
    return [Row(f"`store copy` to a team store ({what.group(1) if what else '?'} runs + "
                f"{what.group(2) if what else '?'} rows), verified", s(ours),
                f"pg_dump | psql {s(dump)} (no checks)", faster(dump, ours), "-", "-")]


def read_gui_stall(out: str) -> list[Row]:
    rows = []
    for phase, pattern in (("while a run trains", r"longest stall while training ([\d.]+)"),
                           ("when it finishes (table + plots)",
                            r"longest stall after the run \(table \+ plots\) ([\d.]+)")):
        ours = num(pattern, out)
        rows.append(Row(f"GUI: longest stall {phase}", s(ours, "ms", 0), "one frame: 16 ms",
                        "-", "< 50 ms", verdict(ours < 50 if ours is not None else None)))
    return rows


def read_runs_table(out: str) -> list[Row]:
    rows = []
    header = re.search(r"^\s+runs\s+(.*)$", out, re.M)
    steps = header.group(1).split() if header else []
    for m in re.finditer(r"^\s*([\d,]+) ((?:\s*[\d.]+ ms\s+[\d.]+ s)+)\s*$", out, re.M):
        stalls = [float(x) for x in re.findall(r"([\d.]+) ms", m.group(2))]
        worst = max(stalls)
        rows.append(Row(f"runs table, {m.group(1)} runs: longest stall ("
                        + "/".join(steps or ["steps"]) + ")",
                        "/".join(f"{x:.0f}" for x in stalls) + " ms", "one frame: 16 ms", "-",
                        "each < 50 ms", verdict(worst < 50)))
    return rows


def read_run_list(out: str) -> list[Row]:
    n = num(r"^run list --json, ([\d,]+) runs", out)
    ours = num(r"^\s+lablift run list --json\s+([\d.]+) s", out)
    floor = num(r"^\s+sqlite3 \+ json floor\s+([\d.]+) s", out)
    ratio = ours / floor if ours and floor else None
    return [Row(f"`lablift run list --json`, {n or 0:,.0f} runs, whole process", s(ours),
                f"sqlite3 + json script {s(floor)}",
                "-" if ratio is None else f"{ratio:.2f}x the floor", "<= 1.5x the floor",
                verdict(ratio <= 1.5 if ratio else None))]


def read_datasets_1m(out: str) -> list[Row]:
    m = re.search(r"rows ([\d,]+) x (\d+) columns: pane built \+ load in worker ([\d.]+) s, "
                  r"first paint ([\d.]+) s \(total ([\d.]+) s\), scroll to last row ([\d.]+) s",
                  out)
    if not m:
        return []
    return [Row(f"Datasets pane: open a {m.group(1)} x {m.group(2)} version",
                f"load {m.group(3)} s, paint {m.group(4)} s", "-", "-",
                "first paint well under 1 s", verdict(float(m.group(5)) < 1))]


READERS = {"bench_tracking": read_tracking, "bench_import": read_import,
           "bench_cli_start": read_cli_start, "bench_gui_start": read_gui_start,
           "bench_drift": read_drift,
           "bench_training": read_training, "bench_sweep": read_sweep,
           "bench_fairness": read_fairness, "bench_scoring": read_scoring,
           "bench_team": read_team, "bench_copy": read_copy,
           "bench_gui_stall": read_gui_stall, "bench_runs_table": read_runs_table,
           "bench_run_list": read_run_list, "gui_datasets_1m": read_datasets_1m}


# ------------------------------------------------------------------ running them

def postgres() -> str | None:
    """Why the PostgreSQL benchmarks cannot run here, or None."""
    if os.environ.get("LABLIFT_TEST_PG_URL"):
        return None
    sys.path.insert(0, str(HERE.parent / "tests"))
    try:
        import pg
        pg.find_bindir()
    except Exception as exc:  # noqa: BLE001  (any reason: the row says it)
        return f"no PostgreSQL here ({exc})"
    return None


def peer_flags(name: str) -> tuple[list[str], str | None]:
    """Flags that leave out a peer this machine lacks, and why it is left out."""
    if name == "bench_drift" and not (VENVS / "evidently" / "bin" / "python").exists():
        return ["--no-evidently"], "no benchmarks/_venvs/evidently (made by pip when online)"
    if name == "bench_scoring" and not (VENVS / "mlflow" / "bin" / "mlflow").exists():
        return ["--no-mlflow"], "no benchmarks/_venvs/mlflow (made by pip when online)"
    return [], None


def argv_for(path: Path, quick: bool) -> list[str]:
    if not quick:
        return []
    if '"--quick"' in path.read_text():
        return ["--quick"]
    return FALLBACK.get(path.stem, [])


def run_one(path: Path, quick: bool, limit: float) -> tuple[list[Row], float, str | None]:
    name = path.stem
    if name in ("bench_team", "bench_copy"):
        why = postgres()
        if why:
            return [Row(name, ratio="not run", met=why)], 0.0, None
    flags, left_out = peer_flags(name)
    argv = [sys.executable, str(path), *argv_for(path, quick), *flags]
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent / "app"),
                                                      os.environ.get("PYTHONPATH")]))}
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.txt"
    print(f"-- {name}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=limit,
                              cwd=HERE.parent)
        out, err, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err, code = f"timed out after {limit:.0f} s", None
    took = time.perf_counter() - t0
    log.write_text(f"$ {' '.join(argv)}\n{out}\n--- stderr ---\n{err}")
    if code != 0:
        last = (err.strip().splitlines() or ["?"])[-1][:90]
        return [Row(name, ratio="failed", met=last)], took, left_out
    try:
        rows = READERS[name](out) if name in READERS else []
    except Exception as exc:  # noqa: BLE001  (a changed output must not sink the table)
        rows = [Row(name, ratio="unreadable", met=f"{type(exc).__name__}: {exc}"[:90])]
    return (rows or [Row(name, ratio="ran", met=f"no figure read: {log.relative_to(HERE)}")],
            took, left_out)


def table(rows: list[Row]) -> str:
    """A Markdown table, padded to line up in a terminal too."""
    fields = list(Row.__dataclass_fields__)
    head = Row("work", "Lablift", "peer, same run", "ratio", "target", "met?")
    widths = [max(len(getattr(r, f)) for r in [head, *rows]) for f in fields]
    lines = ["| " + " | ".join(getattr(r, f).ljust(w) for f, w in zip(fields, widths)) + " |"
             for r in [head, *rows]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a few minutes in all")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="just these scripts (bench_x)")
    ap.add_argument("--skip", nargs="+", default=[], metavar="NAME")
    ap.add_argument("--limit", type=float, default=None,
                    help="seconds one script may take (default 300 with --quick, else 7200)")
    args = ap.parse_args()
    limit = args.limit or (300 if args.quick else 7200)
    found = {p.stem: p for p in [*HERE.glob("bench_*.py"), *HERE.glob("gui_*.py")]}
    names = [n for n in ORDER if n in found] + sorted(set(found) - set(ORDER))
    names = [n for n in names if (not args.only or n in args.only) and n not in args.skip]
    rows, notes, started = [], [], time.perf_counter()
    for name in names:
        got, took, left_out = run_one(found[name], args.quick, limit)
        rows += got
        notes.append(f"{name} {took:.0f} s" + (f" (left out: {left_out})" if left_out else ""))
    print(f"\nLablift benchmarks{' (--quick)' if args.quick else ''}: "
          f"{time.perf_counter() - started:.0f} s in all on {os.cpu_count()} CPUs, load "
          f"average {os.getloadavg()[0]:.1f}; ratio = the peer's time / Lablift's unless it "
          f"says otherwise; outputs in {LOGS.relative_to(HERE.parent)}/\n")
    print(table(rows))
    print("\n" + "; ".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
