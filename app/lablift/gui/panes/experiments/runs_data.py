"""The runs table's data as columns, built and arranged in a worker (no Qt here).

RunsData holds every run listed, one numpy array per column, each run at a fixed position
(the order it was read in; later runs are appended). A reload builds a new RunsData from
the previous one and only the rows that changed (core.run_listing.changed_runs): the arrays
are copied and patched, never rebuilt run by run. Sorting (argsort) and filtering (boolean
masks) run on the arrays, in the worker; the GUI thread gets an Arrangement (the rows to
show, as positions) and swaps it in.

Why columns: the table of 100,000 runs must load in a second or two and never hold the GUI
thread. Per-run dicts cost seconds to build, and 300,000 of them would make every full
garbage collection (which holds the GIL, GUI thread included) twice as long; arrays of
floats and of strings are a few dozen objects. JSON documents stay text until a filter or
a record asks for them.

Codes name the rows of an arrangement: a position (>= 0) is a run, -sweep_id a sweep's row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import orjson

from .common import text_of

NAN = float("nan")
# The runs table's own fields (filter names -> column); a param or metric of the same name
# wins, as a run's record spells it.
BASE_FIELDS = {"id": "ids", "status": "status", "dataset": "dataset",
               "algorithm": "algorithm", "target": "target", "task": "task", "seed": "seed",
               "who": "who", "when": "when", "duration_s": "duration", "sweep_id": "sweep_id",
               "created_by": "who", "duration": "duration"}
OBJECT_COLUMNS = ("status", "dataset", "algorithm", "target", "task", "seed", "who", "when")
NUMERIC_COLUMNS = ("ids", "duration")
MAX_DIFF_RANGES = 64  # more separate inserted or removed ranges than this: a layout change


def loads_json(text: Any) -> Any:
    """A JSON document's object ({} for none)."""
    try:
        return orjson.loads(text) or {}
    except orjson.JSONDecodeError:  # NaN or Infinity, as json.dumps writes them
        import json
        return json.loads(text) or {}
    except TypeError:  # already decoded, or None
        return text or {}


@dataclass
class Metric:
    """One metric over all runs: value (NaN when missing or None), has (the run has it),
    none (it is recorded as null)."""
    values: np.ndarray
    has: np.ndarray
    none: np.ndarray

    def at(self, p: int) -> float | None:
        return float(self.values[p]) if self.has[p] and not self.none[p] else None


@dataclass
class Field:
    """A filter field over all runs: present, None, numeric (and its value), else text."""
    present: np.ndarray
    none: np.ndarray
    numeric: np.ndarray
    number: np.ndarray
    text: np.ndarray  # lowercased text_of(value) where neither None nor numeric


