"""The audit chain's statements. An embedded store appends with APPEND_EMBEDDED (core/audit.py
computes the hash); a team store only through the server's lablift_audit function, which
computes it under the chain's lock and adds the row witnesses itself."""

from __future__ import annotations

from sqlalchemy import bindparam, func, insert, select

from .schema import audit_log as t, runs
from .sql import Statement

HEAD = Statement(select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1))
CHAIN = Statement(select(t.c.seq, t.c.ts, t.c.user, t.c.action, t.c.entity, t.c.details,
                         t.c.prev_hash, t.c.hash).order_by(t.c.seq))
LATEST = Statement(select(t).order_by(t.c.seq.desc()).limit(bindparam("limit")))
LATEST_OF = Statement(select(t).where(t.c.entity == bindparam("entity"))
                      .order_by(t.c.seq.desc()).limit(bindparam("limit")))
RUN_DATASET = Statement(select(runs.c.id, runs.c.dataset_id).where(runs.c.id == bindparam("id")))

APPEND_EMBEDDED = Statement(insert(t).values(**{c.name: bindparam(c.name) for c in t.c}))
APPEND_TEAM = Statement(select(func.lablift_audit(bindparam("action"), bindparam("entity"),
                                                  bindparam("details"))))
