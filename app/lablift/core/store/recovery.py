"""What a dead process left half-done: the statements core/recovery.py finds and settles it
with (runs and sweeps still running, exports still exporting, artifacts no row names)."""

from __future__ import annotations

from sqlalchemy import bindparam, exists, literal, select, union_all, update

from .schema import batches, bundles, datasets, runs, sweeps
from .sql import Statement

RUNNING_RUNS_ON = Statement(select(runs.c.id, runs.c.pid, runs.c.host).where(
    runs.c.status == "running", runs.c.host == bindparam("host")))
INTERRUPT_RUN = Statement(update(runs).where(runs.c.id == bindparam("id"),
                                             runs.c.status == "running")
                          .values(status="interrupted", finished_at=bindparam("finished_at"),
                                  error=bindparam("error")))
RUNNING_SWEEPS = Statement(select(sweeps.c.id, sweeps.c.pid, sweeps.c.host).where(
    sweeps.c.status == "running"))
RUNNING_RUNS_OF_SWEEP = Statement(select(runs.c.id).where(
    runs.c.sweep_id == bindparam("sweep_id"), runs.c.status == "running"))
INTERRUPT_SWEEP = Statement(update(sweeps).where(sweeps.c.id == bindparam("id"),
                                                 sweeps.c.status == "running")
                            .values(status="interrupted", finished_at=bindparam("finished_at")))


def _runs_of_sweep(status: str):
    return exists().where(runs.c.sweep_id == sweeps.c.id, runs.c.status == status)


# Sweeps from before they named their process: dead when no run of theirs still runs and
# one was interrupted.
ORPHANED_LEGACY_SWEEP = Statement(select(sweeps.c.id).where(
    sweeps.c.id == bindparam("id"), ~_runs_of_sweep("running"), _runs_of_sweep("interrupted")))

EXPORTING = Statement(select(bundles).where(bundles.c.status == "exporting"))
SETTLE_EXPORT = Statement(update(bundles).where(bundles.c.id == bindparam("id"),
                                                bundles.c.status == "exporting")
                          .values(status=bindparam("status")))

# Is an artifact named by any row? (the run's artifacts are a JSON document of hashes; a
# batch's result names the version's reference summary)
ARTIFACT_NAMED = Statement(union_all(
    select(literal(1)).where(datasets.c.artifact == bindparam("sha")),
    select(literal(1)).where(batches.c.artifact == bindparam("sha")),
    select(literal(1)).where(runs.c.artifacts.contains(bindparam("sha", type_=runs.c.artifacts
                                                                         .type))),
    select(literal(1)).where(batches.c.result.contains(bindparam("sha", type_=batches.c.result
                                                                        .type)))).limit(1))
