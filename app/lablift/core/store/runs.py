"""Runs: the statements that record a run (its start, its end) and read the table back,
whole or by parts, for both engines."""

from __future__ import annotations

from sqlalchemy import Integer, bindparam, func, insert, select, update

from .schema import runs
from .sql import Statement

START = Statement(insert(runs).values(
    status="running",
    **{c: bindparam(c) for c in ("dataset_id", "sweep_id", "reproduces", "task", "algorithm",
                                 "target", "spec", "params", "seed", "created_by",
                                 "created_at", "started_at", "host", "pid", "environment",
                                 "details")}))

# Only a run still running is finished or failed: one another process marked interrupted
# (its process looked dead from here) keeps that verdict.
FINISH = Statement(update(runs).where(runs.c.id == bindparam("run_id"),
                                     runs.c.status == "running").values(
    **{c: bindparam(c) for c in ("status", "finished_at", "duration_s", "artifacts", "params",
                                 "metrics", "predictions_sha256", "details")}))

FAIL = Statement(update(runs).where(runs.c.id == bindparam("run_id"),
                                   runs.c.status == "running").values(
    **{c: bindparam(c) for c in ("status", "finished_at", "duration_s", "error", "details")}))

BY_ID = Statement(select(runs).where(runs.c.id == bindparam("id")))

SUMMARY_COLUMNS = ("id", "dataset_id", "sweep_id", "reproduces", "status", "task",
                   "algorithm", "target", "seed", "params", "metrics", "error", "created_by",
                   "created_at", "finished_at", "duration_s")
FILTERS = ("dataset_id", "status", "sweep_id", "algorithm")


def _listing(filters: tuple[str, ...], full: bool, limited: bool) -> Statement:
    columns = [runs] if full else [runs.c[name] for name in SUMMARY_COLUMNS]
    query = select(*columns).where(*(runs.c[f] == bindparam(f) for f in filters)) \
        .order_by(runs.c.id.desc())
    if limited:
        query = query.limit(bindparam("limit", type_=Integer))
    return Statement(query)


# Runs newest first, WHERE each named filter column = :column (filters in FILTERS order),
# LIMIT :limit if limited: one statement per combination, keyed (filters, full, limited).
LISTING = {(tuple(f for i, f in enumerate(FILTERS) if mask >> i & 1), full, limited):
           _listing(tuple(f for i, f in enumerate(FILTERS) if mask >> i & 1), full, limited)
           for mask in range(1 << len(FILTERS)) for full in (False, True)
           for limited in (False, True)}

# Reading the table by parts: a reader that holds the runs up to some id needs only those
# recorded after it, and those it holds as running, the only rows that still change (FINISH,
# FAIL and recovery's INTERRUPT_RUN all require status 'running'). COUNT_UPTO tells it
# whether a run below its last id committed after it read (PostgreSQL hands out ids before
# commit), and IDS which.
_SUMMARY = [runs.c[name] for name in SUMMARY_COLUMNS]
SUMMARY_AFTER = Statement(select(*_SUMMARY).where(runs.c.id > bindparam("after"))
                          .order_by(runs.c.id))
SUMMARY_OF = Statement(select(*_SUMMARY).where(runs.c.id == bindparam("id")))
COUNT_UPTO = Statement(select(func.count()).select_from(runs)
                       .where(runs.c.id <= bindparam("upto")))
IDS_UPTO = Statement(select(runs.c.id).where(runs.c.id <= bindparam("upto")))
IDS_AFTER = Statement(select(runs.c.id).where(runs.c.id > bindparam("after"))
                      .order_by(runs.c.id))
MAX_ID = Statement(select(func.max(runs.c.id)))

# A whole row at once: runs recorded in bulk (core/run_bulk.py).
RECORD_COLUMNS = ("dataset_id", "sweep_id", "reproduces", "status", "task", "algorithm",
                  "target", "spec", "params", "metrics", "artifacts", "environment", "seed",
                  "predictions_sha256", "error", "created_by", "created_at", "started_at",
                  "finished_at", "duration_s", "host", "pid", "details")
RECORD = Statement(insert(runs).values(**{c: bindparam(c) for c in RECORD_COLUMNS}))
