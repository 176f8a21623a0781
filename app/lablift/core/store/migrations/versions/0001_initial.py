"""The first schema (what stores of schema 1 hold). Frozen: never edit a released revision.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

T = sa.Text
I = sa.Integer  # noqa: E741
R = sa.Double().with_variant(sqlite.REAL(), "sqlite")  # 8 bytes; REAL as SQLite spells it


def _req(name, kind=T):
    return sa.Column(name, kind, nullable=False)


def _json(name, default):
    return sa.Column(name, T, nullable=False, server_default=sa.text(f"'{default}'"))


def _fk(name, target, nullable=False):
    return sa.Column(name, I, sa.ForeignKey(target), nullable=nullable)


def upgrade() -> None:
    op.create_table("settings", sa.Column("key", T, primary_key=True), _req("value"))
    op.create_table(
        "users", sa.Column("name", T, primary_key=True),
        sa.Column("role", T, sa.CheckConstraint("role IN ('analyst','reviewer','ops','admin')"),
                  nullable=False),
        _req("created_at"), sa.Column("created_by", T))
    op.create_table(
        "audit_log", sa.Column("seq", I, primary_key=True, autoincrement=False), _req("ts"),
        _req("user"), _req("action"), _req("entity"), _req("details"), _req("prev_hash"),
        _req("hash"))
    op.create_table(
        "datasets", sa.Column("id", I, primary_key=True), _req("name"), _req("version", I),
        _req("sha256"), _req("artifact"), sa.Column("source_path", T),
        sa.Column("source_format", T), sa.Column("encoding", T), sa.Column("delimiter", T),
        _req("rows", I), _req("columns", I), _req("schema"), _req("profile"),
        _req("created_at"), _req("created_by"),
        sa.UniqueConstraint("name", "version"), sa.UniqueConstraint("name", "sha256"))
    op.create_table(
        "sweeps", sa.Column("id", I, primary_key=True), _fk("dataset_id", "datasets.id"),
        _req("spec"), _req("status"), sa.Column("best_run_id", I), sa.Column("backend", T),
        _req("created_at"), _req("created_by"), sa.Column("finished_at", T))
    op.create_table(
        "runs", sa.Column("id", I, primary_key=True), _fk("dataset_id", "datasets.id"),
        _fk("sweep_id", "sweeps.id", True), _fk("reproduces", "runs.id", True),
        _req("status"), sa.Column("task", T), sa.Column("algorithm", T),
        sa.Column("target", T), _req("spec"), _req("params"), _json("metrics", "{}"),
        _json("artifacts", "{}"), _json("environment", "{}"), sa.Column("seed", I),
        sa.Column("predictions_sha256", T), sa.Column("error", T), _req("created_by"),
        _req("created_at"), sa.Column("started_at", T), sa.Column("finished_at", T),
        sa.Column("duration_s", R), sa.Column("host", T), sa.Column("pid", I))
    op.create_index("runs_dataset", "runs", ["dataset_id"])
    op.create_index("runs_sweep", "runs", ["sweep_id"])
    op.create_table(
        "models", sa.Column("name", T, primary_key=True),
        sa.Column("description", T, nullable=False, server_default=sa.text("''")),
        _json("gates", "[]"), _req("created_at"), _req("created_by"))
    op.create_table(
        "model_versions", sa.Column("id", I, primary_key=True),
        sa.Column("model", T, sa.ForeignKey("models.name"), nullable=False),
        _req("version", I), _fk("run_id", "runs.id"), _req("status"),
        sa.Column("description", T, nullable=False, server_default=sa.text("''")),
        _json("tags", "{}"), sa.Column("card", T), sa.Column("attention", T),
        sa.Column("archived", I, nullable=False, server_default=sa.text("0")),
        _fk("challenger_of", "model_versions.id", True), _json("lineage", "{}"),
        _req("created_at"), _req("created_by"), sa.UniqueConstraint("model", "version"))
    op.create_table(
        "aliases", sa.Column("model", T, sa.ForeignKey("models.name"), nullable=False),
        _req("alias"), _fk("version_id", "model_versions.id"), _req("set_by"), _req("set_at"),
        sa.PrimaryKeyConstraint("model", "alias"))
    op.create_table(
        "checks", sa.Column("id", I, primary_key=True),
        _fk("version_id", "model_versions.id"), _req("kind"), _req("name"),
        _req("passed", I), _req("details"), _req("created_at"))
    op.create_table(
        "approvals", sa.Column("id", I, primary_key=True),
        _fk("version_id", "model_versions.id"), _req("decision"), _req("user"),
        sa.Column("comment", T, nullable=False, server_default=sa.text("''")),
        sa.Column("override_reason", T), _req("at"))
    op.create_table(
        "bundles", sa.Column("id", I, primary_key=True),
        _fk("version_id", "model_versions.id"), _req("path"), _req("manifest_sha256"),
        _req("created_by"), _req("created_at"))
    op.create_table(
        "batches", sa.Column("id", I, primary_key=True),
        _fk("version_id", "model_versions.id"), sa.Column("source_path", T),
        sa.Column("sha256", T), sa.Column("artifact", T), sa.Column("rows", I),
        sa.Column("window", T), sa.Column("label_column", T),
        sa.Column("timestamp_column", T), sa.Column("drift_share", R),
        sa.Column("dataset_drift", I), _json("result", "{}"), _req("created_at"),
        _req("created_by"))
    op.create_index("batches_version", "batches", ["version_id"])
    op.create_table(
        "alerts", sa.Column("id", I, primary_key=True),
        _fk("version_id", "model_versions.id"), _fk("batch_id", "batches.id", True),
        _req("kind"), _req("message"), _req("created_at"), sa.Column("acknowledged_by", T),
        sa.Column("acknowledged_at", T))
