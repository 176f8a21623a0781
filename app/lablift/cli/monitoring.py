"""`lablift monitor ingest | watch | report | retrain | alerts | settings | ack`."""

from __future__ import annotations

import json

from ..core.errors import LabliftError
from .common import Text, add_json, table

# core.monitoring (scipy, scikit-learn, pandas) is imported by the handlers, not the parser.
DRIFT_TESTS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi")  # = drift.TESTS


def register(sub) -> None:
    p = sub.add_parser("monitor", help="monitoring: drift, performance over time, alerts, retrain")
    ms = p.add_subparsers(dest="monitor_command", metavar="ACTION", required=True)

    ing = ms.add_parser("ingest", help="measure a production batch or a serve.py --log file "
                                       "against a model version's training data")
    ing.add_argument("ref", help="NAME:VERSION (or NAME:ALIAS)")
    ing.add_argument("path", help="CSV, Parquet or JSON-lines prediction log")
    ing.add_argument("--label", metavar="COL", help="column with the actual outcomes (a CSV of "
                     "request_id[,row],COL adds labels to an ingested log)")
    ing.add_argument("--timestamp", metavar="COL", help="time column: splits the file into "
                     "windows (default window: day)")
    ing.add_argument("--window", metavar="day|week|N", help="window: day, week, or N rows")
    ing.add_argument("--test", action="append", default=[], metavar="COL=TEST",
                     help=f"drift test for a column ({', '.join(DRIFT_TESTS)}); repeatable")
    add_json(ing)
    ing.set_defaults(handler=cmd_ingest)

    w = ms.add_parser("watch", help="ingest batch files and serve.py logs dropped into a "
                                    "folder, once each, after they stop growing; stops on "
                                    "SIGTERM/SIGINT")
    w.add_argument("dir", help="folder to watch (CSV, Parquet, Excel, JSON-lines logs); "
                               "its subfolders only with --recursive")
    w.add_argument("--model", required=True, metavar="REF",
                   help="NAME:VERSION (or NAME:ALIAS, followed as it moves)")
    w.add_argument("--label", metavar="COL", help="column with the actual outcomes")
    w.add_argument("--interval", type=float, default=2.0, metavar="S",
                   help="seconds between scans (default 2); a file is taken once it has not "
                        "changed for two scans")
    w.add_argument("--recursive", "-r", action="store_true",
                   help="also watch subfolders (e.g. one per day: 2026-12-01/batch.csv); "
                        "files are named by their path below DIR. Hidden files and folders "
                        "and partial copies (.part, .tmp, ~) are ignored, symbolic links are "
                        "not followed")
    w.add_argument("--json", action="store_true", help="print one JSON object per event "
                                                       "(JSON lines)")
    w.set_defaults(handler=cmd_watch)

    rep = ms.add_parser("report", help="batches over time: drift, metrics, latency, alerts")
    rep.add_argument("ref", help="NAME:VERSION")
    add_json(rep)
    rep.set_defaults(handler=cmd_report)

    rt = ms.add_parser("retrain", help="train the same spec on the reference plus the labelled "
                                       "batches: a pending challenger")
    rt.add_argument("ref", help="NAME:VERSION")
    add_json(rt)
    rt.set_defaults(handler=cmd_retrain)

    al = ms.add_parser("alerts", help="list monitoring alerts")
    al.add_argument("ref", nargs="?", help="only this version (NAME:VERSION)")
    al.add_argument("--open", action="store_true", help="only alerts not acknowledged yet")
    add_json(al)
    al.set_defaults(handler=cmd_alerts)

    st = ms.add_parser("settings", help="show or change thresholds and budgets (admin changes)")
    st.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="e.g. p_threshold=0.01, latency_p99_ms=250, "
                         "alert_metrics=accuracy,f1, tests=income:psi,age:ks, "
                         "retrain_on_alert=true (repeatable)")
    add_json(st)
    st.set_defaults(handler=cmd_settings)

    ack = ms.add_parser("ack", help="acknowledge an alert (the last one clears the version's "
                                    "attention flag)")
    ack.add_argument("alert", type=int, help="alert id")
    ack.add_argument("--note", default="", help="what was done about it")
    add_json(ack)
    ack.set_defaults(handler=cmd_ack)


