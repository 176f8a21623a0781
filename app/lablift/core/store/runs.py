"""Runs: the statements that record a run (its start, its end), for both engines."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, update

from .schema import runs
from .sql import Statement

START = Statement(insert(runs).values(
    status="running",
    **{c: bindparam(c) for c in ("dataset_id", "sweep_id", "reproduces", "task", "algorithm",
                                 "target", "spec", "params", "seed", "created_by",
                                 "created_at", "started_at", "host", "pid", "environment",
                                 "details")}))

FINISH = Statement(update(runs).where(runs.c.id == bindparam("run_id")).values(
    **{c: bindparam(c) for c in ("status", "finished_at", "duration_s", "artifacts", "params",
                                 "metrics", "predictions_sha256", "details")}))

FAIL = Statement(update(runs).where(runs.c.id == bindparam("run_id")).values(
    **{c: bindparam(c) for c in ("status", "finished_at", "duration_s", "error", "details")}))
