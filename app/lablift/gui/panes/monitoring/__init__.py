"""The Monitoring pane: one model version's production batches against its training data.

Drift share per batch, the feature x batch drift heatmap, reference-vs-batch distributions of
the selected feature, metrics over time against the holdout figure and the gate, latency from
prediction logs, alerts (acknowledge), data-quality findings per batch, and "Retrain
challenger" (confirmed first). Reading, ingesting, acknowledging and retraining run in
workers through core.monitoring; the pane only draws.

  pane             the Pane: version picker, actions (gated by role), tasks, progress
  drift_tab        drift share, heatmap and the selected feature's distribution
  performance_tab  a metric over time, latency from prediction logs
  alerts_tab       alerts and Acknowledge
  batches_tab      the batches and the selected one's data-quality findings
  dialogs          ingest options, retrain confirmation, retrain result
  data             what is read in workers (versions, role, report), a file's columns
  common           shared names and HTML helpers
"""

from .common import NO_BATCHES, PREDICTION
from .data import load_monitoring, load_versions, peek_columns
from .dialogs import IngestOptionsDialog, RetrainConfirmDialog, RetrainDialog
from .pane import Pane

__all__ = ["NO_BATCHES", "PREDICTION", "IngestOptionsDialog", "Pane", "RetrainConfirmDialog",
           "RetrainDialog", "load_monitoring", "load_versions", "peek_columns"]
