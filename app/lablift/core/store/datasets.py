"""Dataset versions: the statements core/datasets.py reads and records them with."""

from __future__ import annotations

from sqlalchemy import bindparam, func, insert, literal, select

from .schema import datasets as t
from .sql import Statement

SUMMARY_COLUMNS = (t.c.id, t.c.name, t.c.version, t.c.sha256, t.c.rows, t.c.columns,
                   t.c.source_path, t.c.source_format, t.c.encoding, t.c.delimiter,
                   t.c.created_at, t.c.created_by)

SUMMARY_BY_CONTENT = Statement(select(*SUMMARY_COLUMNS).where(
    t.c.name == bindparam("name"), t.c.sha256 == bindparam("sha256")))
NEXT_VERSION = Statement(select(func.coalesce(func.max(t.c.version), 0) + 1).where(
    t.c.name == bindparam("name")))
INSERT = Statement(insert(t).values(**{c.name: bindparam(c.name) for c in t.c if c.name != "id"}))
NAMES_ARTIFACT = Statement(select(literal(1)).where(t.c.artifact == bindparam("artifact"))
                           .limit(1))
LIST = Statement(select(*SUMMARY_COLUMNS).order_by(t.c.name, t.c.version))
BY_ID = Statement(select(t).where(t.c.id == bindparam("id")))
BY_NAME_VERSION = Statement(select(t).where(t.c.name == bindparam("name"),
                                            t.c.version == bindparam("version")))
LATEST_BY_NAME = Statement(select(t).where(t.c.name == bindparam("name"))
                           .order_by(t.c.version.desc()).limit(1))
