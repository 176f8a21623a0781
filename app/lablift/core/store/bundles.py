"""Bundles: the statements core/bundles.py records and finds exports with, for both engines."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, or_, select, update

from .schema import bundles as b, model_versions as mv
from .sql import Statement

# A bundle row's columns in the order the stores have them (created_by before created_at,
# unlike schema.py's _created()), so that rows keep the shape `SELECT *` gave them.
COLUMNS = (b.c.id, b.c.version_id, b.c.path, b.c.manifest_sha256, b.c.created_by,
           b.c.created_at, b.c.status, b.c.files, b.c.tmp_path, b.c.host, b.c.pid)

RECORD_EXPORT = Statement(insert(b).values(**{c: bindparam(c) for c in (
    "version_id", "path", "manifest_sha256", "created_by", "created_at", "status", "files",
    "tmp_path", "host", "pid")}))
SET_STATUS = Statement(update(b).where(b.c.id == bindparam("id"))
                       .values(status=bindparam("status")))
# the export a bundle folder's manifest was recorded with (bundles before statuses: NULL)
RECORDED_EXPORT = Statement(select(b.c.id, b.c.files).where(
    b.c.version_id == bindparam("version_id"),
    b.c.manifest_sha256 == bindparam("manifest_sha256"),
    or_(b.c.status.is_(None), b.c.status == "exported")).order_by(b.c.id.desc()).limit(1))

_with_version = select(*COLUMNS, mv.c.model.label("name"), mv.c.version).select_from(
    b.join(mv, mv.c.id == b.c.version_id))
LIST = Statement(_with_version.order_by(b.c.id))
LIST_OF_VERSION = Statement(_with_version.where(b.c.version_id == bindparam("version_id"))
                            .order_by(b.c.id))
# what a version's detail shows of its exports
SUMMARIES_OF_VERSION = Statement(
    select(b.c.id, b.c.path, b.c.manifest_sha256, b.c.created_by, b.c.created_at)
    .where(b.c.version_id == bindparam("version_id")).order_by(b.c.id))
