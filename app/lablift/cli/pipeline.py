"""`lablift pipeline run | validate | init`: a model's lifecycle from a pipeline file.

Exit codes of `run` (DESIGN "Release and automation"; docs/pipeline.md): 0 done (approved,
and exported when the file names a folder; or pending review with --allow-pending),
3 checks failed, 4 needs review, 1 error, 2 usage.
"""

from __future__ import annotations

import sys

from .common import CommandError, Text, add_json, emit, progress_printer

FILE_DEFAULT = "lablift.toml"  # = core.pipeline.FILE_NAME (its import pulls in the checks)


class Outcome(dict):
    """A result with the exit code main() returns (dict: printed as JSON with --json)."""
    exit_code = 0


class OutcomeText(Text):
    exit_code = 0


def register(sub) -> None:
    p = sub.add_parser("pipeline", help="run a model's lifecycle from a pipeline file "
                       "(lablift.toml): import, train, register, checks, export",
                       description="Run the lifecycle a pipeline file describes. Steps whose "
                                   "inputs are unchanged reuse what the store holds; the run "
                                   "stops at pending review. See docs/pipeline.md.")
    ps = p.add_subparsers(dest="pipeline_command", metavar="ACTION", required=True)
    run = ps.add_parser("run", help="import, train (or sweep), register, check; export once "
                        "approved. Exit 0 done, 3 checks failed, 4 needs review, 1 error",
                        description="Exit codes: 0 done (approved, exported when [export] is "
                                    "set; or pending with --allow-pending), 3 checks failed, "
                                    "4 needs review, 1 error, 2 usage error.")
    run.add_argument("file", metavar="FILE", help="the pipeline file (e.g. lablift.toml)")
    run.add_argument("--allow-pending", action="store_true",
                     help="exit 0, not 4, when the version passed its checks and waits for "
                          "review")
    run.add_argument("--no-export", action="store_true",
                     help="stop before exporting an approved version (a login that may not "
                          "export: exit 0 once approved)")
    add_json(run)
    run.set_defaults(handler=cmd_run)
    val = ps.add_parser("validate", help="check a pipeline file and its data file's columns "
                        "without running it (no store needed)")
    val.add_argument("file", metavar="FILE")
    add_json(val)
    val.set_defaults(handler=cmd_validate, opens_store=False)
    ini = ps.add_parser("init", help="write a commented example pipeline file (and the "
                        "sample data beside it)")
    ini.add_argument("file", metavar="FILE", nargs="?", default=FILE_DEFAULT,
                     help=f"where to write it (default: {FILE_DEFAULT})")
    ini.add_argument("--force", action="store_true", help="replace an existing file")
    add_json(ini)
    ini.set_defaults(handler=cmd_init, opens_store=False)


def cmd_run(store, args):
    from ..core import pipeline
    spec = pipeline.load(args.file)
    progress = progress_printer()
    result = pipeline.run(store, spec, allow_pending=args.allow_pending,
                          export=not args.no_export, progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    if result["outcome"] not in pipeline.EXIT:  # rejected or archived: an error, said once
        if args.json:
            emit(result, True)
        step = next(s for s in result["steps"] if s["step"] == "register")
        raise CommandError(f"{args.file}: {step['detail']}")
    out = Outcome(result) if args.json else OutcomeText(describe(result, args.file))
    out.exit_code = result["exit_code"]
    return out


WORDS = {"done": "done", "checks_failed": "checks failed", "needs_review": "needs review"}


def describe(result: dict, shown: str) -> str:
    v = result["version"]
    lines = [f"pipeline {shown}: {WORDS[result['outcome']]} "
             f"(exit {result['exit_code']})"]
    for s in result["steps"]:
        lines.append(f"  {s['step']:<10} {s['status']:<8} {s['detail']}")
    if result["outcome"] == "needs_review":
        lines.append(f"next: a reviewer approves with `lablift model approve {v['ref']} "
                     f"--comment TEXT`; the next run exports it")
    elif result["outcome"] == "checks_failed":
        lines.append(f"next: fix the data or spec, or a reviewer approves {v['ref']} with "
                     f"--override REASON")
    return "\n".join(lines)


def cmd_validate(store, args):
    from ..core import pipeline
    p = pipeline.validate(args.file)
    summary = {"file": str(p.file), "valid": True, "data": str(p.data_path),
               "dataset": p.dataset_name, "target": p.target, "features": p.features,
               "algorithm": p.algorithm, "mode": "sweep" if p.sweep else "train",
               "model": p.model, "gates": p.gates, "export": str(p.export) if p.export else None,
               "monitoring": p.monitoring}
    if args.json:
        return summary
    how = "sweep" if p.sweep else "train"
    return Text(f"ok: {args.file}: {how} {p.algorithm} on {p.data_path.name} (target "
                f"{p.target!r}) as model {p.model}"
                + (f", gates {len(p.gates)}" if p.gates is not None else "")
                + (f", export to {p.export}" if p.export else ""))


def cmd_init(store, args):
    from ..core import pipeline
    made = pipeline.init(args.file, force=args.force)
    if args.json:
        return made
    lines = [f"wrote {made['path']}"]
    if made["wrote_data"]:
        lines.append(f"wrote {made['data']} (the sample data the example trains on)")
    lines.append(f"next: lablift pipeline validate {args.file} && "
                 f"lablift pipeline run {args.file}")
    return Text("\n".join(lines))
