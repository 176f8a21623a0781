"""`lablift sample-project`: the sample dataset, two runs and a version pending review."""

from __future__ import annotations

import sys

from .common import Text, add_json, progress_printer


def register(sub) -> None:
    p = sub.add_parser("sample-project",
                       help="in an empty store: import the sample data, train two runs and "
                            "register the better one for review")
    add_json(p)
    p.set_defaults(handler=cmd_sample_project)


def cmd_sample_project(store, args):
    from ..core import sample_project  # training's stack: not for building the parser
    progress = progress_printer()
    made = sample_project.create(store, progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    if args.json:
        return made
    return Text(describe(made))


def describe(made: dict) -> str:
    """What the sample project made, and what to do next, as lines of text."""
    from ..core import sample_project
    ds, version = made["dataset"], made["version"]
    lines = [f"imported {ds['name']}:{ds['version']} (id {ds['id']}, {ds['rows']} rows x "
             f"{ds['columns']} columns)"]
    given = dict(sample_project.RUNS)
    for run in made["runs"]:
        params = ", ".join(f"{k}={v}" for k, v in given.get(run["algorithm"], {}).items())
        value = "-" if run["value"] is None else f"{run['value']:.3f}"
        value += f" ({sample_project.CV_FOLDS}-fold CV)" if run["source"] == "cv" else " (holdout)"
        best = "  <- registered" if run["id"] == made["best_run"] else ""
        lines.append(f"trained run {run['id']}: {run['label'].lower()} ({params}), "
                     f"{run['metric']} {value}{best}")
    checks = ", ".join(f"{c['name']} {'passed' if c['passed'] else 'FAILED'}"
                       for c in version["checks"])
    lines.append(f"registered {version['ref']} from run {version['run_id']}: "
                 f"{version['status']} review (checks: {checks})")
    lines.append("next:")
    lines += [f"  - {step}" for step in made["next"]]
    return "\n".join(lines)