class RunsData:
    """Every run listed, as columns (see the module doc). Treat as immutable once built:
    workers read it while the GUI thread shows it."""

    def __init__(self) -> None:
        self.n = 0
        self.ids = np.zeros(0, np.int64)
        self.sweep_id = np.zeros(0, np.int64)  # 0: not in a sweep
        self.duration = np.zeros(0, np.float64)
        for name in OBJECT_COLUMNS:
            setattr(self, name, np.empty(0, object))
        self.params = np.empty(0, object)  # JSON text
        self.metrics = np.empty(0, object)  # JSON text
        self.holdout: dict[str, Metric] = {}
        self.cv: dict[str, Metric] = {}  # the CV mean
        self._param_names: frozenset[str] | None = frozenset()  # None: not read yet
        self.row_of: dict[int, int] = {}  # run id -> position
        self.last_id = 0
        self.running: tuple[int, ...] = ()  # ids of the runs listed as running
        self.heads: dict[int, dict[str, Any]] = {}  # sweep id -> its row (sweep_heads)
        self.grouped = np.zeros(0, bool)  # the run is shown under its sweep's row
        self.best: dict[int, tuple[str, str]] = {}  # position -> (metric, tooltip)
        self.is_best = np.zeros(0, bool)
        self._fields: dict[str, Field] = {}
        self._text: np.ndarray | None = None

    # -- values ---------------------------------------------------------------------------------
    def value(self, p: int, key: str) -> Any:
        """The value of column `key` (a runs_columns key) for the run at position `p`."""
        if key == "id":
            return int(self.ids[p])
        if key == "duration_s":
            v = self.duration[p]
            return None if math.isnan(v) else float(v)
        if key.startswith("m."):
            found = self.holdout.get(key[2:])
            return found.at(p) if found is not None else None
        if key.startswith("cv."):
            found = self.cv.get(key[3:])
            return found.at(p) if found is not None else None
        if key == "sweep_id":
            return int(self.sweep_id[p]) or None
        column = _COLUMN_OF.get(key)
        return getattr(self, column)[p] if column is not None else None

    def value_column(self, name: str, at: np.ndarray) -> list:
        """A base field's values (BASE_FIELDS) for the runs at `at`, None where missing."""
        return _base_values(self, BASE_FIELDS[name], at).tolist()

    def position(self, run_id: int) -> int | None:
        return self.row_of.get(run_id)

    def record(self, p: int) -> dict[str, Any]:
        """The run at `p` as one record: its columns, m.NAME and cv.NAME metrics, and
        `fields` (every param and metric, the names a filter uses)."""
        rec = {"id": int(self.ids[p]), "status": self.status[p], "dataset": self.dataset[p],
               "algorithm": self.algorithm[p], "target": self.target[p], "task": self.task[p],
               "seed": self.seed[p], "who": self.who[p], "when": self.when[p],
               "duration_s": self.value(p, "duration_s"), "sweep_id": self.value(p, "sweep_id")}
        fields = dict(rec)
        fields["created_by"], fields["duration"] = rec["who"], rec["duration_s"]
        for name, value in (loads_json(self.params[p]) or {}).items():
            fields[name.lower()] = value
        metrics = loads_json(self.metrics[p]) or {}
        for name, value in (metrics.get("holdout") or {}).items():
            rec[f"m.{name}"] = fields[name.lower()] = fields[f"holdout.{name}".lower()] = value
        for name, summary in (metrics.get("cv") or {}).items():
            mean = (summary or {}).get("mean")
            rec[f"cv.{name}"] = fields[f"cv.{name}".lower()] = fields[f"cv_{name}".lower()] = mean
        if self.grouped[p]:
            fields["sweep"], fields["best"] = int(self.sweep_id[p]), bool(self.is_best[p])
        if p in self.best:
            rec["best"], rec["best_tip"] = self.best[p]
        rec["fields"] = fields
        return rec

    def metric_keys(self) -> set[str]:
        """Column keys of the metrics some run has (m.NAME, cv.NAME): a set that grows."""
        return ({f"m.{k}" for k, m in self.holdout.items() if m.has.any()}
                | {f"cv.{k}" for k, m in self.cv.items() if m.has.any()})

    @property
    def param_names(self) -> frozenset[str]:
        """Every param name some run has (read from the documents when first asked)."""
        if self._param_names is None:
            names: set[str] = set()
            for text in set(self.params.tolist()):  # a sweep repeats its documents
                names.update(loads_json(text))
            self._param_names = frozenset(names)
        return self._param_names

    def known_fields(self) -> set[str]:
        known = set(BASE_FIELDS) | {k.lower() for k in self.param_names}
        for name in self.holdout:
            known.update((name.lower(), f"holdout.{name}".lower()))
        for name in self.cv:
            known.update((f"cv.{name}".lower(), f"cv_{name}".lower()))
        if self.grouped.any():
            known.update(("sweep", "best"))
        return known

    def latest(self) -> int | None:
        """The latest finished run's id, else the latest run's (None: no runs)."""
        if not self.n:
            return None
        finished = self.ids[self.status == "finished"]
        return int(finished.max()) if len(finished) else int(self.ids.max())

    # -- filter fields and free text (built on first use, in a worker; kept across reloads) --
    def field(self, name: str) -> Field:
        if name in ("sweep", "best"):  # from the sweep grouping, which a reload redoes
            return _field_of(self, name, np.arange(self.n))
        found = self._fields.get(name)
        if found is None:
            found = self._fields[name] = _field_of(self, name, np.arange(self.n))
        return found

    def text(self) -> np.ndarray:
        """Each run's free text: field=value pairs, lowercased (what free text matches)."""
        if self._text is None:
            self._text = _texts(self, range(self.n))
        return self._text


