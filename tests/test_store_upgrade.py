"""A store made by the last schema-2 release (tests/fixtures/store_schema2, see its README)
opened by the current code: upgraded in place, nothing lost, one `audit.baseline` entry
witnessing its rows as found, and from then on governed like a new store."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from lablift.cli import main
from lablift.core.store.migrate import HEAD

FIXTURE = Path(__file__).parent / "fixtures" / "store_schema2"
GOVERNED_PK = {"users": "name", "settings": "key", "datasets": "id", "sweeps": "id",
               "runs": "id", "models": "name", "model_versions": "id",
               "aliases": "model || '/' || alias", "checks": "id", "approvals": "id",
               "bundles": "id", "batches": "id", "alerts": "id"}


def _db(root: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(root / "lineage.db", isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def _snapshot(root: Path) -> dict:
    """What the store holds, read with plain sqlite3."""
    conn = _db(root)
    try:
        one = lambda sql: [dict(r) for r in conn.execute(sql)]  # noqa: E731
        return {
            "schema": conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0],
            "users": one("SELECT name, role FROM users ORDER BY name"),
            "datasets": one("SELECT id, name, version, sha256, artifact, rows FROM datasets"),
            "runs": one("SELECT id, status, metrics, artifacts, created_by FROM runs"),
            "versions": one("SELECT id, model, version, run_id, status, created_by "
                            "FROM model_versions"),
            "checks": one("SELECT id, version_id, name, passed FROM checks ORDER BY id"),
            "approvals": one("SELECT id, version_id, decision, user, comment, at FROM approvals"),
            "aliases": one("SELECT model, alias, version_id, set_by FROM aliases"),
            "audit": one("SELECT seq, action, entity, hash FROM audit_log ORDER BY seq"),
            "keys": {f"{t}:{k}" for t, pk in GOVERNED_PK.items() for (k,) in conn.execute(
                f"SELECT {pk} FROM {t}" + (" WHERE key <> 'audit_head'"
                                           if t == "settings" else ""))},
        }
    finally:
        conn.close()


@pytest.fixture
def old_store(tmp_path):
    """A copy of the schema-2 fixture (never opened in place) and what it held."""
    root = tmp_path / "store"
    shutil.copytree(FIXTURE, root)
    return root, _snapshot(root)


def _lablift(root, user, *argv, capsys):
    code = main(["--store", str(root), "--user", user, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _upgrade(root, capsys) -> dict:
    code, out, err = _lablift(root, "admin", "dataset", "list", capsys=capsys)
    assert code == 0, err
    assert "loans" in out and "05acfaa76df1" in out
    code, out, err = _lablift(root, "admin", "model", "show", "loan:1", "--json", capsys=capsys)
    assert code == 0, err
    return json.loads(out)


def test_fixture_is_a_small_schema2_store():
    names = {p.name for p in FIXTURE.iterdir()}
    assert names == {"lineage.db", "artifacts", "README.md"}  # no -wal / -shm left over
    size = sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file())
    assert size < 2 * 1024 * 1024
    conn = sqlite3.connect(f"file:{FIXTURE / 'lineage.db'}?mode=ro&immutable=1", uri=True)
    try:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE details LIKE "
                            "'%\"rows\": {%'").fetchone()[0] == 0  # no witnesses yet
    finally:
        conn.close()


def test_upgrade_keeps_everything(old_store, capsys):
    root, before = old_store
    assert before["schema"] == 2 and HEAD > 2
    assert before["versions"][0]["status"] == "approved"
    assert before["aliases"] == [{"model": "loan", "alias": "production", "version_id": 1,
                                  "set_by": "admin"}]

    shown = _upgrade(root, capsys)
    assert shown["status"] == "approved" and shown["aliases"] == ["production"]
    assert shown["decided_by"] == "bob" and shown["comment"] == before["approvals"][0]["comment"]

    after = _snapshot(root)
    assert after["schema"] == HEAD
    for part in ("users", "datasets", "runs", "versions", "checks", "approvals", "aliases",
                 "keys"):
        assert after[part] == before[part], part
    # the old chain is kept as it was; one baseline entry follows it
    n = len(before["audit"])
    assert after["audit"][:n] == before["audit"]
    assert [e["action"] for e in after["audit"][n:]] == ["audit.baseline"]
    assert json.loads(after["runs"][0]["metrics"]) == json.loads(before["runs"][0]["metrics"])

    # opening again upgrades nothing more and adds no second baseline
    _upgrade(root, capsys)
    assert _snapshot(root)["audit"] == after["audit"]


def test_upgraded_store_verifies_with_one_baseline(old_store, capsys):
    root, before = old_store
    _upgrade(root, capsys)
    code, out, err = _lablift(root, "admin", "audit", "verify", capsys=capsys)
    assert code == 0, err
    assert "every governed row matches it" in out
    code, out, err = _lablift(root, "admin", "audit", "verify", "--json", capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    conn = _db(root)
    try:
        baselines = [json.loads(d) for (d,) in conn.execute(
            "SELECT details FROM audit_log WHERE action = 'audit.baseline'")]
    finally:
        conn.close()
    assert len(baselines) == 1
    # the baseline witnesses every governed row the store held, as found
    assert set(baselines[0]["witness"]) == before["keys"]


def test_tamper_after_upgrade_is_detected(old_store, capsys):
    root, _ = old_store
    _upgrade(root, capsys)
    conn = _db(root)
    conn.execute("UPDATE model_versions SET status = 'rejected' WHERE id = 1")
    conn.execute("UPDATE approvals SET user = 'alice' WHERE id = 1")
    conn.close()
    code, out, err = _lablift(root, "admin", "audit", "verify", "--json", capsys=capsys)
    assert code == 1
    assert "model_versions:1 differs from what the audit log says" in err
    assert "approvals:1 differs from what the audit log says" in err
    problems = {(p["key"], p["problem"], p["action"]) for p in json.loads(out)["problems"]}
    assert problems == {("model_versions:1", "changed", "audit.baseline"),
                        ("approvals:1", "changed", "audit.baseline")}


def test_upgraded_store_exports_and_the_bundle_verifies(old_store, tmp_path, capsys):
    root, _ = old_store
    _upgrade(root, capsys)
    code, out, err = _lablift(root, "admin", "users", "add", "olga", "--role", "ops",
                              capsys=capsys)
    assert code == 0, err
    out_dir = tmp_path / "bundle"
    code, out, err = _lablift(root, "olga", "bundle", "export", "loan:1", "--out",
                              str(out_dir), capsys=capsys)
    assert code == 0, err
    code, out, err = _lablift(root, "olga", "bundle", "verify", str(out_dir), capsys=capsys)
    assert code == 0, err
    manifest = json.loads((out_dir / "lablift.json").read_text())
    assert manifest["model"]["ref"] == "loan:1" and manifest["model"]["status"] == "approved"
    assert [a["user"] for a in manifest["approvals"]] == ["bob"]
    conn = _db(root)
    try:
        assert conn.execute("SELECT 1 FROM audit_log WHERE hash = ?",
                            (manifest["audit_head"]["hash"],)).fetchone()
    finally:
        conn.close()
    code, out, err = _lablift(root, "admin", "audit", "verify", capsys=capsys)
    assert code == 0, err
