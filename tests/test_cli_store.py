"""`lablift store init URL` and `lablift store info` through the command line, on a real
PostgreSQL server and on an embedded store."""

from __future__ import annotations

import json

import pytest

from lablift.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_then_info_on_a_team_store(pg_database, capsys):
    code, out, err = _run(capsys, "store", "init", pg_database, "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["engine"] == "postgresql" and made["role"] == "admin"
    code, out, err = _run(capsys, "--store", pg_database, "store", "info", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["schema_version"] == made["schema_version"] >= 4
    assert info["user"] == made["user"] and info["role"] == "admin"
    code, _, err = _run(capsys, "store", "init", pg_database)
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_a_database_that_is_not_a_team_store_is_refused_in_one_line(pg_database, capsys,
                                                                    tmp_path, monkeypatch):
    code, _, err = _run(capsys, "--store", pg_database, "dataset", "list")
    assert code == 1 and "is not a Lablift team store" in err and "store init" in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv("LABLIFT_STORE", pg_database)
    code, _, err = _run(capsys, "dataset", "list")
    assert code == 1 and "is not a Lablift team store" in err
    assert not any(tmp_path.iterdir())  # no folder named after the URL


def test_commands_work_in_a_team_store_as_the_server_s_user(pg_database, capsys):
    assert _run(capsys, "store", "init", pg_database)[0] == 0
    code, out, err = _run(capsys, "--store", pg_database, "dataset", "list", "--json")
    assert code == 0, err
    assert json.loads(out) == []
    code, out, err = _run(capsys, "--store", pg_database, "store", "info", "--json")
    me = json.loads(out)["user"]
    assert json.loads(out)["authenticated"] is True
    # the same name is no claim at all; another one is refused, saying how identity works
    assert _run(capsys, "--store", pg_database, "--user", me, "dataset", "list")[0] == 0
    code, _, err = _run(capsys, "--store", pg_database, "--user", "somebody", "dataset", "list")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "you are who the database server says" in err and repr(me) in err


def test_an_unreachable_server_is_one_line_without_the_password(capsys):
    code, _, err = _run(capsys, "--store", "postgresql://ann:s3cret-pw@127.0.0.1:1/db",
                        "store", "info")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "s3cret-pw" not in err and "ann:***@127.0.0.1:1/db" in err


def test_info_on_an_embedded_store(store_dir, capsys):
    code, out, err = _run(capsys, "--store", str(store_dir), "--user", "ann", "store", "info",
                          "--json")
    assert code == 0, err
    info = json.loads(out)
    assert (info["engine"], info["user"], info["role"], info["authenticated"]) == (
        "sqlite", "ann", "admin", False)
    code, out, _ = _run(capsys, "--store", str(store_dir), "store", "info")
    assert "identity: claimed" in out


@pytest.mark.parametrize("url", ["mysql://x/y", "postgresql:/missing-slash"])
def test_init_refuses_what_is_not_a_postgresql_url(url, capsys):
    code, _, err = _run(capsys, "store", "init", url)
    assert code == 1 and err.startswith("error: ")
