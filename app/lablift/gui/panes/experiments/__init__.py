"""The Experiments pane: a training form, a queue of runs in workers, the runs table, run detail
and the comparison of several runs.

Everything goes through core (datasets, catalogue, training, registry), and every read or write
of the store runs in a worker: the pane's loads through PaneBase.start (the newest request of a
purpose wins), training and reproducing on the job queue's own thread.

    train_form   the form and the spec it describes
    sweep_form   the sweep dialog (grid or random, local or Dask) over the form's selection
    job_queue    jobs (train, sweep, reproduce) one after another, progress, the log
    runs_model   the runs tree (sorted in Python, sweeps grouped, best marked), its proxy
    runs_table   the runs columns, the worker that reads them, the view and selection
    filter       runs as flat records and the filter language
    run_panels   the run-detail plots, drawn one panel per event-loop turn
    detail       the shown run: header, metrics, params, spec, env; reproduce, register
    compare      several runs side by side
    pane         the Pane that puts them together
"""

from .common import STATE_ROLES, Cell, GridModel, best_brush
from .compare import load_compared, metric_rows, param_diff_rows
from .detail import metric_cells, param_cells
from .filter import FILTER_HELP, Term, filter_records, flatten_run, known_fields, parse_filter
from .job_queue import WARM_MODULES, Job, lower_thread_priority, warm_up_imports
from .pane import Pane
from .run_panels import PanelCanvas, RunPanels
from .runs_table import (CV_METRICS, KEY_METRICS, RunsFilterProxy, RunsTableModel,
                         load_pane_data, load_run_records, runs_columns)

__all__ = ["CV_METRICS", "Cell", "FILTER_HELP", "GridModel", "Job", "KEY_METRICS",
           "PanelCanvas", "Pane", "RunPanels", "RunsFilterProxy", "RunsTableModel",
           "STATE_ROLES", "Term", "WARM_MODULES", "filter_records", "flatten_run",
           "known_fields", "load_compared", "load_pane_data", "load_run_records",
           "lower_thread_priority", "metric_cells", "metric_rows", "param_cells",
           "param_diff_rows", "parse_filter", "runs_columns", "warm_up_imports"]


def __getattr__(name: str):
    # BEST_BRUSH as a name callers import: the brush of the scheme in use.
    if name == "BEST_BRUSH":
        return best_brush()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
