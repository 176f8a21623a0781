"""`lablift algorithms | train | sweep | run list/show/reproduce/compare`."""

from __future__ import annotations

import sys

# Training's modules (numpy, pandas, scikit-learn) are imported by the handlers that train:
# building the parser and listing runs must not wait for them.
from ..core import catalogue
from ..core.errors import LabliftError
from ..core.metric_names import metric_names, primary_metric
from .common import CommandError, Text, add_json, progress_printer, table

SWEEP_BACKENDS = ("local", "dask")  # = core.sweeps.BACKENDS (tests/test_import_time.py)

RUN_FIELDS = ("id", "dataset_id", "sweep_id", "reproduces", "status", "task", "algorithm",
              "target", "seed", "spec", "params", "metrics", "artifacts", "environment",
              "predictions_sha256", "error", "created_by", "created_at", "started_at",
              "finished_at", "duration_s", "host", "pid", "details")


def register(sub) -> None:
    alg = sub.add_parser("algorithms", help="list algorithms and their hyperparameters")
    alg.add_argument("--task", choices=catalogue.TASKS)
    add_json(alg)
    alg.set_defaults(handler=cmd_algorithms)

    tr = sub.add_parser("train", help="train a model on a dataset version (a run)")
    _spec_args(tr)
    tr.add_argument("--algorithm", help="catalogue name (default: random_forest)")
    tr.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                    help="a hyperparameter (repeatable); see `lablift algorithms`")
    add_json(tr)
    tr.set_defaults(handler=cmd_train)

    sw = sub.add_parser("sweep", help="grid or random search; each configuration is a run")
    _spec_args(sw)
    sw.add_argument("--algorithm", required=True)
    sw.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                    help="a hyperparameter fixed for every configuration")
    how = sw.add_mutually_exclusive_group(required=True)
    how.add_argument("--grid", nargs="+", metavar="PARAM=V1,V2",
                     help="values per parameter; every combination is tried")
    how.add_argument("--random", type=int, metavar="N",
                     help="N configurations sampled from the catalogue's ranges")
    sw.add_argument("--backend", choices=SWEEP_BACKENDS, default="local")
    sw.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler (tcp://host:port)")
    sw.add_argument("--jobs", type=int, default=-1, help="local parallel workers (-1: all cores)")
    add_json(sw)
    sw.set_defaults(handler=cmd_sweep)

    run = sub.add_parser("run", help="list, show, reproduce and compare runs")
    rs = run.add_subparsers(dest="run_command", metavar="ACTION", required=True)
    ls = rs.add_parser("list", help="list runs, newest first")
    ls.add_argument("--dataset", metavar="REF")
    ls.add_argument("--status", choices=("running", "finished", "failed", "cancelled",
                                         "interrupted"))
    ls.add_argument("--sweep", type=int, metavar="ID")
    ls.add_argument("--limit", type=int)
    add_json(ls)
    ls.set_defaults(handler=cmd_run_list)
    show = rs.add_parser("show", help="everything recorded about a run")
    show.add_argument("run")
    add_json(show)
    show.set_defaults(handler=cmd_run_show)
    rep = rs.add_parser("reproduce", help="re-train a run and compare its holdout predictions")
    rep.add_argument("run")
    add_json(rep)
    rep.set_defaults(handler=cmd_run_reproduce)
    cmp = rs.add_parser(
        "compare", help="compare runs: setup, parameters, metrics with deltas, checks",
        description="Compare run B (and C, ...) with run A: status, dataset, algorithm, the "
                    "spec fields and parameters that differ (those equal on one line), every "
                    "holdout and cross-validated metric with its delta (B - A) and whether B "
                    "is better given the metric's direction, the checks of the versions the "
                    "runs were registered as, and the holdout rows each run was scored on. "
                    "Only recorded figures are shown; nothing is re-scored.",
        epilog="In CI: lablift run compare $(lablift model show NAME:production --json | jq "
               ".run_id) $(jq .run_id pipeline.json) --markdown >> $GITHUB_STEP_SUMMARY "
               "(docs/ci.md).")
    cmp.add_argument("a", metavar="A", help="the baseline run id (e.g. production's run)")
    cmp.add_argument("b", metavar="B", help="the run compared with it (e.g. the candidate)")
    cmp.add_argument("more", nargs="*", default=[], metavar="C",
                     help="further runs, each compared with A")
    how = cmp.add_mutually_exclusive_group()
    how.add_argument("--markdown", action="store_true",
                     help="print GitHub-flavoured Markdown (a PR comment or job summary)")
    how.add_argument("--json", action="store_true", help="print one JSON document")
    cmp.set_defaults(handler=cmd_run_compare)


def _spec_args(p) -> None:
    p.add_argument("--dataset", required=True, metavar="REF", help="id, NAME or NAME:VERSION")
    p.add_argument("--target", required=True, metavar="COL")
    p.add_argument("--features", metavar="COL,COL", help="feature columns (default: all usable)")
    p.add_argument("--sensitive", metavar="COL", help="column for fairness reports "
                   "(kept out of the default features)")
    p.add_argument("--cv", type=int, default=5, metavar="K", help="CV folds (0: holdout only)")
    p.add_argument("--test-size", type=float, default=0.2, metavar="F")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--task", choices=catalogue.TASKS, help="override the inferred task")


def _spec(args) -> dict:
    features = None
    if args.features:
        features = [f.strip() for f in args.features.split(",") if f.strip()]
        if not features:
            raise LabliftError("--features names no column")
    return {"dataset": args.dataset, "target": args.target, "features": features,
            "algorithm": getattr(args, "algorithm", None), "task": args.task,
            "params": catalogue.parse_assignments(args.set), "test_size": args.test_size,
            "cv": args.cv, "seed": args.seed, "sensitive": args.sensitive}


def cmd_algorithms(store, args):
    algos = catalogue.describe(args.task)
    if args.json:
        return algos
    lines = []
    for a in algos:
        lines.append(f"{a['name']}  ({a['label']}; {', '.join(a['tasks'])})")
        seen = set()
        for task, params in a["hyperparameters"].items():
            for p in params:
                key = (p["name"], str(p.get("choices")), p["default"])
                if key in seen:
                    continue
                seen.add(key)
                hp = catalogue.get(a["name"]).hyperparameter(p["name"], task)
                only = "" if set(hp.tasks) >= set(a["tasks"]) else f" [{task}]"
                default = "none" if p["default"] is None else p["default"]
                lines.append(f"    {p['name']}{only}: {hp.rule()} (default {default}) - "
                             f"{p['help']}")
    return Text("\n".join(lines))


def summary(run: dict) -> dict:
    """The JSON of a run in lists (DESIGN: id dataset_id status params metrics)."""
    keys = ("id", "dataset_id", "sweep_id", "reproduces", "status", "task", "algorithm",
            "target", "seed", "params", "metrics", "error", "created_by", "created_at",
            "finished_at", "duration_s")
    return {k: run.get(k) for k in keys}


def _metric_lines(run: dict) -> list[str]:
    m = run.get("metrics") or {}
    lines = []
    hold = m.get("holdout") or {}
    cv = m.get("cv") or {}
    for name in metric_names(run.get("task") or "classification"):
        h = hold.get(name)
        c = cv.get(name) or {}
        hs = "-" if h is None else f"{h:.4f}"
        cs = "" if c.get("mean") is None else f"   cv {c['mean']:.4f} ± {c['std']:.4f}"
        lines.append(f"  {name:<18} holdout {hs}{cs}")
    return lines


def cmd_train(store, args):
    from ..core import training
    run = training.train(store, _spec(args), progress=progress_printer())
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.json:
        return {k: run.get(k) for k in RUN_FIELDS}
    spec = run["spec"]
    lines = [f"run {run['id']} {run['status']}: {run['algorithm']} {run['task']} of "
             f"{run['target']!r} on dataset {run['dataset_id']} ({len(spec['features'])} "
             f"features, test size {spec['test_size']:g}, cv {spec['cv'] or 'off'}, seed "
             f"{run['seed']}) in {run['duration_s']:.2f} s"]
    lines += _metric_lines(run)
    lines += [f"note: {n}" for n in (run.get("details") or {}).get("notes", [])]
    return Text("\n".join(lines))


def cmd_sweep(store, args):
    from ..core import sweeps
    spec = _spec(args)
    fixed = spec["params"]
    grid = sweeps.parse_grid(args.grid) if args.grid else None
    result = sweeps.sweep(store, {**spec, "params": fixed}, grid=grid, random=args.random,
                          n_jobs=args.jobs, backend=args.backend, scheduler=args.scheduler,
                          progress=progress_printer())
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.json:
        out = {k: v for k, v in result.items() if k != "runs"}
        out["runs"] = [summary(r) for r in result["runs"]]
        return out
    metric = result["metric"]
    rows = []
    for r in result["runs"]:
        name, value, source = primary_metric(r.get("task") or "classification",
                                             r.get("metrics") or {})
        rows.append({"run": r["id"], "best": "*" if r["id"] == result["best_run_id"] else "",
                     "status": r["status"],
                     "params": " ".join(f"{k}={'none' if v is None else v}"
                                        for k, v in (r["params"] or {}).items()
                                        if k in _varied(result)),
                     f"{metric} ({source})": value, "seconds": r["duration_s"]})
    head = (f"sweep {result['id']} {result['status']}: {len(result['runs'])} runs, best run "
            f"{result['best_run_id']} by {metric}")
    return Text(head + "\n" + table(rows, list(rows[0]) if rows else []))


def _varied(sweep_row: dict) -> set:
    spec = sweep_row["spec"]
    if spec.get("grid"):
        return set(spec["grid"])
    algo = catalogue.get(spec["algorithm"])
    return {p.name for p in algo.hyperparameters(spec["task"])}


def cmd_run_list(store, args):
    from ..core import datasets, run_listing
    dataset_id = datasets.resolve(store, args.dataset)["id"] if args.dataset else None
    runs = run_listing.list_runs(store, dataset_id=dataset_id, status=args.status,
                              sweep_id=args.sweep, limit=args.limit)
    if args.json:
        return [summary(r) for r in runs]
    rows = []
    for r in runs:
        name, value, source = primary_metric(r.get("task") or "classification",
                                             r.get("metrics") or {})
        rows.append({"id": r["id"], "dataset": r["dataset_id"], "status": r["status"],
                     "algorithm": r["algorithm"], "target": r["target"],
                     "metric": f"{name} {value:.4f} ({source})" if value is not None else "-",
                     "by": r["created_by"], "created": r["created_at"]})
    return Text(table(rows, ["id", "dataset", "status", "algorithm", "target", "metric", "by",
                             "created"], empty="no runs yet"))


def cmd_run_show(store, args):
    from ..core.run_listing import get_run
    run = get_run(store, args.run)
    if args.json:
        return {k: run.get(k) for k in RUN_FIELDS}
    spec = run["spec"]
    env = run.get("environment") or {}
    lines = [f"run {run['id']}  {run['status']}  {run['algorithm']} {run['task']}",
             f"dataset {run['dataset_id']}  target {run['target']!r}  seed {run['seed']}  "
             f"test size {spec.get('test_size')}  cv {spec.get('cv') or 'off'}",
             f"features {', '.join(spec.get('features', []))}",
             f"sensitive {spec.get('sensitive') or '-'}",
             "params " + ", ".join(f"{k}={v}" for k, v in (run.get("params") or {}).items()),
             f"by {run['created_by']} at {run['created_at']} on {run.get('host')} "
             f"(pid {run.get('pid')}); finished {run.get('finished_at') or '-'} "
             f"in {run.get('duration_s') or 0:.2f} s"]
    if run.get("reproduces"):
        lines.append(f"reproduces run {run['reproduces']}")
    if run.get("error"):
        lines.append(f"error: {run['error']}")
    if run.get("metrics"):
        lines += ["metrics:"] + _metric_lines(run)
    for k, v in (run.get("artifacts") or {}).items():
        lines.append(f"artifact {k}: {v}")
    lines.append(f"predictions sha256 {run.get('predictions_sha256') or '-'}")
    pk = env.get("packages") or {}
    lines.append(f"environment: Python {env.get('python')} on {env.get('platform')}, Lablift "
                 f"{env.get('lablift')}; " + ", ".join(f"{k} {v}" for k, v in pk.items()))
    return Text("\n".join(lines))


def cmd_run_reproduce(store, args):
    from ..core import training
    res = training.reproduce(store, args.run, progress=progress_printer())
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if not res["identical"]:
        # exit 1 with one error line naming what changed; the new run (if any) is recorded
        what = "; ".join(res["changes"]) or "predictions differ"
        new = f" (new run {res['new_run_id']})" if res["new_run_id"] else ""
        if args.json:
            from .common import emit
            emit(res, True)
        raise CommandError(f"run {res['run_id']} did not reproduce{new}: {what}")
    if args.json:
        return res
    return Text(f"run {res['run_id']} reproduced identically as run {res['new_run_id']} "
                f"(predictions sha256 {res['predictions_sha256']['new'][:16]})")


def cmd_run_compare(store, args):
    # pyarrow (the holdout rows) is imported by core.run_compare when it reads them
    from ..core import run_compare, run_compare_format
    result = run_compare.compare(store, [args.a, args.b, *args.more])
    if args.json:
        return result
    if args.markdown:
        return Text(run_compare_format.to_markdown(result).rstrip("\n"))
    return Text(run_compare_format.to_text(result))
