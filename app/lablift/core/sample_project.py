"""The sample project: a first look at every step of the lifecycle, made in an empty store.

`create(store)` does what an analyst would do, through the same core calls (so each step
checks the same rules and appends the same audit entries as when a person does it):

1. import the bundled sample_loans.csv (2,000 loan applications) as dataset `sample_loans`;
2. train two runs on it, predicting `approved`, with `gender` as the sensitive column for the
   fairness report: a logistic regression and a small random forest (a few seconds together);
3. register the better of the two (the sweeps' rule: best cross-validated ROC AUC) as model
   `loans-sample` version 1, with the store's default checks. It is then pending review.

Who may: the role the steps need, analyst (admin may do everything an analyst may). The first
user of a new embedded store is its admin, so in a fresh store the sample project simply runs
as them. It is recorded under their name like any other work, and the four-eyes rule holds:
having trained and registered loans-sample:1, they cannot approve it; a reviewer must.

Only an empty store (no dataset, run or model yet) gets a sample project: in a store with work
in it, sample runs and a sample model would mix with real ones.

Cancelling: `cancelled()` is checked between the steps and inside the import and each run. A
cancelled create keeps the steps it completed: each one is whole and audited (an import is
recorded whole or not at all; a run stopped halfway is recorded as cancelled, as when a user
cancels one). The store is then no longer empty, so a second create refuses; the remaining
steps can be done by hand in Experiments.
"""

from __future__ import annotations

from typing import Any, Callable

from ..resources import SAMPLE_LOANS
from . import datasets, registry  # training (pandas, scikit-learn) only in create()
from .errors import Cancelled, LabliftError
from .run_listing import list_runs
from .store import Store

Progress = Callable[[float, str], None]
IsCancelled = Callable[[], bool]

DATASET = "sample_loans"  # the name File → Open sample data imports it under
MODEL = "loans-sample"
TARGET = "approved"
SENSITIVE = "gender"
CV_FOLDS = 3
# (algorithm, hyperparameters): small enough that both train in a few seconds
RUNS = (("logistic_regression", {"C": 1.0}),
        ("random_forest", {"n_estimators": 60, "max_depth": 6, "min_samples_leaf": 5}))
# Progress fractions at which each step starts: import, the runs, register, done.
STEPS = (0.0, 0.08, 0.5, 0.92, 1.0)


def contents(store: Store) -> dict[str, int]:
    """How many dataset versions, runs and models the store holds."""
    return {"datasets": len(datasets.list_datasets(store)),
            "runs": len(list_runs(store)),
            "models": len(registry.list_models(store))}


def is_empty(store: Store) -> bool:
    return not any(contents(store).values())


def refusal(store: Store) -> str | None:
    """Why `create` would refuse in this store for this user (None: it would not)."""
    try:
        store.require_role("creating the sample project", "analyst")
    except LabliftError as exc:
        return str(exc)
    held = contents(store)
    if any(held.values()):
        parts = [f"{n} {what if n != 1 else what.rstrip('s')}" for what, n in
                 (("dataset versions", held["datasets"]), ("runs", held["runs"]),
                  ("models", held["models"])) if n]
        return (f"the sample project is made only in an empty store, and store {store.root} "
                f"already holds {', '.join(parts)}; open a new, empty store folder to try it")
    return None


