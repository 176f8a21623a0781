"""The SQLAlchemy schema (core/store/schema.py) is the schema an embedded store has: same
tables, columns, types, nullability, defaults, keys, foreign keys and indexes."""

from __future__ import annotations

import sqlalchemy as sa

from lablift.core.store import Store
from lablift.core.store import schema as store_schema


def _describe(engine) -> dict:
    insp = sa.inspect(engine)
    out = {}
    for table in sorted(set(insp.get_table_names()) - {"alembic_version"}):
        cols = {c["name"]: (str(c["type"]).split("(")[0].upper(), bool(c["nullable"]),
                            (str(c["default"]).strip("()") if c["default"] is not None
                             else None))
                for c in insp.get_columns(table)}
        out[table] = {
            "columns": cols,
            "pk": tuple(insp.get_pk_constraint(table)["constrained_columns"]),
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                           tuple(f["referred_columns"])) for f in insp.get_foreign_keys(table)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]))
                              for i in insp.get_indexes(table) if not i.get("unique")),
        }
    return out


def _normalise(desc: dict) -> dict:
    # SQLite reports a single INTEGER primary key as nullable; both spellings are the rowid
    for table in desc.values():
        for name in table["pk"]:
            kind, _, default = table["columns"][name]
            table["columns"][name] = (kind, False, default)
    return desc


def test_schema_module_matches_an_embedded_store(tmp_path):
    Store(tmp_path / "store", user="admin").close()
    made = sa.create_engine(f"sqlite:///{tmp_path / 'store' / 'lineage.db'}")
    declared = sa.create_engine(f"sqlite:///{tmp_path / 'declared.db'}")
    store_schema.metadata.create_all(declared)
    assert _normalise(_describe(declared)) == _normalise(_describe(made))


def test_head_is_the_newest_alembic_revision():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from lablift.core.store import migrate
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == [f"{migrate.HEAD:04d}"]
    assert [r.revision for r in reversed(list(script.walk_revisions()))] == [
        f"{n:04d}" for n in range(1, migrate.HEAD + 1)]


def test_a_current_store_opens_without_importing_alembic(tmp_path):
    import subprocess
    import sys
    Store(tmp_path / "store", user="admin").close()
    code = ("import sys; from lablift.core.store import Store; "
            f"Store({str(tmp_path / 'store')!r}, user='admin'); "
            "print('alembic' in sys.modules, 'sqlalchemy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_two_processes_upgrading_an_old_store_at_once_upgrade_it_once(tmp_path):
    import shutil
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    from lablift.core.store import migrate
    fixture = Path(__file__).parent / "fixtures" / "store_schema2"
    root = tmp_path / "store"
    shutil.copytree(fixture, root, ignore=shutil.ignore_patterns("README.md"))
    code = ("from lablift.cli import main; import sys; "
            f"sys.exit(main(['--store', {str(root)!r}, '--user', 'admin', 'dataset', 'list']))")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    conn = sqlite3.connect(root / "lineage.db")
    baselines = conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.baseline'"
                             ).fetchone()[0]
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    conn.close()
    assert baselines == 1 and versions == list(range(1, migrate.HEAD + 1))
