"""What core/lineage.py walks the lineage graph with, for both engines.

Everything derived from a dataset version is read per dataset (joined through its runs), so
a lineage costs a dozen statements whatever the number of runs; the rest finds the dataset
an item descends from.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from .schema import (aliases, alerts, approvals, batches, bundles, model_versions as mv, runs,
                     sweeps)
from .sql import Statement

_of_dataset = runs.c.dataset_id == bindparam("dataset_id")
_versions_runs = mv.join(runs, runs.c.id == mv.c.run_id)


def _of_versions(table) -> object:
    """`table` (which has a version_id) joined to the runs its versions were registered from."""
    return table.join(mv, mv.c.id == table.c.version_id).join(runs, runs.c.id == mv.c.run_id)


# -- where an item comes from -------------------------------------------------------------------
DATASET_OF_RUN = Statement(select(runs.c.dataset_id).where(runs.c.id == bindparam("id")))
DATASET_OF_SWEEP = Statement(select(sweeps.c.dataset_id).where(sweeps.c.id == bindparam("id")))
DATASET_OF_VERSION = Statement(select(runs.c.dataset_id).select_from(_versions_runs)
                               .where(mv.c.id == bindparam("id")))
VERSION_OF_BUNDLE = Statement(select(bundles.c.version_id).where(bundles.c.id == bindparam("id")))
# a bundle folder: by the path it was exported to, else (moved) by its manifest's hash
BUNDLE_AT_PATH = Statement(select(bundles.c.id).where(bundles.c.path == bindparam("path"))
                           .order_by(bundles.c.id.desc()).limit(1))
BUNDLE_BY_MANIFEST = Statement(select(bundles.c.id)
                               .where(bundles.c.manifest_sha256 == bindparam("manifest_sha256"))
                               .order_by(bundles.c.id.desc()).limit(1))
VERSION_OF_BATCH = Statement(select(batches.c.version_id).where(batches.c.id == bindparam("id")))

# -- what derives from a dataset version ----------------------------------------------------------
SWEEPS_OF_DATASET = Statement(
    select(sweeps.c.id, sweeps.c.status, sweeps.c.best_run_id, sweeps.c.spec,
           sweeps.c.created_at, sweeps.c.created_by)
    .where(sweeps.c.dataset_id == bindparam("dataset_id")).order_by(sweeps.c.id))
RUNS_OF_DATASET = Statement(
    select(runs.c.id, runs.c.sweep_id, runs.c.reproduces, runs.c.status, runs.c.algorithm,
           runs.c.target, runs.c.created_at, runs.c.created_by)
    .where(_of_dataset).order_by(runs.c.id))
VERSIONS_OF_DATASET = Statement(
    select(mv.c.id, mv.c.model, mv.c.version, mv.c.run_id, mv.c.status, mv.c.challenger_of,
           mv.c.lineage, mv.c.attention, mv.c.created_at, mv.c.created_by)
    .select_from(_versions_runs).where(_of_dataset).order_by(mv.c.id))


def _version_rows_of_dataset(table, *columns: str, order_by=None) -> Statement:
    """`columns` of `table` for every version registered from a run on the dataset version."""
    return Statement(select(*(table.c[name] for name in columns))
                     .select_from(_of_versions(table)).where(_of_dataset)
                     .order_by(*(order_by if order_by is not None else (table.c.id,))))


APPROVALS_OF_DATASET = _version_rows_of_dataset(
    approvals, "id", "version_id", "decision", "user", "comment", "override_reason", "at")
ALIASES_OF_DATASET = _version_rows_of_dataset(
    aliases, "model", "alias", "version_id", "set_by", "set_at",
    order_by=(aliases.c.model, aliases.c.alias))
BUNDLES_OF_DATASET = _version_rows_of_dataset(
    bundles, "id", "version_id", "path", "manifest_sha256", "status", "created_at",
    "created_by")
BATCHES_OF_DATASET = _version_rows_of_dataset(
    batches, "id", "version_id", "source_path", "rows", "window", "label_column",
    "drift_share", "dataset_drift", "created_at", "created_by")
ALERTS_OF_DATASET = _version_rows_of_dataset(
    alerts, "id", "version_id", "batch_id", "kind", "message", "acknowledged_by")

# -- datasets linked to this one by a retrain (a challenger trained on another dataset) -----------
_champion = mv.alias("champion")
_champion_run = runs.alias("champion_run")
_challenging = mv.join(runs, runs.c.id == mv.c.run_id) \
    .join(_champion, _champion.c.id == mv.c.challenger_of) \
    .join(_champion_run, _champion_run.c.id == _champion.c.run_id)
# the datasets of the challengers of this dataset's versions
CHALLENGER_DATASETS = Statement(
    select(runs.c.dataset_id).select_from(_challenging)
    .where(_champion_run.c.dataset_id == bindparam("dataset_id")).distinct()
    .order_by(runs.c.dataset_id))
# the datasets of the champions this dataset's versions challenge
CHAMPION_DATASETS = Statement(
    select(_champion_run.c.dataset_id).select_from(_challenging)
    .where(runs.c.dataset_id == bindparam("dataset_id")).distinct()
    .order_by(_champion_run.c.dataset_id))
