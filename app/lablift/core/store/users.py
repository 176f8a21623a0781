"""Users and their Lablift roles. In a team store a user is a database login role, changed
only through the server's lablift_set_role() (which also audits); in an embedded store the
row is written here and audited by the Store."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql

from .schema import users as t
from .sql import Statement

ROLE_OF = Statement(select(t.c.role).where(t.c.name == bindparam("name")))
COUNT = Statement(select(func.count()).select_from(t))
ALL = Statement(select(t.c.name, t.c.role, t.c.created_at, t.c.created_by).order_by(t.c.name))
# another spelling of the same name: four-eyes compares names without case
TWIN = Statement(select(t.c.name).where(func.lower(t.c.name) == func.lower(bindparam("name")),
                                        t.c.name != bindparam("name")))
_upsert = postgresql.insert(t).values(name=bindparam("name"), role=bindparam("role"),
                                      created_at=bindparam("created_at"),
                                      created_by=bindparam("created_by"))
UPSERT = Statement(_upsert.on_conflict_do_update(index_elements=["name"],
                                                 set_={"role": _upsert.excluded.role}))
SET_ROLE = Statement(select(func.lablift_set_role(bindparam("name"), bindparam("role"))))
