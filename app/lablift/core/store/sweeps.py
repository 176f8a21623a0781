"""Sweeps: the statements core/sweeps.py records and reads them with."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update

from .schema import sweeps as t
from .sql import Statement

START = Statement(insert(t).values(
    status="running", **{c: bindparam(c) for c in ("dataset_id", "spec", "backend",
                                                   "created_at", "created_by", "host", "pid")}))
FINISH = Statement(update(t).where(t.c.id == bindparam("id")).values(
    status=bindparam("status"), best_run_id=bindparam("best_run_id"),
    finished_at=bindparam("finished_at")))
BY_ID = Statement(select(t).where(t.c.id == bindparam("id")))
LIST = Statement(select(t).order_by(t.c.id.desc()))