_COLUMN_OF = {"status": "status", "dataset": "dataset", "algorithm": "algorithm",
              "target": "target", "task": "task", "seed": "seed", "who": "who", "when": "when"}


def _spell(value: Any) -> str:
    """text_of, its common cases first (this runs for every field of every run)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is float:
        return f"{value:.6g}"
    if kind is int:
        return str(value)
    return text_of(value)


def _texts(data: RunsData, positions: Iterable[int]) -> np.ndarray:
    """The free text of the runs at `positions`: 'field=value' for each field of its record
    (RunsData.record's fields but sweep and best), space-separated, lowercased."""
    at = np.fromiter(positions, np.int64)
    if not len(at):
        return np.empty(0, object)
    spell = _spell
    pieces = []
    for name in _TEXT_FIELDS:  # values repeat (a status, a dataset): each spelled once
        seen: dict[Any, str] = {}
        pieces.append([seen.get(v) or seen.setdefault(v, f"{name}={spell(v)}")
                       for v in data.value_column(name, at)])
    base = [" ".join(pairs) for pairs in zip(*pieces)]
    out = np.empty(len(at), object)
    params_seen: dict[str, str] = {}  # a sweep's grid repeats its params documents
    for i, (head, params_text, metrics_text) in enumerate(zip(
            base, data.params[at].tolist(), data.metrics[at].tolist())):
        params = params_seen.get(params_text)
        if params is None:
            params = params_seen[params_text] = " ".join(
                f"{k}={spell(v)}" for k, v in loads_json(params_text).items())
        words = [head, params]
        metrics = loads_json(metrics_text)
        for k, v in (metrics.get("holdout") or {}).items():
            v = spell(v)
            words.append(f"{k}={v} holdout.{k}={v}")
        for k, summary in (metrics.get("cv") or {}).items():
            v = spell((summary or {}).get("mean"))
            words.append(f"cv.{k}={v} cv_{k}={v}")
        out[i] = " ".join(words).lower()
    return out


# The record's own fields, in its order (created_by and duration repeat who and duration_s).
_TEXT_FIELDS = ("id", "status", "dataset", "algorithm", "target", "task", "seed", "who",
                "when", "duration_s", "sweep_id", "created_by", "duration")


def _field_of(data: RunsData, name: str, at: np.ndarray) -> Field:
    """Field `name` for the runs at positions `at` (see Field), by a record's precedence:
    base column < param < holdout metric < CV metric; sweep and best come from grouping."""
    k = len(at)
    values = np.full(k, None, dtype=object)
    present = np.zeros(k, bool)
    if name in ("sweep", "best"):
        present = data.grouped[at].copy()
        values[present] = (data.sweep_id[at][present] if name == "sweep"
                           else data.is_best[at][present])
    else:
        column = BASE_FIELDS.get(name)
        if column is not None:
            present[:] = True
            values[:] = _base_values(data, column, at)
        originals = [p for p in data.param_names if p.lower() == name]
        if originals:
            for i, p in enumerate(at):
                params = loads_json(data.params[p])
                for original in originals:
                    if original in params:
                        values[i], present[i] = params[original], True
        for table, spellings in ((data.holdout, lambda n: (n.lower(), f"holdout.{n}".lower())),
                                 (data.cv, lambda n: (f"cv.{n}".lower(), f"cv_{n}".lower()))):
            for metric_name, metric in table.items():
                if name in spellings(metric_name):
                    has = metric.has[at]
                    vals = metric.values[at].astype(object)
                    vals[metric.none[at]] = None
                    values[has], present[has] = vals[has], True
    return _typed(values, present)


def _base_values(data: RunsData, column: str, at: np.ndarray) -> np.ndarray:
    if column == "ids":
        return data.ids[at].astype(object)
    if column == "duration":
        out = data.duration[at].astype(object)
        out[np.isnan(data.duration[at])] = None
        return out
    if column == "sweep_id":
        out = data.sweep_id[at].astype(object)
        out[data.sweep_id[at] == 0] = None
        return out
    return getattr(data, column)[at]


def _typed(values: np.ndarray, present: np.ndarray) -> Field:
    k = len(values)
    none = np.zeros(k, bool)
    numeric = np.zeros(k, bool)
    number = np.full(k, NAN)
    text = np.full(k, "", dtype=object)
    for i in np.flatnonzero(present):
        v = values[i]
        if v is None:
            none[i] = True
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
                v, (bool, np.bool_)):
            numeric[i], number[i] = True, float(v)
        else:
            text[i] = text_of(bool(v) if isinstance(v, np.bool_) else v).lower()
    return Field(present, none, numeric, number, text)