def create(store: Store, progress: Progress | None = None,
           cancelled: IsCancelled | None = None) -> dict[str, Any]:
    """Make the sample project (see the module doc). Returns what was made: `dataset` (its
    summary), `runs` (id, algorithm, label, params, metric, value, source: cv or holdout),
    `best_run`, `metric`,
    `version` (summary with `ref` and `checks`) and `next` (what to do next, sentences; the
    second is the review)."""
    from . import catalogue, evaluation, sweeps, training
    store.require_role("creating the sample project", "analyst")  # PermissionDenied
    why = refusal(store)
    if why is not None:
        raise LabliftError(why)
    done: list[str] = []

    def check(next_step: str) -> None:
        if cancelled is not None and cancelled():
            kept = (" and ".join(done) + " stay" if done else "nothing was made")
            raise Cancelled(f"sample project cancelled before {next_step}: {kept}")

    def within(step: int) -> Progress:
        low, high = STEPS[step], STEPS[step + 1]

        def report(fraction: float, message: str) -> None:
            if progress is not None:
                progress(low + (high - low) * max(0.0, min(1.0, fraction)), message)
        return report

    within(0)(0.0, "Importing the sample data")
    row = datasets.import_dataset(store, SAMPLE_LOANS, name=DATASET, progress=within(0),
                                  cancelled=cancelled)
    ref = f"{row['name']}:{row['version']}"
    done.append(f"dataset {ref}")

    runs = []
    for step, (algorithm, params) in enumerate(RUNS, start=1):
        label = catalogue.get(algorithm).label
        check(f"training the {label.lower()}")
        report = within(step)

        def run_progress(fraction: float, message: str, label: str = label) -> None:
            report(fraction, f"{label}: {message}")
        run = training.train(store, {"dataset": ref, "target": TARGET, "algorithm": algorithm,
                                     "params": dict(params), "cv": CV_FOLDS,
                                     "sensitive": SENSITIVE},
                             progress=run_progress, cancelled=cancelled)
        runs.append(run)
        done.append(f"run {run['id']} ({label.lower()})")

    task = runs[0]["task"]
    best, metric = sweeps.best_run(task, runs)
    if best is None:  # cannot happen with finished runs; say so rather than guess
        raise LabliftError(f"neither sample run has a {metric} to compare; nothing registered")
    check(f"registering run {best} as {MODEL}")
    within(3)(0.0, f"Registering run {best} as {MODEL}")
    version = registry.register(store, best, MODEL,
                                description="Sample project: the better of two first runs "
                                            "on the bundled loan applications")
    within(3)(1.0, f"{MODEL}:{version['version']} is pending review")
    vref = f"{version['model']}:{version['version']}"
    out_runs = []
    for run in runs:
        name, value, source = evaluation.primary_metric(task, run["metrics"])
        out_runs.append({"id": run["id"], "algorithm": run["algorithm"],
                         "label": catalogue.get(run["algorithm"]).label,
                         "params": run["params"], "metric": name, "value": value,
                         "source": source})
    return {"dataset": datasets.summary(row), "runs": out_runs, "best_run": best,
            "metric": metric,
            "version": {**registry.summary(version), "name": version["model"], "ref": vref,
                        "checks": [{"name": c["name"], "passed": bool(c["passed"]),
                                    "informational": bool(c.get("informational"))}
                                   for c in version["checks"]]},
            "next": next_steps(store, vref)}


def next_steps(store: Store, vref: str) -> list[str]:
    """What to do after the sample project, for this store's people: the second sentence is
    the review (four-eyes: the creator cannot approve what they trained and registered)."""
    others = [u for u in store.users()
              if u["role"] in ("reviewer", "admin") and u["name"].casefold()
              != store.user.casefold()]
    steps = [f"Compare the two runs in Experiments, and look at {vref}'s checks and lineage "
             f"in Registry"]
    if others:
        who = ", ".join(f"{u['name']} ({u['role']})" for u in others[:3])
        steps.append(f"Open Approvals as a reviewer ({who}) to approve {vref}")
    else:
        adds = "as the admin you add one" if store.role() == "admin" else "an admin adds one"
        steps += [f"Open Approvals as a reviewer to approve {vref}",
                  f"{store.user} trained and registered {vref}, so under the four-eyes rule "
                  f"someone else must approve it: nobody else here is a reviewer yet ({adds} "
                  f"with `lablift users add NAME --role reviewer`)"]
    steps.append("Once it is approved, ops set its production alias and export its bundle in "
                 "Registry")
    return steps
