"""The PostgreSQL fixtures give a real server, fresh databases and roles that act as themselves."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

import pg
from pg import pg_role, unique_name


def _one(url, query, params=None):
    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute(query, params).fetchone()


def test_server_answers_and_is_recent_enough(pg_server):
    version = _one(pg_server, "SELECT version()")[0]
    assert version.startswith("PostgreSQL ")
    assert int(_one(pg_server, "SHOW server_version_num")[0]) >= 130000, version
    assert _one(pg_server, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0]


def _user_relations(url) -> int:
    return _one(url, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                     "AND n.nspname NOT LIKE 'pg_toast%%'")[0]


def test_pg_database_is_empty_and_its_own(pg_database):
    name = pg.dbname_of(pg_database)
    assert name.startswith("lablift_test_")
    assert _one(pg_database, "SELECT current_database()")[0] == name
    assert _user_relations(pg_database) == 0
    with psycopg.connect(pg_database) as conn:
        conn.execute("CREATE TABLE t (x int)")
    assert _user_relations(pg_database) == 1


def test_each_database_is_new_and_dropped_after(pg_server):
    # fresh_database is what the pg_database fixture runs.
    with pg.fresh_database(pg_server) as first:
        with psycopg.connect(first) as conn:
            conn.execute("CREATE TABLE t (x int)")
        held = psycopg.connect(first)  # a leaked connection must not block the drop
        with pg.fresh_database(pg_server) as second:
            assert pg.dbname_of(second) != pg.dbname_of(first)
            assert _user_relations(second) == 0
        assert not _one(pg_server, "SELECT count(*) FROM pg_database WHERE datname = %s",
                        [pg.dbname_of(second)])[0]
    assert not _one(pg_server, "SELECT count(*) FROM pg_database WHERE datname = %s",
                    [pg.dbname_of(first)])[0]
    assert _connection_dead(held)
    held.close()


def _connection_dead(conn) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_role_connects_as_itself_and_cannot_create_databases(pg_database):
    name = unique_name("analyst")
    url = pg_role(pg_database, name)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT current_user, session_user").fetchone() == (name, name)
        assert not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(f'CREATE DATABASE "{unique_name("nope")}"')


def test_nologin_role_cannot_connect(pg_database):
    url = pg_role(pg_database, unique_name("group"), login=False)
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(url, connect_timeout=10)


def test_password_role_over_loopback_needs_its_password(pg_server, pg_database):
    rules = _rows(pg_server, "SELECT auth_method FROM pg_hba_file_rules "
                             "WHERE type = 'host' AND '127.0.0.1' = address")
    if ("scram-sha-256",) not in rules:
        pytest.skip(f"this server does not ask for passwords on 127.0.0.1 ({rules})")
    name = unique_name("reviewer")
    url = pg_role(pg_database, name, password="s3cret pass")
    with psycopg.connect(pg.tcp_url(url), connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user, inet_server_addr() IS NOT NULL").fetchone() == (name, True)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg.tcp_url(url, name, "wrong"), connect_timeout=10)


def _rows(url, query):
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_url_works_with_sqlalchemy(pg_database):
    import sqlalchemy as sa

    engine = sa.create_engine(pg_database.replace("postgresql://", "postgresql+psycopg://"))
    try:
        meta = sa.MetaData()
        runs = sa.Table("runs", meta, sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("name", sa.Text, nullable=False))
        with engine.begin() as conn:
            meta.create_all(conn)
            conn.execute(runs.insert(), [{"name": "b"}, {"name": "a"}, {"name": "B"}])
        with engine.connect() as conn:
            assert sorted(conn.execute(sa.select(runs.c.name)).scalars()) == ["B", "a", "b"]
            assert conn.execute(sa.text("SELECT current_database()")).scalar() == pg.dbname_of(pg_database)
    finally:
        engine.dispose()