def _tests(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        col, sep, test = item.partition("=")
        if not sep or not col.strip() or not test.strip():
            raise LabliftError(f"--test {item!r}: use COL=TEST, e.g. income=psi")
        out[col.strip()] = test.strip().lower()
    return out


def _batch_json(b: dict) -> dict:
    keys = ("id", "model", "version", "window", "rows", "drift_share", "dataset_drift",
            "n_drifted", "n_columns", "columns", "skipped", "prediction_drift", "metrics",
            "labelled_rows", "ops", "shadow", "quality", "alerts", "scorer", "created_at")
    return {k: b.get(k) for k in keys}


def _batch_text(b: dict) -> str:
    head = (f"batch {b['id']}" + (f" ({b['window']})" if b.get("window") else "")
            + f": {b['rows']} rows, {b.get('n_drifted') or 0} of {b.get('n_columns') or 0} "
              f"features drifted (share {b['drift_share']:.2f})"
            + (" - DATASET DRIFT" if b["dataset_drift"] else ""))
    lines = [head]
    rows = [{"feature": c["name"], "test": c["test"], "statistic": c["statistic"],
             "p_value": c["p_value"], "psi": c["psi"],
             "drifted": "yes" if c["drifted"] else ""} for c in b["columns"]]
    pd_ = b.get("prediction_drift")
    if pd_:
        rows.append({"feature": "(prediction)", "test": pd_["test"],
                     "statistic": pd_["statistic"], "p_value": pd_["p_value"],
                     "psi": pd_["psi"], "drifted": "yes" if pd_["drifted"] else ""})
    lines.append(table(rows, ["feature", "test", "statistic", "p_value", "psi", "drifted"]))
    if b.get("metrics"):
        hold = b.get("holdout") or {}
        lines.append("metrics (batch vs holdout): " + ", ".join(
            f"{k} {v:.3f}" + (f" ({hold[k]:.3f})" if hold.get(k) is not None else "")
            for k, v in b["metrics"].items() if v is not None))
    ops = b.get("ops")
    if ops:
        lat = ops.get("latency_ms") or {}
        lines.append(f"requests {ops['requests']}, errors {ops.get('errors', 0)} "
                     f"({ops['error_rate']:.1%})"
                     + (f", latency p50 {lat['p50']:.1f} ms p95 {lat['p95']:.1f} ms "
                        f"p99 {lat['p99']:.1f} ms" if lat else ""))
    if b.get("shadow"):
        from ..core.monitoring.shadow import describe
        lines.extend(describe(b["shadow"]))
    for f in b.get("quality") or []:
        lines.append(f"{f['severity']}: {f['message']}")
    for a in b.get("alerts") or []:
        lines.append(f"ALERT {a['kind']}: {a['message']}")
    return "\n".join(lines)


def cmd_ingest(store, args):
    from ..core import monitoring
    result = monitoring.ingest(store, args.ref, args.path, label=args.label,
                               timestamp=args.timestamp, window=args.window,
                               tests=_tests(args.test))
    batches = result["batches"] if "batches" in result else [result]
    windowed = "batches" in result
    if args.json:
        out = [_batch_json(b) for b in batches]
        return out if windowed or len(out) > 1 else out[0]
    return Text("\n\n".join(_batch_text(b) for b in batches))


def cmd_watch(store, args):
    """Runs until SIGTERM or SIGINT; one line per event on stdout, flushed; exit 0."""
    import signal
    import sys
    import threading
    from ..core.monitoring.watch import Watcher
    stop = threading.Event()

    def emit(event: dict) -> None:
        line = (json.dumps(event, default=str, ensure_ascii=False) if args.json
                else f"{event['time']} {event['event']}: {event['message']}")
        try:
            print(line, flush=True)
        except BrokenPipeError:  # the reader left: stop as on SIGTERM
            stop.set()

    watcher = Watcher(store, args.model, args.dir, emit, label=args.label,
                      interval=args.interval, stop=stop, recursive=args.recursive)
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        watcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.stdout.flush()
    return None


def cmd_report(store, args):
    from ..core import monitoring
    rep = monitoring.report(store, args.ref)
    if args.json:
        return rep
    v = rep["version"]
    lines = [f"{v['model']}:{v['version']} ({v['status']})"
             + (f"  ATTENTION: {v['attention']}" if v.get("attention") else "")]
    rows = []
    series = rep["metrics"]["series"]
    lat = {x["batch_id"]: x for x in rep["latency"]}
    for b in rep["batches"]:
        row = {"batch": b["id"], "window": b["window"], "rows": b["rows"],
               "drift_share": b["drift_share"], "drift": "yes" if b["dataset_drift"] else ""}
        for m in ("accuracy", "roc_auc", "r2", "rmse"):
            if m in series:
                row[m] = next((s["value"] for s in series[m] if s["batch_id"] == b["id"]), None)
        sh = b.get("shadow")
        if sh:
            row["shadow_agree"] = (None if sh.get("agreement") is None
                                   else f"{sh['agreement']:.1%}")
        if b["id"] in lat:
            row["p99_ms"] = lat[b["id"]].get("p99")
            row["requests"] = lat[b["id"]].get("requests")
            rate = lat[b["id"]].get("error_rate")
            row["error_rate"] = None if rate is None else f"{rate:.1%}"
        rows.append(row)
    cols = ["batch", "window", "rows", "drift_share", "drift"] + \
        [m for m in ("accuracy", "roc_auc", "r2", "rmse") if m in series] + \
        (["p99_ms", "requests", "error_rate"] if lat else []) + \
        (["shadow_agree"] if rep.get("shadow") else [])
    lines.append(table(rows, cols, empty="no batches yet"))
    hold = rep["metrics"]["holdout"]
    if hold:
        lines.append("holdout: " + ", ".join(f"{k} {val:.3f}" for k, val in hold.items()
                                             if val is not None))
    if rep.get("shadow"):
        from ..core.monitoring.shadow import describe
        lines.append("")
        lines.append("shadow traffic (champion vs challenger, all batches):")
        for s in rep["shadow"]:
            lines.extend(describe(s) + [f"  batches {', '.join(map(str, s['batch_ids']))}"])
    if rep["features"] and rep["batches"]:
        lines.append("")
        lines.append("drifted features per batch:")
        for j, bid in enumerate(rep["batch_ids"]):
            names = [f for i, f in enumerate(rep["features"]) if rep["matrix"]["drifted"][i][j]]
            lines.append(f"  batch {bid}: {', '.join(names) or '-'}")
    if rep["alerts"]:
        lines.append("")
        lines.append(table(rep["alerts"], ["id", "batch_id", "kind", "message", "created_at"]))
    return Text("\n".join(lines))


def cmd_retrain(store, args):
    from ..core import monitoring
    out = monitoring.retrain(store, args.ref)
    if args.json:
        return out
    ch = out["challenger"]
    lines = [f"challenger {ch['ref']} registered (pending) from run {out['run']['id']}, "
             f"trained on {out['dataset']['name']}:{out['dataset']['version']} "
             f"({out['dataset']['rows']} rows: reference"
             + (f" + batches {', '.join(map(str, out['batches']))}" if out["batches"] else "")
             + ")"]
    comp = out.get("comparison")
    if comp:
        lines.append(f"compared on {comp['rows']} held-out labelled rows of batch "
                     f"{comp['batch_id']} (rows {_ranges_text(comp.get('row_ranges'))}), "
                     f"which neither model trained on: {comp['note']}")
        rows = [{"metric": k, "champion": comp["champion"].get(k),
                 "challenger": comp["challenger"].get(k)} for k in comp["champion"]]
        lines.append(table(rows, ["metric", "champion", "challenger"]))
    else:
        hold = out.get("holdout") or {}
        lines.append(f"no comparison: the held-out rows of batch {hold.get('batch_id')} lack "
                     f"inputs the model needs")
    lines.append(f"a reviewer approves it with `lablift model approve {ch['ref']}`")
    return Text("\n".join(lines))


def _ranges_text(ranges) -> str:
    """[[0, 5], [9, 10]] as '0-4, 9' (positions in the stored batch, from 0)."""
    parts = [f"{a}-{b - 1}" if b - a > 1 else str(a) for a, b in ranges or []]
    return ", ".join(parts[:6]) + (", ..." if len(parts) > 6 else "")


def cmd_alerts(store, args):
    from ..core import monitoring
    rows = monitoring.list_alerts(store, args.ref)
    if args.open:
        rows = [r for r in rows if not r["acknowledged_by"]]
    if args.json:
        return rows
    for r in rows:
        r["version"] = f"{r['model']}:{r['version']}"
    return Text(table(rows, ["id", "version", "batch_id", "kind", "message", "created_at",
                             "acknowledged_by"], empty="no alerts"))


def cmd_settings(store, args):
    from ..core import monitoring
    changes = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LabliftError(f"--set {item!r}: use KEY=VALUE, e.g. p_threshold=0.01")
        changes[key.strip()] = value.strip()
    values = monitoring.update_settings(store, changes) if changes else monitoring.settings(store)
    if args.json:
        return values
    return Text("\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items()))


def cmd_ack(store, args):
    from ..core import monitoring
    row = monitoring.acknowledge(store, args.alert, args.note)
    if args.json:
        return row
    return Text(f"alert {row['id']} acknowledged; {row['open_alerts']} open alerts left for "
                f"this version")
