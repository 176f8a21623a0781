"""One statement, two engines: core/store/sql.py compiles a Core construct for SQLite and for
PostgreSQL and runs it on the raw driver connection; the same calls give the same rows."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
import sqlalchemy as sa

from lablift.core.store import runs as run_sql
from lablift.core.store import schema
from lablift.core.store.sql import Statement, inserted_id

DATASET = {"id": 1, "name": "d", "version": 1, "sha256": "s", "artifact": "a", "rows": 1,
           "columns": 1, "schema": "[]", "profile": "{}", "created_at": "t", "created_by": "u"}
START = {"dataset_id": 1, "sweep_id": None, "reproduces": None, "task": "classification",
         "algorithm": "knn", "target": "y", "spec": '{"k": "é"}', "params": "{}", "seed": 7,
         "created_by": "ann", "created_at": "t0", "started_at": "t0", "host": "h", "pid": 42,
         "environment": "{}", "details": "{}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_conn(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'x.db'}"
        schema.metadata.create_all(sa.create_engine(url))
        conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
        yield "sqlite", conn
        conn.close()
        return
    url = request.getfixturevalue("pg_database")
    schema.metadata.create_all(sa.create_engine(url.replace("postgresql://",
                                                            "postgresql+psycopg://", 1)))
    conn = psycopg.connect(url, autocommit=True)
    yield "postgresql", conn
    conn.close()


def _insert_dataset(engine, conn):
    sa_insert = Statement(sa.insert(schema.datasets).values(
        **{k: sa.bindparam(k) for k in DATASET}))
    sa_insert.execute(conn, engine, DATASET)


def test_run_start_and_finish_give_the_same_row_on_both_engines(engine_conn):
    engine, conn = engine_conn
    _insert_dataset(engine, conn)
    run_id = inserted_id(run_sql.START.execute(conn, engine, START), engine)
    again = inserted_id(run_sql.START.execute(conn, engine, START), engine)
    assert (run_id, again) == (1, 2)
    run_sql.FINISH.execute(conn, engine, {
        "run_id": run_id, "status": "finished", "finished_at": "t1", "duration_s": 0.25,
        "artifacts": "{}", "params": '{"k": 3}', "metrics": '{"f1": 0.5}',
        "predictions_sha256": "p", "details": "{}"})
    run_sql.FAIL.execute(conn, engine, {"run_id": again, "status": "failed",
                                        "finished_at": "t1", "duration_s": 1.5,
                                        "error": "boom", "details": "{}"})
    rows = conn.execute("SELECT id, status, spec, params, metrics, duration_s, error, seed "
                        "FROM runs ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [
        (1, "finished", '{"k": "é"}', '{"k": 3}', '{"f1": 0.5}', 0.25, None, 7),
        (2, "failed", '{"k": "é"}', "{}", "{}", 1.5, "boom", 7)]


def test_statements_compile_once_per_engine():
    text, order, defaults, positional = run_sql.START.sql("sqlite")
    assert positional and text.count("?") == len(order) and defaults == {"status": "running"}
    pg_text, pg_names, _, pg_positional = run_sql.START.sql("postgresql")
    assert not pg_positional and "RETURNING runs.id" in pg_text and "%(spec)s" in pg_text
    assert set(pg_names) == set(order)
    assert run_sql.START.sql("sqlite") is run_sql.START.sql("sqlite")


def test_dataset_statements_on_both_engines(engine_conn):
    from lablift.core.store import datasets as dataset_sql
    engine, conn = engine_conn
    row = {k: v for k, v in DATASET.items() if k != "id"}
    ids = [inserted_id(dataset_sql.INSERT.execute(conn, engine, {**row, "version": v,
                                                                 "sha256": f"s{v}"}), engine)
           for v in (1, 2)]
    assert ids == [1, 2]

    def one(statement, **params):
        return tuple(statement.execute(conn, engine, params).fetchone())

    assert one(dataset_sql.NEXT_VERSION, name="d") == (3,)
    assert one(dataset_sql.NEXT_VERSION, name="new") == (1,)
    assert one(dataset_sql.LATEST_BY_NAME, name="d")[:3] == (2, "d", 2)
    assert one(dataset_sql.BY_NAME_VERSION, name="d", version=1)[0] == 1
    assert one(dataset_sql.NAMES_ARTIFACT, artifact="a") == (1,)
    assert dataset_sql.NAMES_ARTIFACT.execute(conn, engine, {"artifact": "zz"}).fetchone() \
        is None
    listed = [tuple(r)[:3] for r in dataset_sql.LIST.execute(conn, engine).fetchall()]
    assert listed == [(1, "d", 1), (2, "d", 2)]


def test_run_listing_and_sweep_statements_on_both_engines(engine_conn):
    from lablift.core.store import sweeps as sweep_sql
    engine, conn = engine_conn
    _insert_dataset(engine, conn)
    sweep = inserted_id(sweep_sql.START.execute(conn, engine, {
        "dataset_id": 1, "spec": "{}", "backend": "local", "created_at": "t",
        "created_by": "ann", "host": "h", "pid": 1}), engine)
    for algorithm, sweep_id in (("knn", None), ("tree", sweep), ("tree", sweep)):
        run_sql.START.execute(conn, engine, {**START, "algorithm": algorithm,
                                             "sweep_id": sweep_id})
    sweep_sql.FINISH.execute(conn, engine, {"id": sweep, "status": "finished",
                                            "best_run_id": 3, "finished_at": "t2"})

    def ids(filters=(), full=False, **params):
        statement = run_sql.LISTING[(tuple(filters), full, "limit" in params)]
        return [r[0] for r in statement.execute(conn, engine, params).fetchall()]

    assert ids() == [3, 2, 1]
    assert ids(("algorithm",), algorithm="tree") == [3, 2]
    assert ids(("status", "sweep_id"), sweep_id=sweep, status="running", limit=1) == [3]
    assert ids(full=True, limit=2) == [3, 2]
    row = sweep_sql.BY_ID.execute(conn, engine, {"id": sweep}).fetchone()
    assert tuple(row)[:5] == (1, 1, "{}", "finished", 3)
    assert [r[0] for r in sweep_sql.LIST.execute(conn, engine).fetchall()] == [1]


def test_every_repository_statement_compiles_for_both_engines():
    import importlib
    import pkgutil

    import lablift.core.store as package
    from lablift.core.store.sql import Statement
    found = 0
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"lablift.core.store.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Statement):
                for engine in ("sqlite", "postgresql"):
                    text = value.sql(engine)[0]
                    assert text.split()[0] in ("SELECT", "INSERT", "UPDATE", "DELETE"), name
                found += 1
    assert found >= 30


def test_monitoring_statements_on_both_engines(engine_conn):
    from lablift.core.store import monitoring as monitor_sql
    engine, conn = engine_conn
    _insert_dataset(engine, conn)
    run_sql.START.execute(conn, engine, START)
    conn.execute("INSERT INTO models (name, created_at, created_by) VALUES ('m', 't', 'u')")
    conn.execute("INSERT INTO model_versions (model, version, run_id, status, created_at, "
                 "created_by) VALUES ('m', 1, 1, 'approved', 't', 'u')")
    batch = {"version_id": 1, "source_path": "b.csv", "sha256": "x", "artifact": "a",
             "rows": 3, "window": None, "label_column": None, "timestamp_column": None,
             "drift_share": 0.5, "dataset_drift": 1, "result": "{}", "created_at": "t",
             "created_by": "u"}
    bid = inserted_id(monitor_sql.INSERT_BATCH.execute(conn, engine, batch), engine)
    monitor_sql.SET_LABELS.execute(conn, engine, {"id": bid, "artifact": "b",
                                                  "label_column": "y", "result": '{"m": 1}'})
    for kind in ("drift", "metric"):
        monitor_sql.INSERT_ALERT.execute(conn, engine, {"version_id": 1, "batch_id": bid,
                                                        "kind": kind, "message": kind,
                                                        "created_at": "t"})
    monitor_sql.ACKNOWLEDGE.execute(conn, engine, {"id": 1, "acknowledged_by": "ops1",
                                                   "acknowledged_at": "t2"})

    def first(statement, **params):
        return tuple(statement.execute(conn, engine, params).fetchone())

    assert first(monitor_sql.OPEN_ALERTS, version_id=1) == (1,)
    assert first(monitor_sql.BATCH_COUNTS) == (1, 1)
    labelled = first(monitor_sql.LABELLED_BATCHES_OF, version_id=1)
    assert labelled[0] == bid and "y" in labelled and '{"m": 1}' in labelled
    alerts = [tuple(r) for r in monitor_sql.ALERTS_OF.execute(conn, engine,
                                                               {"version_id": 1}).fetchall()]
    assert [(a[4], a[-2], a[-1]) for a in alerts] == [("drift", "m", 1), ("metric", "m", 1)]
    assert first(monitor_sql.SAME_SOURCE, version_id=1, sha256="x")[0] == bid


def test_compiled_sqlite_is_current():
    """core/store/compiled_sqlite.py is what the constructs compile to: regenerate it with
    `python -m lablift.core.store.sql` after changing a repository statement."""
    from pathlib import Path

    from lablift.core.store import sql
    current = (Path(sql.__file__).with_name("compiled_sqlite.py")).read_text(encoding="utf-8")
    assert current == sql.render_compiled_sqlite()


def test_lazy_repository_statements_are_the_repository_modules():
    from lablift.core import training
    from lablift.core.store import sql
    from lablift.core.store import runs as real
    lazy = sql.repository("runs")
    assert lazy.START.sql("sqlite") == real.START.sql("sqlite")
    assert lazy.START.sql("postgresql") == real.START.sql("postgresql")
    key = (("status",), False, True)
    assert lazy.LISTING[key].sql("sqlite") == real.LISTING[key].sql("sqlite")
    assert training.RUN_SUMMARY_COLUMNS == ", ".join(real.SUMMARY_COLUMNS)
