"""Monitoring batches and alerts: the statements core/monitoring/ records and reads them
with."""

from __future__ import annotations

from sqlalchemy import bindparam, func, insert, select, update

from .schema import alerts, batches, model_versions
from .sql import Statement

BATCH_COUNTS = Statement(select(batches.c.version_id, func.count().label("n"))
                         .group_by(batches.c.version_id))
SAME_SOURCE = Statement(select(batches.c.id, batches.c.label_column, batches.c.timestamp_column,
                               batches.c.result)
                        .where(batches.c.version_id == bindparam("version_id"),
                               batches.c.sha256 == bindparam("sha256")))
INSERT_BATCH = Statement(insert(batches).values(
    **{c.name: bindparam(c.name) for c in batches.c if c.name != "id"}))
BATCH_BY_ID = Statement(select(batches).where(batches.c.id == bindparam("id")))
# the newest batch's result names the version's reference summary (monitoring/reference.py)
LATEST_RESULT = Statement(select(batches.c.result)
                          .where(batches.c.version_id == bindparam("version_id"))
                          .order_by(batches.c.id.desc()).limit(1))
BATCHES_OF = Statement(select(batches).where(batches.c.version_id == bindparam("version_id"))
                       .order_by(batches.c.id))
LABELLED_BATCHES_OF = Statement(select(batches).where(
    batches.c.version_id == bindparam("version_id"), batches.c.label_column.is_not(None))
    .order_by(batches.c.id))
SET_LABELS = Statement(update(batches).where(batches.c.id == bindparam("id")).values(
    artifact=bindparam("artifact"), label_column=bindparam("label_column"),
    result=bindparam("result")))

INSERT_ALERT = Statement(insert(alerts).values(
    **{c: bindparam(c) for c in ("version_id", "batch_id", "kind", "message", "created_at")}))
ALERT_BY_ID = Statement(select(alerts).where(alerts.c.id == bindparam("id")))
ACKNOWLEDGE = Statement(update(alerts).where(alerts.c.id == bindparam("id")).values(
    acknowledged_by=bindparam("acknowledged_by"), acknowledged_at=bindparam("acknowledged_at")))
OPEN_ALERTS = Statement(select(func.count()).select_from(alerts).where(
    alerts.c.version_id == bindparam("version_id"), alerts.c.acknowledged_by.is_(None)))
_ALERTS = select(alerts, model_versions.c.model, model_versions.c.version).join(
    model_versions, model_versions.c.id == alerts.c.version_id)
ALL_ALERTS = Statement(_ALERTS.order_by(alerts.c.id))
ALERTS_OF = Statement(_ALERTS.where(alerts.c.version_id == bindparam("version_id"))
                      .order_by(alerts.c.id))
SET_LINEAGE = Statement(update(model_versions).where(model_versions.c.id == bindparam("id"))
                        .values(lineage=bindparam("lineage"),
                                challenger_of=bindparam("challenger_of")))
