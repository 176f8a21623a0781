"""The lineage store's schema, defined once for both engines (SQLAlchemy Core).

The embedded SQLite store and the team store on PostgreSQL are made from these tables (by
the Alembic migrations beside this file, which must arrive at exactly this). Types are the
portable ones: Text, Integer, Float; JSON is kept as text, byte for byte, because every
governed row is witnessed by the hash of its stored values (core/witness.py) and a copy of a
store must give the same hashes on either engine.
"""

from __future__ import annotations

from sqlalchemy import (BigInteger, CheckConstraint, Column, Double, ForeignKey, Index, Integer,
                        LargeBinary, MetaData, PrimaryKeyConstraint, Table, Text,
                        UniqueConstraint, text)
from sqlalchemy.dialects import sqlite

# 8-byte floats on both engines, spelled REAL in SQLite as the stores always were
Float = Double().with_variant(sqlite.REAL(), "sqlite")

ROLES = ("analyst", "reviewer", "ops", "admin")

metadata = MetaData()


def _json(name: str, default: str | None = None) -> Column:
    """A JSON document stored as text (see the module doc for why not JSONB)."""
    if default is None:
        return Column(name, Text, nullable=False)
    return Column(name, Text, nullable=False, server_default=text(f"'{default}'"))


def _created() -> list[Column]:
    return [Column("created_at", Text, nullable=False), Column("created_by", Text, nullable=False)]


settings = Table(
    "settings", metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False))

users = Table(
    "users", metadata,
    Column("name", Text, primary_key=True),
    Column("role", Text, CheckConstraint("role IN ('analyst','reviewer','ops','admin')"),
           nullable=False),
    Column("created_at", Text, nullable=False),
    Column("created_by", Text))

audit_log = Table(
    "audit_log", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("entity", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False))

datasets = Table(
    "datasets", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("artifact", Text, nullable=False),
    Column("source_path", Text), Column("source_format", Text), Column("encoding", Text),
    Column("delimiter", Text),
    Column("rows", Integer, nullable=False),
    Column("columns", Integer, nullable=False),
    _json("schema"), _json("profile"),
    *_created(),
    UniqueConstraint("name", "version"), UniqueConstraint("name", "sha256"))

sweeps = Table(
    "sweeps", metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    _json("spec"),
    Column("status", Text, nullable=False),
    Column("best_run_id", Integer),
    Column("backend", Text),
    *_created(),
    Column("finished_at", Text),
    Column("host", Text), Column("pid", Integer))

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("sweep_id", Integer, ForeignKey("sweeps.id")),
    Column("reproduces", Integer, ForeignKey("runs.id")),
    Column("status", Text, nullable=False),
    Column("task", Text), Column("algorithm", Text), Column("target", Text),
    _json("spec"), _json("params"),
    _json("metrics", "{}"), _json("artifacts", "{}"), _json("environment", "{}"),
    Column("seed", Integer),
    Column("predictions_sha256", Text),
    Column("error", Text),
    Column("created_by", Text, nullable=False), Column("created_at", Text, nullable=False),
    Column("started_at", Text), Column("finished_at", Text), Column("duration_s", Float),
    Column("host", Text), Column("pid", Integer),
    _json("details", "{}"))
Index("runs_dataset", runs.c.dataset_id)
Index("runs_sweep", runs.c.sweep_id)
Index("runs_running", runs.c.status, sqlite_where=text("status = 'running'"),
      postgresql_where=text("status = 'running'"))

models = Table(
    "models", metadata,
    Column("name", Text, primary_key=True),
    Column("description", Text, nullable=False, server_default=text("''")),
    _json("gates", "[]"),
    *_created())

model_versions = Table(
    "model_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("model", Text, ForeignKey("models.name"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("status", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
    _json("tags", "{}"),
    Column("card", Text),
    Column("attention", Text),
    Column("archived", Integer, nullable=False, server_default=text("0")),
    Column("challenger_of", Integer, ForeignKey("model_versions.id")),
    _json("lineage", "{}"),
    *_created(),
    UniqueConstraint("model", "version"))

aliases = Table(
    "aliases", metadata,
    Column("model", Text, ForeignKey("models.name"), nullable=False),
    Column("alias", Text, nullable=False),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("set_by", Text, nullable=False),
    Column("set_at", Text, nullable=False),
    PrimaryKeyConstraint("model", "alias"))

checks = Table(
    "checks", metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("passed", Integer, nullable=False),
    _json("details"),
    Column("created_at", Text, nullable=False))

approvals = Table(
    "approvals", metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("decision", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("comment", Text, nullable=False, server_default=text("''")),
    Column("override_reason", Text),
    Column("at", Text, nullable=False))

bundles = Table(
    "bundles", metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("path", Text, nullable=False),
    Column("manifest_sha256", Text, nullable=False),
    Column("created_by", Text, nullable=False), Column("created_at", Text, nullable=False),
    Column("status", Text), Column("files", Text), Column("tmp_path", Text),
    Column("host", Text), Column("pid", Integer))

batches = Table(
    "batches", metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("source_path", Text), Column("sha256", Text), Column("artifact", Text),
    Column("rows", Integer), Column("window", Text),
    Column("label_column", Text), Column("timestamp_column", Text),
    Column("drift_share", Float), Column("dataset_drift", Integer),
    _json("result", "{}"),
    *_created())
Index("batches_version", batches.c.version_id)

alerts = Table(
    "alerts", metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("batch_id", Integer, ForeignKey("batches.id")),
    Column("kind", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("acknowledged_by", Text), Column("acknowledged_at", Text))

# Artifacts of a team store (core/store/blobs.py): content-addressed, in 1 MiB chunks. An
# embedded store keeps its artifacts as files and leaves these empty.
blobs = Table(
    "blobs", metadata,
    Column("sha256", Text, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    *_created())

blob_chunks = Table(
    "blob_chunks", metadata,
    Column("sha256", Text, ForeignKey("blobs.sha256"), nullable=False),
    Column("n", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("sha256", "n"))

# Webhooks (core/webhooks.py, migrations 0006, 0007): where events are POSTed, and the outbox
# of deliveries, one row per (webhook, audit entry), inserted in the entry's own transaction.
# `webhooks` is governed (witnessed since 0007); deliveries are not: their state changes after
# the event, unaudited. On a team store only lablift_admin reads or writes `webhooks`.
webhooks = Table(
    "webhooks", metadata,
    Column("id", Integer, primary_key=True),
    Column("url", Text, nullable=False),
    _json("events"),
    Column("secret", Text, nullable=False),
    *_created(),
    Column("removed_at", Text), Column("removed_by", Text))

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id"), nullable=False),
    Column("seq", Integer, ForeignKey("audit_log.seq")),  # NULL: a `webhooks test` delivery
    Column("event", Text, nullable=False),
    Column("delivery_id", Text, nullable=False, unique=True),
    Column("state", Text, nullable=False),  # pending, delivered, failed, cancelled
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Text, nullable=False),
    Column("last_status", Integer), Column("last_error", Text),
    Column("created_at", Text, nullable=False), Column("delivered_at", Text),
    UniqueConstraint("webhook_id", "seq"))
Index("webhook_deliveries_due", webhook_deliveries.c.state, webhook_deliveries.c.next_attempt_at)

# Stores made before Alembic number their schema here (1..3); kept so an old Lablift
# opening a newer store still refuses it by number.
schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", Text, nullable=False))