# -- building: a full read, or the previous data patched with what changed ----------------------
@dataclass
class Change:
    """What a reload changed: positions of runs re-read (changed) and added, and the sweep
    ids whose rows changed."""
    changed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    added: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sweeps: set[int] = field(default_factory=set)

    def codes(self) -> np.ndarray:
        """The arrangement codes of everything changed (runs, sweep rows)."""
        return np.concatenate([self.changed, self.added,
                               -np.fromiter(self.sweeps, np.int64, len(self.sweeps))])


def build(names: Sequence[str], rows: Sequence[tuple], dataset_names: dict[int, str],
          base: RunsData | None = None) -> tuple[RunsData, Change]:
    """A RunsData of `base` with `rows` (core.run_listing.changed_runs' rows) applied."""
    base = base or RunsData()
    col = {name: i for i, name in enumerate(names)}
    old_pos = [base.row_of.get(r[0]) for r in rows]
    keep = [(p, r) for p, r in zip(old_pos, rows) if p is not None]
    # A re-read run whose row is as held (still running, same values) is no change.
    changed_rows = [(p, r) for p, r in keep if not _same(base, p, r, col)]
    added_rows = [r for p, r in zip(old_pos, rows) if p is None]
    if not changed_rows and not added_rows:
        return base, Change()
    k = len(added_rows)
    data = RunsData()
    data.n = n = base.n + k
    added = np.arange(base.n, n, dtype=np.int64)
    changed = np.array([p for p, _ in changed_rows], np.int64)
    patch_pos = np.concatenate([changed, added])
    patch_rows = [r for _, r in changed_rows] + added_rows

    # A column at a time, in bytecode: the GUI thread takes the GIL back every few ms. (One
    # numpy call on all the rows would hold it for 150 ms at 100,000; zip(*rows) makes an
    # iterator per row, enough objects to set off a full garbage collection, which holds
    # every thread as long.)
    columns: dict[str, np.ndarray] = {}

    def column(name: str) -> np.ndarray:
        found = columns.get(name)
        if found is None:
            i = col[name]
            found = columns[name] = _objects([r[i] for r in patch_rows])
        return found

    def patched(old: np.ndarray, values, dtype) -> np.ndarray:
        out = np.concatenate([old, np.empty(k, old.dtype)]) if k else old.copy()
        out[patch_pos] = values if dtype is object else np.asarray(values, dtype=dtype)
        return out

    data.ids = patched(base.ids, column("id"), np.int64)
    data.sweep_id = patched(base.sweep_id, [s or 0 for s in column("sweep_id").tolist()],
                            np.int64)
    data.duration = patched(base.duration, np.array(column("duration_s").tolist(), dtype=float),
                            np.float64)  # None -> NaN
    for name, source in (("status", "status"), ("algorithm", "algorithm"),
                         ("target", "target"), ("task", "task"), ("seed", "seed"),
                         ("who", "created_by"), ("when", "created_at"), ("params", "params"),
                         ("metrics", "metrics")):
        setattr(data, name, patched(getattr(base, name), column(source), object))
    data.dataset = patched(base.dataset, _objects(
        [dataset_names.get(d, f"#{d}") for d in column("dataset_id").tolist()]), object)
    # Metrics: every name seen so far keeps its column; a new name adds one. Values are
    # gathered per name in one pass over the documents, then set with one numpy call.
    data.holdout = {k_: _grown(m, k) for k_, m in base.holdout.items()}
    data.cv = {k_: _grown(m, k) for k_, m in base.cv.items()}
    for metric in (*data.holdout.values(), *data.cv.values()):  # what a re-read run held
        metric.has[changed] = metric.none[changed] = False
        metric.values[changed] = NAN
    holdout: dict[str, tuple[list, list]] = {}
    cv: dict[str, tuple[list, list]] = {}
    for p, metrics_text in zip(patch_pos.tolist(), column("metrics").tolist()):
        metrics = loads_json(metrics_text)
        for name, value in (metrics.get("holdout") or {}).items():
            got = holdout.get(name) or holdout.setdefault(name, ([], []))
            got[0].append(p)
            got[1].append(value)
        for name, summary in (metrics.get("cv") or {}).items():
            got = cv.get(name) or cv.setdefault(name, ([], []))
            got[0].append(p)
            got[1].append(summary.get("mean") if isinstance(summary, dict) else None)
    for table, gathered in ((data.holdout, holdout), (data.cv, cv)):
        for name, (at, values) in gathered.items():
            metric = table.get(name)
            if metric is None:
                metric = table[name] = Metric(np.full(n, NAN), np.zeros(n, bool),
                                              np.zeros(n, bool))
            metric.has[at] = True
            metric.none[at], metric.values[at] = _numbers(values)
    # Param names are read when a filter needs them; once read, the new runs' are added.
    if base._param_names is not None and base.n:
        names = set(base._param_names)
        for text in set(column("params").tolist()):
            names.update(loads_json(text))
        data._param_names = frozenset(names)
    else:
        data._param_names = None
    data.row_of = dict(base.row_of)
    data.row_of.update(zip(column("id")[len(changed):].tolist(), added.tolist()))
    data.last_id = int(data.ids.max()) if n else 0
    running = set(base.running)
    for rid, status in zip(column("id").tolist(), column("status").tolist()):
        (running.add if status == "running" else running.discard)(rid)
    data.running = tuple(sorted(running))
    # What was built for filters stays, patched at the rows that changed.
    # (list(): one C call, so a filter adding a field meanwhile cannot break the loop)
    for name, cached in list(base._fields.items()):
        data._fields[name] = _patched_field(cached, _field_of(data, name, patch_pos), patch_pos,
                                            k)
    base_text = base._text
    if base_text is not None:
        text = np.concatenate([base_text, np.empty(k, object)]) if k else base_text.copy()
        text[patch_pos] = _texts(data, patch_pos.tolist()) if len(patch_pos) else text[:0]
        data._text = text
    data.heads, data.best = base.heads, base.best
    data.grouped = np.concatenate([base.grouped, np.zeros(k, bool)])
    data.is_best = np.concatenate([base.is_best, np.zeros(k, bool)])
    return data, Change(changed, added)


