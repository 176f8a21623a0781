"""Store settings: one JSON value per key (the audit head among them, written only by the
chain's own code)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql

from .schema import settings as t
from .sql import Statement

GET = Statement(select(t.c.value).where(t.c.key == bindparam("key")))
_upsert = postgresql.insert(t).values(key=bindparam("key"), value=bindparam("value"))
# (PostgreSQL's ON CONFLICT construct: it compiles to the same clause on SQLite)
UPSERT = Statement(_upsert.on_conflict_do_update(index_elements=["key"],
                                                 set_={"value": _upsert.excluded.value}))
