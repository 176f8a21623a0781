"""README "For a team" works as written: its shell blocks run under bash against a real
PostgreSQL server, over TCP with scram-sha-256 passwords read from ~/.pgpass, with the
server's host, port and fresh names in place of the README's placeholders."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pg

ROOT = Path(__file__).resolve().parents[1]


def _blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## For a team", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\n(.*?)```", section, flags=re.S)


def test_the_readme_team_section_runs_as_written(pg_server, tmp_path):
    blocks = _blocks()
    assert len(blocks) == 2 and "store init" in blocks[0] and ".pgpass" in blocks[1]
    port = pg._parts(pg_server)["port"]
    names = {"dba": pg.unique_name("dba"), "ana": pg.unique_name("ana"),
             "rita": pg.unique_name("rita")}
    database = pg.unique_name("lablift_readme")
    dba_password = "dba-" + os.urandom(6).hex()
    pg.pg_role(pg_server, names["dba"], password=dba_password)
    with pg.connect_admin(pg_server) as conn:
        conn.execute(f'ALTER ROLE "{names["dba"]}" CREATEROLE CREATEDB')
    for who in ("ana", "rita"):  # made by `users add`; noted for the session's clean-up
        pg._created_roles.setdefault(pg._server_key(pg_server), []).append(names[who])

    def fill(block: str) -> str:
        block = block.replace("dbhost", "127.0.0.1").replace("5432", port)
        block = re.sub(r"(DATABASE |-d |/|:)lablift\b", lambda m: m.group(1) + database, block)
        for word, name in names.items():
            block = re.sub(rf"\b{word}\b(?!_)", name, block)
        return block

    home = tmp_path / "home"
    home.mkdir()
    # the DBA's own credentials, where libpq finds them (the README assumes the DBA has them)
    (home / ".pgpass").write_text(f"127.0.0.1:{port}:*:{names['dba']}:{dba_password}\n")
    (home / ".pgpass").chmod(0o600)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "lablift"  # `lablift` as installed, from this checkout
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m lablift.cli \"$@\"\n")
    shim.chmod(0o755)
    env = {"HOME": str(home), "PATH": os.pathsep.join([str(bin_dir), str(pg.find_bindir()),
                                                        os.environ["PATH"]]),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), os.environ.get("PYTHONPATH", "")]),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "LANG": "C.UTF-8"}
    try:
        outputs = []
        for block in blocks:
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", fill(block)], env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, (fill(block), done.stdout, done.stderr)
            outputs.append(done.stdout)
        assert f"team store ready: postgresql://{names['dba']}@127.0.0.1:{port}/{database}" \
            in outputs[0]
        info = outputs[1]
        assert f"user: {names['ana']}" in info and "role: analyst" in info
        assert "identity: the database server's" in info
        assert "correct horse battery" not in outputs[0] + outputs[1]
    finally:
        pg.drop_database(pg_server, database)