def _numbers(values: list) -> tuple[np.ndarray, np.ndarray]:
    """(is None, value or NaN) of metric values."""
    objects = _objects(values)
    none = np.equal(objects, None)
    try:
        return none, np.array(values, dtype=float)  # None -> NaN
    except (TypeError, ValueError):  # a value that is not a number: shown as missing
        return none, np.array([v if isinstance(v, (int, float)) and not isinstance(v, bool)
                               else NAN for v in values], dtype=float)


def _objects(values) -> np.ndarray:
    out = np.empty(len(values), object)
    out[:] = values
    return out


def _same(base: RunsData, p: int, row: tuple, col: dict[str, int]) -> bool:
    return (base.status[p] == row[col["status"]] and base.metrics[p] == row[col["metrics"]]
            and base.params[p] == row[col["params"]])


def _grown(metric: Metric, k: int) -> Metric:
    if not k:
        return Metric(metric.values.copy(), metric.has.copy(), metric.none.copy())
    return Metric(np.concatenate([metric.values, np.full(k, NAN)]),
                  np.concatenate([metric.has, np.zeros(k, bool)]),
                  np.concatenate([metric.none, np.zeros(k, bool)]))


def _patched_field(old: Field, new: Field, at: np.ndarray, k: int) -> Field:
    out = []
    for name in ("present", "none", "numeric", "number", "text"):
        a = getattr(old, name)
        if k:
            fill = {"number": NAN, "text": ""}.get(name, False)
            a = np.concatenate([a, np.full(k, fill, dtype=a.dtype)])
        else:
            a = a.copy()
        a[at] = getattr(new, name)
        out.append(a)
    return Field(*out)
