"""`lablift store copy`: an embedded store into a team store and back, every row and
artifact, with `audit verify` passing on both sides; non-empty targets and a source that
does not verify are refused, leaving the target as it was."""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest

import pg
from bundle_helpers import build_world
from lablift.cli import main
from lablift.core import audit, datasets, registry, training
from lablift.core.store import Store, copy as store_copy


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An embedded store with the whole lifecycle in it (approved and pending versions, an
    export by ops), shared by the tests here, which only read it."""
    return build_world(tmp_path_factory.mktemp("world"))


def _table_rows(store: Store) -> dict[str, list[tuple]]:
    """Every row but the audit log's and its head (the copy appends one entry)."""
    out = {t: list(store_copy._rows(store, t)) for t in store_copy.TABLES if t != "audit_log"}
    out["settings"] = [r for r in out["settings"] if r[0] != "audit_head"]
    return out


def test_embedded_to_team_and_back_keeps_every_row_and_artifact(world, pg_database, tmp_path,
                                                                capsys):
    src = world["root"] / "store"
    code = main(["store", "copy", str(src), pg_database, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["verified"] and result["engine"] == "postgresql"
    original = Store(src, user="admin")
    team = Store(pg_database)
    try:
        assert _table_rows(team) == _table_rows(original)
        # the source chain is a prefix of the copy's, which ends with the copy's own entry
        head = audit.head(original)
        assert audit.verify(team, head=head["hash"]).ok
        last = audit.entries(team, limit=1)[0]
        assert last["action"] == "store.copy" and last["seq"] == head["seq"] + 1
        # the artifacts are in the database now, and work: the model and the dataset load
        assert team.conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == \
            result["artifacts"] > 0
        run = training.get_run(team, world["run"]["id"])
        assert type(training.load_pipeline(team, run)).__name__ == "Pipeline"
        frame = datasets.load_frame(team, datasets.resolve(team, "loans"))
        assert frame.equals(world["frame"])
    finally:
        team.close()

    # the source's people are login roles with their roles: ana can work, as herself
    ana = Store(pg.with_user(pg_database, "ana"))
    try:
        assert ana.user == "ana" and ana.role() == "analyst"
        assert [v["status"] for v in registry.list_versions(ana, "loans")] == ["approved",
                                                                               "pending"]
    finally:
        ana.close()

    back = tmp_path / "back"
    code = main(["store", "copy", pg_database, str(back), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    again = Store(back, user="admin")
    try:
        assert _table_rows(again) == _table_rows(original)
        assert audit.verify(again, head=audit.head(original)["hash"]).ok
        assert sorted(p.name for p in (back / "artifacts").glob("??/*")) == sorted(
            p.name for p in (src / "artifacts").glob("??/*"))
    finally:
        again.close()
        original.close()


def test_a_non_empty_target_is_refused_and_left_as_it_was(world, pg_database, tmp_path,
                                                          capsys):
    from lablift.core.store import team
    team.init(pg_database)
    code = main(["store", "copy", str(world["root"] / "store"), pg_database])
    _, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 1 and len(errors) == 1 and "is not empty" in errors[0]
    assert "Traceback" not in err
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 1
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    code = main(["store", "copy", str(world["root"] / "store"), str(full)])
    _, err = capsys.readouterr()
    assert code == 1 and "is not empty" in err
    assert [p.name for p in full.iterdir()] == ["notes.txt"]


def test_a_source_that_does_not_verify_is_not_copied(world, pg_database, tmp_path, capsys):
    import shutil
    src = tmp_path / "tampered"
    shutil.copytree(world["root"] / "store", src)
    con = sqlite3.connect(src / "lineage.db")
    con.execute("UPDATE model_versions SET status = 'approved' WHERE version = 2")
    con.commit()
    con.close()
    code = main(["store", "copy", str(src), pg_database])
    _, err = capsys.readouterr()
    assert code == 1 and "does not verify" in err and "model_versions" in err
    with psycopg.connect(pg_database) as conn:  # still empty: nothing was made
        assert conn.execute("SELECT to_regclass('public.runs')").fetchone()[0] is None
