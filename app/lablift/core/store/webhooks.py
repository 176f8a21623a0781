"""Webhooks and their delivery outbox: the statements core/webhooks.py records and reads
them with (tables: schema.py, migration 0006)."""

from __future__ import annotations

from sqlalchemy import bindparam, exists, func, insert, literal, literal_column, select, update

from .schema import audit_log, model_versions, runs, webhook_deliveries as d, webhooks as w
from .sql import Statement

# what a subscriber may name; core/webhooks.EVENTS (tests/test_webhooks.py checks they agree)
EVENTS = ("version.register", "version.approve", "version.reject", "version.attention",
          "monitor.retrain")

ADD = Statement(insert(w).values(
    **{c: bindparam(c) for c in ("url", "events", "secret", "created_at", "created_by")}))
BY_ID = Statement(select(w).where(w.c.id == bindparam("id")))
LIVE = Statement(select(w.c.id, w.c.url, w.c.events, w.c.created_at, w.c.created_by)
                 .where(w.c.removed_at.is_(None)).order_by(w.c.id))
REMOVE = Statement(update(w).where(w.c.id == bindparam("id"), w.c.removed_at.is_(None))
                   .values(removed_at=bindparam("removed_at"), removed_by=bindparam("removed_by"),
                           secret=""))
# a new secret for a live webhook (core/webhooks.rotate); its pending deliveries are signed
# with it when sent
ROTATE = Statement(update(w).where(w.c.id == bindparam("id"), w.c.removed_at.is_(None))
                   .values(secret=bindparam("secret")))
PENDING_OF = Statement(select(func.count()).select_from(d)
                       .where(d.c.webhook_id == bindparam("id"), d.c.state == "pending"))
CANCEL_PENDING = Statement(update(d).where(d.c.webhook_id == bindparam("id"),
                                           d.c.state == "pending")
                           .values(state="cancelled", last_error=bindparam("why")))

# The embedded store's outbox (a team store's server does this in a trigger): one pending
# delivery per live webhook whose events name the entry's action.
_events = func.json_each(w.c.events).table_valued("value")
_wanted = exists(select(literal(1)).select_from(_events)
                 .where(_events.c.value == bindparam("action")))
OUTBOX = Statement(insert(d).from_select(
    ["webhook_id", "seq", "event", "delivery_id", "state", "attempts", "next_attempt_at",
     "created_at"],
    select(w.c.id, bindparam("seq"), bindparam("action"),
           func.lower(func.hex(func.randomblob(16))), literal("pending"), literal(0),
           bindparam("ts"), bindparam("ts"))
    .where(w.c.removed_at.is_(None), _wanted).order_by(w.c.id)))
OF_SEQ = Statement(select(func.count()).select_from(d).where(d.c.seq == bindparam("seq")))
ADD_TEST = Statement(insert(d).values(
    **{c: bindparam(c) for c in ("webhook_id", "event", "delivery_id", "state", "attempts",
                                 "next_attempt_at", "created_at")}))

# Due: pending and its next attempt's time has come (a claimed delivery's time is moved on by
# CLAIM, so two deliverers never send the same attempt at once).
DUE = Statement(select(d.c.id).where(d.c.state == "pending",
                                     d.c.next_attempt_at <= bindparam("now"))
                .order_by(d.c.id).limit(bindparam("limit")))
# a claim counts the attempt and says so until its outcome is recorded (SETTLE)
CLAIM = Statement(update(d).where(d.c.id == bindparam("id"), d.c.state == "pending",
                                  d.c.next_attempt_at <= bindparam("now"))
                  .values(next_attempt_at=bindparam("lease_until"), attempts=d.c.attempts + 1,
                          last_error=bindparam("abandoned")))
# what one attempt needs: the delivery, its webhook (URL, secret) and its audit entry
WORK = Statement(
    select(d.c.id, d.c.webhook_id, d.c.seq, d.c.event, d.c.delivery_id, d.c.attempts,
           d.c.last_error, d.c.created_at, w.c.url, w.c.secret, w.c.removed_at,
           w.c.events.label("webhook_events"), audit_log.c.action.label("audit_action"),
           audit_log.c.ts.label("audit_ts"), audit_log.c.user.label("audit_user"),
           audit_log.c.entity.label("audit_entity"), audit_log.c.details.label("audit_details"),
           audit_log.c.hash.label("audit_hash"))
    .join(w, w.c.id == d.c.webhook_id)
    .outerjoin(audit_log, audit_log.c.seq == d.c.seq)
    .where(d.c.id == bindparam("id")))
SETTLE = Statement(update(d).where(d.c.id == bindparam("id"))
                   .values(state=bindparam("state"), attempts=bindparam("attempts"),
                           next_attempt_at=bindparam("next_attempt_at"),
                           last_status=bindparam("last_status"),
                           last_error=bindparam("last_error"),
                           delivered_at=bindparam("delivered_at")))
LOG = Statement(select(d.c.id, d.c.webhook_id, d.c.seq, d.c.event, d.c.delivery_id, d.c.state,
                       d.c.attempts, d.c.next_attempt_at, d.c.last_status, d.c.last_error,
                       d.c.created_at, d.c.delivered_at)
                .order_by(d.c.id.desc()).limit(bindparam("limit")))
DELIVERY = Statement(select(d).where(d.c.id == bindparam("id")))

# entries since `seq` that may concern someone (gui/event_notifier.py), with what decides whom
SINCE = Statement(select(audit_log.c.seq, audit_log.c.ts, audit_log.c.user, audit_log.c.action,
                         audit_log.c.entity, audit_log.c.details)
                  .where(audit_log.c.seq > bindparam("seq"),
                         audit_log.c.action.in_(
                             [literal_column(f"'{e}'") for e in EVENTS]))  # no expanding bind
                  .order_by(audit_log.c.seq).limit(bindparam("limit")))
# who a version's events concern: who registered it and who trained its run
PEOPLE_OF_VERSION = Statement(
    select(model_versions.c.created_by, runs.c.created_by.label("trainer"))
    .join(runs, runs.c.id == model_versions.c.run_id)
    .where(model_versions.c.model == bindparam("model"),
           model_versions.c.version == bindparam("version")))
NEXT_DUE = Statement(select(func.min(d.c.next_attempt_at)).where(d.c.state == "pending"))

# the embedded store's baseline at schema 7 (core/webhook_baseline.py)
WITNESSED_BEFORE = Statement(select(literal(1)).select_from(audit_log)
                             .where(func.instr(audit_log.c.details, bindparam("key")) > 0)
                             .limit(1))  # SQLite's instr: only the embedded store asks
ALL_HOOKS = Statement(select(w).order_by(w.c.id))
HOOK_ENTRIES = Statement(select(audit_log.c.seq, audit_log.c.user, audit_log.c.action,
                                audit_log.c.entity, audit_log.c.details)
                         .where(audit_log.c.action.in_([literal_column("'webhook.add'"),
                                                        literal_column("'webhook.remove'")]))
                         .order_by(audit_log.c.seq))
