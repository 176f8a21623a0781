"""The registry's and the bundles' statements (core/store/registry.py, core/store/bundles.py)
on SQLite and on a real PostgreSQL: the same calls give the same rows."""

from __future__ import annotations

import pytest

from lablift.core.store import bundles as bundle_sql
from lablift.core.store import datasets as dataset_sql
from lablift.core.store import registry as sql
from lablift.core.store import runs as run_sql
from lablift.core.store.sql import Statement, inserted_id
from test_store_sql import DATASET, START, engine_conn  # noqa: F401


def _run(conn, engine, statement, **params):
    return statement.execute(conn, engine, params)


def _dicts(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def _rows(conn, engine, statement, **params) -> list[dict]:
    return _dicts(_run(conn, engine, statement, **params))


def _row(conn, engine, statement, **params) -> dict | None:
    found = _rows(conn, engine, statement, **params)
    return found[0] if found else None


def _version(**over):
    row = {"model": "churn", "version": 1, "run_id": 1, "status": "pending",
           "description": "first", "tags": '{"team": "ml"}', "card": "{}",
           "challenger_of": None, "lineage": '{"supersedes": null}', "created_at": "t1",
           "created_by": "ann"}
    return {**row, **over}


@pytest.fixture
def registry_db(engine_conn):  # noqa: F811
    """A dataset, a finished run, model churn with versions 1 and 2 (both of that run)."""
    engine, conn = engine_conn
    dataset = {k: v for k, v in DATASET.items() if k != "id"}
    assert inserted_id(dataset_sql.INSERT.execute(conn, engine, dataset), engine) == 1
    run_id = inserted_id(run_sql.START.execute(conn, engine, START), engine)
    run_sql.FINISH.execute(conn, engine, {
        "run_id": run_id, "status": "finished", "finished_at": "t1", "duration_s": 0.5,
        "artifacts": '{"holdout": "h"}', "params": "{}", "metrics": '{"f1": 0.75}',
        "predictions_sha256": "p", "details": "{}"})
    _run(conn, engine, sql.CREATE_MODEL, name="churn", description="Churn",
         created_at="t0", created_by="ann")
    ids = []
    for number in (1, 2):
        assert _run(conn, engine, sql.NEXT_VERSION, model="churn").fetchone()[0] == number
        ids.append(inserted_id(_run(conn, engine, sql.ADD_VERSION, **_version(
            version=number, created_at=f"t{number}",
            challenger_of=ids[0] if ids else None)), engine))
    assert ids == [1, 2]
    return engine, conn


def test_models_and_versions(registry_db):
    engine, conn = registry_db
    _run(conn, engine, sql.CREATE_MODEL_WITH_GATES, name="fraud",
         gates='[{"metric": "f1"}]', created_at="t0", created_by="bob")
    assert _rows(conn, engine, sql.MODELS) == [
        {"name": "churn", "description": "Churn", "gates": "[]", "created_at": "t0",
         "created_by": "ann"},
        {"name": "fraud", "description": "", "gates": '[{"metric": "f1"}]',
         "created_at": "t0", "created_by": "bob"}]
    assert _rows(conn, engine, sql.MODEL_NAMES) == [{"name": "churn"}, {"name": "fraud"}]
    assert _row(conn, engine, sql.MODEL_EXISTS, name="churn") == {"name": "churn"}
    assert _row(conn, engine, sql.MODEL_EXISTS, name="Churn") is None
    assert _run(conn, engine, sql.SET_GATES, name="churn", gates="[1]").rowcount == 1
    assert _row(conn, engine, sql.MODEL_GATES, name="churn") == {"gates": "[1]"}
    assert _run(conn, engine, sql.NEXT_VERSION, model="fraud").fetchone()[0] == 1

    v2 = _row(conn, engine, sql.VERSION_BY_ID, id=2)
    assert v2 == {"id": 2, "model": "churn", "version": 2, "run_id": 1, "status": "pending",
                  "description": "first", "tags": '{"team": "ml"}', "card": "{}",
                  "attention": None, "archived": 0, "challenger_of": 1,
                  "lineage": '{"supersedes": null}', "created_at": "t2", "created_by": "ann"}
    assert _row(conn, engine, sql.VERSION_BY_NUMBER, model="churn", version=1)["id"] == 1
    assert _row(conn, engine, sql.VERSION_BY_NUMBER, model="churn", version=3) is None
    assert _row(conn, engine, sql.LATEST_VERSION_OF, model="churn") == v2
    assert _row(conn, engine, sql.LATEST_STATUS_OF, model="churn") == {"version": 2,
                                                                         "status": "pending"}
    assert _rows(conn, engine, sql.VERSION_NUMBERS_OF, model="churn") == [{"version": 1},
                                                                            {"version": 2}]
    assert _rows(conn, engine, sql.VERSION_STATUSES_OF, model="churn") == [
        {"version": 1, "status": "pending"}, {"version": 2, "status": "pending"}]
    # the same run, pending twice: the later version is the one that blocks registering
    assert _row(conn, engine, sql.REGISTERED_RUN, model="churn", run_id=1) == {
        "model": "churn", "version": 2, "status": "pending"}

    # decisions: the re-check is the statement's own WHERE
    assert _run(conn, engine, sql.APPROVE_PENDING, id=1).rowcount == 1
    assert _run(conn, engine, sql.APPROVE_PENDING, id=1).rowcount == 0
    assert _run(conn, engine, sql.REJECT_PENDING, id=1).rowcount == 0
    assert _run(conn, engine, sql.REJECT_PENDING, id=2).rowcount == 1
    assert _rows(conn, engine, sql.VERSION_STATUSES_OF, model="churn") == [
        {"version": 1, "status": "approved"}, {"version": 2, "status": "rejected"}]
    assert _row(conn, engine, sql.REGISTERED_RUN, model="churn", run_id=1)["version"] == 1
    assert _rows(conn, engine, sql.PENDING_VERSIONS) == []

    def ids(by_model, by_status, **params):
        return [r["id"] for r in _rows(conn, engine, sql.VERSIONS[(by_model, by_status)],
                                       **params)]

    assert ids(False, False) == [1, 2]
    assert ids(True, False, model="churn") == [1, 2]
    assert ids(True, False, model="fraud") == []
    assert ids(False, True, status="rejected") == [2]
    assert ids(True, True, model="churn", status="approved") == [1]

    _run(conn, engine, sql.SET_ATTENTION, id=1, attention="drift")
    assert _row(conn, engine, sql.VERSION_BY_ID, id=1)["attention"] == "drift"
    _run(conn, engine, sql.SET_ATTENTION, id=1, attention=None)
    assert _row(conn, engine, sql.VERSION_BY_ID, id=1)["attention"] is None
    assert _run(conn, engine, sql.ARCHIVE_VERSION, id=2).rowcount == 1
    archived = _row(conn, engine, sql.VERSION_BY_ID, id=2)
    assert (archived["status"], archived["archived"]) == ("archived", 1)
    assert _row(conn, engine, sql.REGISTERED_RUN, model="churn", run_id=9) is None

    assert _row(conn, engine, sql.CARD_OF, id=1) == {"status": "approved", "card": "{}"}
    _run(conn, engine, sql.SET_CARD, id=1, card='{"intended_use": "é"}')
    assert _row(conn, engine, sql.CARD_OF, id=1)["card"] == '{"intended_use": "é"}'

    # versions pending again, ordered by when they were registered
    _run(conn, engine, sql.ADD_VERSION, **_version(version=3, created_at="t0"))
    assert [r["version"] for r in _rows(conn, engine, sql.PENDING_VERSIONS)] == [3]


def test_checks_and_approvals(registry_db):
    engine, conn = registry_db
    for name, passed in (("gate:f1", 1), ("fairness", 0)):
        _run(conn, engine, sql.ADD_CHECK, version_id=1, kind="gate", name=name, passed=passed,
             details='{"value": 0.75}', created_at="t3")
    assert _rows(conn, engine, sql.CHECKS_OF, version_id=1) == [
        {"id": 1, "version_id": 1, "kind": "gate", "name": "gate:f1", "passed": 1,
         "details": '{"value": 0.75}', "created_at": "t3"},
        {"id": 2, "version_id": 1, "kind": "gate", "name": "fairness", "passed": 0,
         "details": '{"value": 0.75}', "created_at": "t3"}]
    assert _rows(conn, engine, sql.CHECKS_OF, version_id=2) == []

    assert _row(conn, engine, sql.LAST_DECISION, version_id=1) is None
    first = inserted_id(_run(conn, engine, sql.RECORD_APPROVAL, version_id=1,
                             decision="approved", user="rita", comment="ok",
                             override_reason="fairness measured on too few rows", at="t4"),
                        engine)
    # a rejection records no override: NULL
    second = inserted_id(_run(conn, engine, sql.RECORD_APPROVAL, version_id=1,
                              decision="rejected", user="Ann", comment="no", at="t5"), engine)
    assert (first, second) == (1, 2)
    approvals = _rows(conn, engine, sql.APPROVALS_OF, version_id=1)
    assert approvals == [
        {"id": 1, "version_id": 1, "decision": "approved", "user": "rita", "comment": "ok",
         "override_reason": "fairness measured on too few rows", "at": "t4"},
        {"id": 2, "version_id": 1, "decision": "rejected", "user": "Ann", "comment": "no",
         "override_reason": None, "at": "t5"}]
    assert _row(conn, engine, sql.LAST_DECISION, version_id=1) == approvals[1]


def test_alias_set_moved_and_removed(registry_db):
    engine, conn = registry_db
    assert _row(conn, engine, sql.ALIAS_TARGET, model="churn", alias="production") is None
    _run(conn, engine, sql.SET_ALIAS, model="churn", alias="production", version_id=1,
         set_by="ops1", set_at="t6")
    _run(conn, engine, sql.SET_ALIAS, model="churn", alias="staging", version_id=1,
         set_by="ops1", set_at="t6")
    assert _row(conn, engine, sql.ALIAS_WITH_VERSION, model="churn", alias="production") == {
        "version_id": 1, "version": 1}
    # moved: the same (model, alias) row updated in place, not a second row
    _run(conn, engine, sql.SET_ALIAS, model="churn", alias="production", version_id=2,
         set_by="ops2", set_at="t7")
    assert _row(conn, engine, sql.ALIAS_TARGET, model="churn", alias="production") == {
        "version_id": 2}
    assert _row(conn, engine, sql.ALIAS_WITH_VERSION, model="churn", alias="production") == {
        "version_id": 2, "version": 2}
    raw = _dicts(conn.execute("SELECT model, alias, version_id, set_by, set_at FROM aliases "
                              "ORDER BY alias"))
    assert raw == [
        {"model": "churn", "alias": "production", "version_id": 2, "set_by": "ops2",
         "set_at": "t7"},
        {"model": "churn", "alias": "staging", "version_id": 1, "set_by": "ops1",
         "set_at": "t6"}]
    assert _rows(conn, engine, sql.ALIASES_OF_MODEL, model="churn") == [
        {"alias": "production", "version": 2}, {"alias": "staging", "version": 1}]
    assert _rows(conn, engine, sql.ALIAS_NAMES_OF_MODEL, model="churn") == [
        {"alias": "production"}, {"alias": "staging"}]
    assert _rows(conn, engine, sql.ALIASES_OF_VERSION, version_id=1) == [{"alias": "staging"}]
    assert _run(conn, engine, sql.REMOVE_ALIAS, model="churn", alias="staging").rowcount == 1
    assert _rows(conn, engine, sql.ALIASES_OF_VERSION, version_id=1) == []
    assert _rows(conn, engine, sql.ALIAS_NAMES_OF_MODEL, model="churn") == [
        {"alias": "production"}]


def test_what_the_registry_reads_of_runs_and_datasets(registry_db):
    engine, conn = registry_db
    run = _row(conn, engine, sql.RUN_BY_ID, id=1)
    assert (run["id"], run["status"], run["created_by"], run["metrics"]) == (
        1, "finished", "ann", '{"f1": 0.75}')
    assert _row(conn, engine, sql.RUN_BY_ID, id=5) is None
    assert _row(conn, engine, sql.DATASET_LINEAGE, id=1) == {
        "id": 1, "name": "d", "version": 1, "sha256": "s"}
    assert _row(conn, engine, sql.DATASET_SUMMARY, id=1) == {
        "id": 1, "name": "d", "version": 1, "sha256": "s", "rows": 1, "columns": 1,
        "source_path": None, "created_at": "t", "created_by": "u"}


def test_bundles(registry_db):
    engine, conn = registry_db
    row = {"version_id": 1, "path": "/out/b", "manifest_sha256": "m1", "created_by": "ops1",
           "created_at": "t8", "status": "exporting", "files": '{"model.pkl": "x"}',
           "tmp_path": "/out/.b.tmp", "host": "h", "pid": 7}
    first = inserted_id(bundle_sql.RECORD_EXPORT.execute(conn, engine, row), engine)
    second = inserted_id(bundle_sql.RECORD_EXPORT.execute(
        conn, engine, {**row, "path": "/out/c", "manifest_sha256": "m2"}), engine)
    assert (first, second) == (1, 2)
    # an export still being written is not one a folder can be recognised by
    assert _row(conn, engine, bundle_sql.RECORDED_EXPORT, version_id=1,
                manifest_sha256="m1") is None
    assert bundle_sql.SET_STATUS.execute(conn, engine,
                                         {"id": first, "status": "exported"}).rowcount == 1
    assert _row(conn, engine, bundle_sql.RECORDED_EXPORT, version_id=1,
                manifest_sha256="m1") == {"id": 1, "files": '{"model.pkl": "x"}'}
    # bundles exported before statuses were recorded (NULL) count as exported
    conn.execute("UPDATE bundles SET status = NULL WHERE id = 2")
    assert _row(conn, engine, bundle_sql.RECORDED_EXPORT, version_id=1,
                manifest_sha256="m2")["id"] == 2
    assert _row(conn, engine, bundle_sql.RECORDED_EXPORT, version_id=2,
                manifest_sha256="m1") is None

    listed = _rows(conn, engine, bundle_sql.LIST)
    assert listed[0] == {"id": 1, "version_id": 1, "path": "/out/b", "manifest_sha256": "m1",
                         "created_by": "ops1", "created_at": "t8", "status": "exported",
                         "files": '{"model.pkl": "x"}', "tmp_path": "/out/.b.tmp",
                         "host": "h", "pid": 7, "name": "churn", "version": 1}
    # the stores' column order (created_by before created_at), as `SELECT b.*` gave it
    assert list(listed[0]) == ["id", "version_id", "path", "manifest_sha256", "created_by",
                               "created_at", "status", "files", "tmp_path", "host", "pid",
                               "name", "version"]
    assert [b["id"] for b in listed] == [1, 2]
    assert [b["id"] for b in _rows(conn, engine, bundle_sql.LIST_OF_VERSION,
                                   version_id=1)] == [1, 2]
    assert _rows(conn, engine, bundle_sql.LIST_OF_VERSION, version_id=2) == []
    assert _rows(conn, engine, bundle_sql.SUMMARIES_OF_VERSION, version_id=1) == [
        {"id": 1, "path": "/out/b", "manifest_sha256": "m1", "created_by": "ops1",
         "created_at": "t8"},
        {"id": 2, "path": "/out/c", "manifest_sha256": "m2", "created_by": "ops1",
         "created_at": "t8"}]


def _statements():
    for module in (sql, bundle_sql):
        for name, value in vars(module).items():
            for statement in (value.values() if isinstance(value, dict) else [value]):
                if isinstance(statement, Statement):
                    yield f"{module.__name__}.{name}", statement


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_every_statement_compiles(engine):
    names = [name for name, statement in _statements() if statement.sql(engine)]
    assert len(names) > 40


def test_alias_upsert_and_quoted_user_compile_for_each_engine():
    upsert = ("ON CONFLICT (model, alias) DO UPDATE SET version_id = excluded.version_id, "
              "set_by = excluded.set_by, set_at = excluded.set_at")
    text, order, _, _ = sql.SET_ALIAS.sql("sqlite")
    assert text.startswith("INSERT INTO aliases (model, alias, version_id, set_by, set_at) "
                           "VALUES (?, ?, ?, ?, ?) ") and text.endswith(upsert)
    assert order == ("model", "alias", "version_id", "set_by", "set_at")
    pg_text = sql.SET_ALIAS.sql("postgresql")[0]
    assert pg_text.endswith(upsert) and "RETURNING" not in pg_text
    assert '"user"' in sql.RECORD_APPROVAL.sql("postgresql")[0]
    assert "RETURNING approvals.id" in sql.RECORD_APPROVAL.sql("postgresql")[0]
