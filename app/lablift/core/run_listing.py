"""Reading runs back: one run, or the runs listing, without the numeric stack (numpy,
pandas, scikit-learn), so that `lablift run list` starts in a blink. core/training.py
records runs and re-exports these readers."""

from __future__ import annotations

import json
from typing import Any, Collection, Iterable

from .errors import NotFound
from .store import Store
from .store.sql import repository

run_sql = repository("runs")  # statements: core/store/runs.py


def get_run(store: Store, run_id: int | str) -> dict[str, Any]:
    try:
        rid = int(str(run_id).strip().lstrip("#"))
    except ValueError:
        raise NotFound(f"run {run_id!r} not found (a run is named by its number)") from None
    row = store.row(run_sql.BY_ID, id=rid)
    if row is None:
        raise NotFound(f"run {rid} not found")
    return row


def list_runs(store: Store, dataset_id: int | None = None, status: str | None = None,
              sweep_id: int | None = None, algorithm: str | None = None,
              limit: int | None = None, full: bool = False) -> list[dict[str, Any]]:
    """Runs, newest first, in one SELECT (summary columns unless `full`)."""
    params = {k: v for k, v in (("dataset_id", dataset_id), ("status", status),
                                 ("sweep_id", sweep_id), ("algorithm", algorithm))
              if v is not None}
    statement = run_sql.LISTING[(tuple(params), full, bool(limit))]
    if limit:
        params["limit"] = int(limit)
    if full:
        return store.rows(statement, **params)
    # Fast path for the 10,000-run table: plain tuples, decode only the two JSON columns
    # (store.query's per-key decode made listing ~2x slower).
    cur = store.tuple_cursor()
    rows = statement.execute(cur, store.engine, params).fetchall()
    names = [d[0] for d in cur.description]
    i_params, i_metrics = names.index("params"), names.index("metrics")
    loads = _loads_json
    out = []
    for row in rows:
        row = list(row)
        row[i_params] = loads(row[i_params])
        row[i_metrics] = loads(row[i_metrics])
        out.append(dict(zip(names, row)))
    return out


def _loads_json(text: str) -> Any:
    """json.loads, by orjson when it can (2.5x faster on the runs listing's documents);
    orjson refuses the NaN and Infinity that json.dumps writes, so those go to json."""
    try:
        return _orjson_loads(text)
    except ValueError:
        return json.loads(text)


try:
    from orjson import loads as _orjson_loads
except ImportError:  # an install without it still lists runs, at json's speed
    _orjson_loads = json.loads


def changed_runs(store: Store, after: int, held: Collection[int], running: Iterable[int] = ()
                 ) -> tuple[tuple[str, ...], list[tuple]]:
    """What a reader holding the runs `held` (ids up to `after`) lacks: the summary rows
    (list_runs' columns, params and metrics as their JSON text) of the runs recorded since,
    of any below `after` it has not seen, and of `running` (held as running: the only rows
    that can change), oldest first. `held=()`, `after=0`: every run."""
    cur = store.tuple_cursor()
    rows = run_sql.SUMMARY_AFTER.execute(cur, store.engine, {"after": after}).fetchall()
    names = tuple(d[0] for d in cur.description)
    again = set(running)
    if held and store.value(run_sql.COUNT_UPTO, upto=after) != len(held):
        # A run committed below `after` after the reader's last read (a team store's ids
        # are taken before commit): find it by the ids (one int per run, no documents).
        again.update(rid for (rid,) in run_sql.IDS_UPTO.execute(
            store.tuple_cursor(), store.engine, {"upto": after}).fetchall()
            if rid not in held)
    for rid in sorted(again):
        found = run_sql.SUMMARY_OF.execute(cur, store.engine, {"id": rid}).fetchone()
        if found is not None:
            rows.append(found)
    rows.sort(key=lambda r: r[0])
    return names, rows
