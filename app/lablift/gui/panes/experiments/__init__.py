"""The Experiments pane: a training form, a queue of runs in workers, the runs table, run detail
and the comparison of several runs.

Everything goes through core (datasets, catalogue, training, registry), and every read or write
of the store runs in a worker: the pane's loads through PaneBase.start (the newest request of a
purpose wins), training and reproducing on the job queue's own thread.

    train_form   the form and the spec it describes
    job_queue    jobs training one after another, progress, the log
    runs_table   the runs model (sorted in Python), its proxy, columns and selection
    filter       runs as flat records and the filter language
    run_panels   the run-detail plots, drawn one panel per event-loop turn
    detail       the shown run: header, metrics, params, spec, env; reproduce, register
    compare      several runs side by side
    pane         the Pane that puts them together
"""

from .common import BEST_BRUSH, STATE_COLORS, Cell, GridModel
from .compare import load_compared, metric_rows, param_diff_rows
from .detail import metric_cells, param_cells
from .filter import FILTER_HELP, Term, filter_records, flatten_run, known_fields, parse_filter
from .job_queue import WARM_MODULES, Job, lower_thread_priority, warm_up_imports
from .pane import Pane
from .run_panels import PanelCanvas, RunPanels
from .runs_table import (CV_METRICS, KEY_METRICS, RunsFilterProxy, RunsTableModel,
                         load_pane_data, load_run_records, runs_columns)

__all__ = ["BEST_BRUSH", "CV_METRICS", "Cell", "FILTER_HELP", "GridModel", "Job", "KEY_METRICS",
           "PanelCanvas", "Pane", "RunPanels", "RunsFilterProxy", "RunsTableModel",
           "STATE_COLORS", "Term", "WARM_MODULES", "filter_records", "flatten_run",
           "known_fields", "load_compared", "load_pane_data", "load_run_records",
           "lower_thread_priority", "metric_cells", "metric_rows", "param_cells",
           "param_diff_rows", "parse_filter", "runs_columns", "warm_up_imports"]
