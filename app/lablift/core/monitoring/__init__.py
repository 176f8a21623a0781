"""Monitoring: ingest production batches and prediction logs, measure them against the model
version's reference (its training rows), raise alerts, report over time, retrain.

- `ingest` reads a CSV/Parquet batch or a bundle's `serve.py --log` JSON-lines file, checks it
  against the version's input schema (findings, never crashes), computes drift per feature
  and on the prediction (core.drift), metrics when labels are present, request volume /
  latency / errors from logs, and records one `batches` row per window in one transaction
  with its alerts and audit entries. Alerts mark the version "attention needed".
- `report` gathers every batch of a version for charts and the CLI.
- `retrain` trains the same spec on the version's dataset plus the labelled batches but the
  newest (held out; with one batch, its newest rows) and registers the result as a pending
  challenger of the version, compared with it on the held-out rows.
- `watch` ingests the files dropped into a folder, once each (monitor watch).

Settings (store settings, keys `monitoring.*`, defaults in DEFAULTS): see settings.py.

The modules, in the order a batch meets them:
  settings     DEFAULTS, reading and changing the `monitoring.*` settings
  batch_files  reading a CSV/Parquet batch or a serve.py log
  windows      splitting a batch by day, week or rows
  reference    what a version's batches are measured against
  scorer       what scores a batch: the version's exact ONNX form (onnxruntime) or the pickle
  schema       checking a batch against the input schema (findings)
  ops          request volume, latency and error rate of a logged batch
  analysis     everything measured on one window, and the alerts it raises
  ingest       reading, measuring and recording a file's batches
  labels       late labels joined to logged requests
  batches      stored batches: Parquet rows, the batch view, counts
  alerts       listing and acknowledging alerts
  report       a version's batches over time, for charts and the CLI
  retrain      a challenger trained on the reference plus the labelled batches, compared on
               held-out rows
  shadow       champion vs challenger of a `serve.py --shadow` log
  watch        a folder watched for new batch files and logs
  values       value helpers (missing test, JSON-safe results)
The statements come from core/store/monitoring.py via `repository("monitoring")`.
"""

from __future__ import annotations

from .alerts import acknowledge, list_alerts
from .analysis import LOWER_IS_BETTER, analyse
from .batch_files import (ERROR_MARK, IGNORED_PREFIXES, LOG_FIELDS, LOG_SUFFIXES, read_batch,
                          read_log, require_inputs)
from .batches import batch_counts, batch_view, get_batch, load_batch_frame
from .ingest import IsCancelled, Progress, ingest, ingest_batches
from .labels import attach_labels
from .reference import Reference
from .report import batch_histogram, report
from .retrain import retrain
from .schema import check_schema
from .settings import DEFAULTS, NUMERIC_SETTINGS, settings, update_settings
from .windows import parse_window, split_windows

__all__ = [
    "DEFAULTS", "ERROR_MARK", "IGNORED_PREFIXES", "LOG_FIELDS", "LOG_SUFFIXES",
    "LOWER_IS_BETTER", "NUMERIC_SETTINGS", "IsCancelled", "Progress", "Reference",
    "acknowledge", "analyse", "attach_labels", "batch_counts", "batch_histogram",
    "batch_view", "check_schema", "get_batch", "ingest", "ingest_batches", "list_alerts",
    "load_batch_frame", "parse_window", "read_batch", "read_log", "report",
    "require_inputs", "retrain", "settings", "split_windows", "update_settings",
]
