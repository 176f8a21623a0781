"""Model registry: the statements core/registry.py and core/modelcard.py read and write
models, model versions, aliases, checks and approvals with, for both engines.

Reads of a run or a dataset that only the registry makes (a version's lineage, a
reviewer's summary) are here too, next to the code that shapes them.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql

from .schema import (aliases, approvals, audit_log, checks, datasets, model_versions as mv,
                     models, runs)
from .sql import Statement


def _params(*names: str) -> dict:
    return {n: bindparam(n) for n in names}


# -- models ---------------------------------------------------------------------------------------
MODELS = Statement(select(models).order_by(models.c.name))
MODEL_NAMES = Statement(select(models.c.name).order_by(models.c.name))
MODEL_EXISTS = Statement(select(models.c.name).where(models.c.name == bindparam("name")))
MODEL_GATES = Statement(select(models.c.gates).where(models.c.name == bindparam("name")))
# the description (or the gates) a model is created without takes the column's default
CREATE_MODEL = Statement(insert(models).values(
    **_params("name", "description", "created_at", "created_by")))
CREATE_MODEL_WITH_GATES = Statement(insert(models).values(
    **_params("name", "gates", "created_at", "created_by")))
SET_GATES = Statement(update(models).where(models.c.name == bindparam("name"))
                      .values(gates=bindparam("gates")))

# -- versions -------------------------------------------------------------------------------------
VERSION_BY_ID = Statement(select(mv).where(mv.c.id == bindparam("id")))
VERSION_BY_NUMBER = Statement(select(mv).where(mv.c.model == bindparam("model"),
                                               mv.c.version == bindparam("version")))
LATEST_VERSION_OF = Statement(select(mv).where(mv.c.model == bindparam("model"))
                              .order_by(mv.c.version.desc()).limit(1))
LATEST_STATUS_OF = Statement(select(mv.c.version, mv.c.status)
                             .where(mv.c.model == bindparam("model"))
                             .order_by(mv.c.version.desc()).limit(1))
VERSION_NUMBERS_OF = Statement(select(mv.c.version).where(mv.c.model == bindparam("model"))
                               .order_by(mv.c.version))
VERSION_STATUSES_OF = Statement(select(mv.c.version, mv.c.status)
                                .where(mv.c.model == bindparam("model"))
                                .order_by(mv.c.version))
PENDING_VERSIONS = Statement(select(mv).where(mv.c.status == "pending")
                             .order_by(mv.c.created_at, mv.c.id))


def _versions(by_model: bool, by_status: bool) -> Statement:
    query = select(mv)
    if by_model:
        query = query.where(mv.c.model == bindparam("model"))
    if by_status:
        query = query.where(mv.c.status == bindparam("status"))
    return Statement(query.order_by(mv.c.model, mv.c.version))


# list_versions' four filters: VERSIONS[(by model?, by status?)]
VERSIONS = {(m, s): _versions(m, s) for m in (False, True) for s in (False, True)}

# a run still registered (pending or approved) as a version of the model: not again
REGISTERED_RUN = Statement(select(mv.c.model, mv.c.version, mv.c.status).where(
    mv.c.model == bindparam("model"), mv.c.run_id == bindparam("run_id"),
    # (not in_(): an expanding IN would need every value at compile time)
    or_(mv.c.status == "pending", mv.c.status == "approved"))
    .order_by(mv.c.version.desc()).limit(1))
NEXT_VERSION = Statement(select(func.coalesce(func.max(mv.c.version), 0) + 1)
                         .where(mv.c.model == bindparam("model")))
ADD_VERSION = Statement(insert(mv).values(**_params(
    "model", "version", "run_id", "status", "description", "tags", "card", "challenger_of",
    "lineage", "created_at", "created_by")))
# the decision and its re-check in one: rowcount 0 means decided meanwhile
APPROVE_PENDING = Statement(update(mv).where(mv.c.id == bindparam("id"),
                                             mv.c.status == "pending")
                            .values(status="approved"))
REJECT_PENDING = Statement(update(mv).where(mv.c.id == bindparam("id"),
                                            mv.c.status == "pending")
                           .values(status="rejected"))
ARCHIVE_VERSION = Statement(update(mv).where(mv.c.id == bindparam("id"))
                            .values(status="archived", archived=1))
SET_ATTENTION = Statement(update(mv).where(mv.c.id == bindparam("id"))
                          .values(attention=bindparam("attention")))

# -- model cards (core/modelcard.py) ------------------------------------------------------------
CARD_OF = Statement(select(mv.c.status, mv.c.card).where(mv.c.id == bindparam("id")))
SET_CARD = Statement(update(mv).where(mv.c.id == bindparam("id"))
                     .values(card=bindparam("card")))

# -- checks and approvals -----------------------------------------------------------------------
CHECKS_OF = Statement(select(checks).where(checks.c.version_id == bindparam("version_id"))
                      .order_by(checks.c.id))
ADD_CHECK = Statement(insert(checks).values(**_params(
    "version_id", "kind", "name", "passed", "details", "created_at")))
APPROVALS_OF = Statement(select(approvals)
                         .where(approvals.c.version_id == bindparam("version_id"))
                         .order_by(approvals.c.id))
LAST_DECISION = Statement(select(approvals)
                          .where(approvals.c.version_id == bindparam("version_id"))
                          .order_by(approvals.c.id.desc()).limit(1))
# approvals.user: SQLAlchemy quotes it on PostgreSQL, where USER is a reserved word
RECORD_APPROVAL = Statement(insert(approvals).values(**_params(
    "version_id", "decision", "user", "comment", "override_reason", "at")))

# -- aliases --------------------------------------------------------------------------------------
_alias_version = aliases.join(mv, mv.c.id == aliases.c.version_id)

ALIAS_TARGET = Statement(select(aliases.c.version_id).where(
    aliases.c.model == bindparam("model"), aliases.c.alias == bindparam("alias")))
ALIAS_WITH_VERSION = Statement(
    select(aliases.c.version_id, mv.c.version).select_from(_alias_version)
    .where(aliases.c.model == bindparam("model"), aliases.c.alias == bindparam("alias")))
ALIAS_NAMES_OF_MODEL = Statement(select(aliases.c.alias)
                                 .where(aliases.c.model == bindparam("model"))
                                 .order_by(aliases.c.alias))
ALIASES_OF_MODEL = Statement(select(aliases.c.alias, mv.c.version).select_from(_alias_version)
                             .where(aliases.c.model == bindparam("model"))
                             .order_by(aliases.c.alias))
ALIASES_OF_VERSION = Statement(select(aliases.c.alias)
                               .where(aliases.c.version_id == bindparam("version_id"))
                               .order_by(aliases.c.alias))


def _set_alias():
    # postgresql.insert: its ON CONFLICT (model, alias) DO UPDATE ... excluded.* compiles
    # to the same upsert on SQLite (>= 3.24) as on PostgreSQL; tests/test_store_sql_registry.py
    # pins both texts, so a SQLAlchemy that stops rendering it for SQLite fails there.
    new = postgresql.insert(aliases).values(**_params(
        "model", "alias", "version_id", "set_by", "set_at"))
    return new.on_conflict_do_update(
        index_elements=[aliases.c.model, aliases.c.alias],
        set_={c: new.excluded[c] for c in ("version_id", "set_by", "set_at")})


SET_ALIAS = Statement(_set_alias())
REMOVE_ALIAS = Statement(delete(aliases).where(aliases.c.model == bindparam("model"),
                                               aliases.c.alias == bindparam("alias")))
# a rollback's move, only from the target it planned from: rowcount 0 means moved meanwhile
# (Lablift's writers queue on one lock; this holds against any other client too)
MOVE_ALIAS = Statement(update(aliases).where(
    aliases.c.model == bindparam("model"), aliases.c.alias == bindparam("alias"),
    aliases.c.version_id == bindparam("old_version_id"))
    .values(**_params("version_id", "set_by", "set_at")))
# where past targets live: the model's alias entries of the audit chain, in order
ALIAS_HISTORY = Statement(
    select(audit_log.c.seq, audit_log.c.ts, audit_log.c.user, audit_log.c.action,
           audit_log.c.details)
    .where(audit_log.c.entity == bindparam("entity"),
           or_(audit_log.c.action == "alias.set", audit_log.c.action == "alias.remove"))
    .order_by(audit_log.c.seq))

# -- what the registry reads of runs and datasets ------------------------------------------------
RUN_BY_ID = Statement(select(runs).where(runs.c.id == bindparam("id")))
# the dataset as a version's lineage records it
DATASET_LINEAGE = Statement(select(datasets.c.id, datasets.c.name, datasets.c.version,
                                   datasets.c.sha256).where(datasets.c.id == bindparam("id")))
DATASET_SUMMARY = Statement(select(
    datasets.c.id, datasets.c.name, datasets.c.version, datasets.c.sha256, datasets.c.rows,
    datasets.c.columns, datasets.c.source_path, datasets.c.created_at, datasets.c.created_by)
    .where(datasets.c.id == bindparam("id")))
