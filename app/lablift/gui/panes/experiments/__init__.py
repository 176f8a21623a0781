"""The Experiments pane: a training form, a queue of runs in workers, the runs table, run detail
and the comparison of several runs.

Everything goes through core (datasets, catalogue, training, registry), and every read or write
of the store runs in a worker: the pane's loads through PaneBase.start (the newest request of a
purpose wins), training and reproducing on the job queue's own thread.

    train_form   the form and the spec it describes
    sweep_form   the sweep dialog (grid or random, local or Dask) over the form's selection
    job_queue    jobs (train, sweep, reproduce) one after another, progress, the log
    runs_data    the runs as columns (numpy), patched with what a reload read; sweep rows
    runs_arrange sorting, filtering and grouping those columns (in workers), the rows shown
    runs_model   the table model and view: a tree of sweeps drawn flat, best marked
    runs_table   the runs columns, the worker that reads what changed, the view's selection
    filter       the filter language over the columns, the filter box
    run_panels   the run-detail plots, drawn one panel per event-loop turn
    detail       the shown run: header, metrics, params, spec, env; reproduce, register
    compare      several runs side by side
    pane         the Pane that puts them together
"""

from .common import STATE_ROLES, Cell, GridModel, best_brush
from .compare import load_compared, metric_grid
from .detail import metric_cells, param_cells
from .filter import FILTER_HELP, Term, parse_filter
from .job_queue import WARM_MODULES, Job, lower_thread_priority, warm_up_imports
from .pane import Pane
from .run_panels import RunPanels, panel_canvas_class
from .runs_arrange import Arrangement, arrange
from .runs_data import RunsData, build
from .runs_table import CV_METRICS, KEY_METRICS, RunsTableModel, RunsUpdate, read_runs, \
    runs_columns

__all__ = ["Arrangement", "CV_METRICS", "Cell", "FILTER_HELP", "GridModel", "Job",
           "KEY_METRICS", "Pane", "RunPanels", "RunsData", "RunsTableModel",
           "RunsUpdate", "STATE_ROLES", "Term", "WARM_MODULES", "arrange", "build",
           "load_compared", "lower_thread_priority", "metric_cells", "metric_grid",
           "panel_canvas_class", "param_cells", "parse_filter", "read_runs", "runs_columns",
           "warm_up_imports"]


def __getattr__(name: str):
    # BEST_BRUSH as a name callers import: the brush of the scheme in use.
    if name == "BEST_BRUSH":
        return best_brush()
    if name == "PanelCanvas":  # defined on first use: it imports matplotlib (run_panels)
        return panel_canvas_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
