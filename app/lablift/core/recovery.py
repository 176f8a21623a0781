"""What a dead process left half-done, reconciled when a store opens.

- A run or sweep still 'running' in a process of this host that is gone: interrupted.
- An export still 'exporting' whose process is gone: the bundle at the recorded path with
  the recorded manifest is recorded as written; otherwise its temporary folder is removed and
  the export is marked abandoned. A folder at the path that is not that bundle is left alone.
- Artifacts a dead process claimed (artifacts.py) that no row names, its temporary files
  and its temporary bundle folders: removed.

Each correction is audited. Only processes on this host can be checked; what another host's
processes own is left alone (and a store on a network drive uses no WAL: DESIGN).
Opening a store where nothing died writes nothing and takes no write lock.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from . import audit
from .artifacts import CLAIMS_DIR, temp_prefix
from .store.sql import repository

sql = repository("recovery")  # statements: core/store/recovery.py

if TYPE_CHECKING:
    from .store import Store

INTERRUPTED = "the process running it ended before it finished"


def reconcile(store: "Store") -> dict[str, int]:
    host = socket.gethostname()
    # In a team store the server grants each correction to the roles that make that change
    # (runs and sweeps: analysts; exports: ops); a reviewer opening it leaves them to those.
    role = store.role() if store.engine != "sqlite" else "admin"
    runs = role in ("analyst", "admin")
    exports = role in ("ops", "admin")
    return {"runs": _runs(store, host) if runs else 0,
            "sweeps": _sweeps(store, host) if runs else 0,
            "exports": _exports(store, host) if exports else 0,
            "artifacts": _claims(store, host)}


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's live process (or not ours to judge)
    return True


def _dead(rows: list[dict], host: str) -> list[dict]:
    return [r for r in rows if r.get("host") == host and r.get("pid") != os.getpid()
            and not pid_alive(r.get("pid"))]


def _runs(store: "Store", host: str) -> int:
    from .store import utcnow
    dead = _dead(store.rows(sql.RUNNING_RUNS_ON, host=host), host)
    for r in dead:
        with store.transaction():
            now = utcnow()
            n = sql.INTERRUPT_RUN.execute(store.conn, store.engine, {
                "id": r["id"], "finished_at": now, "error": INTERRUPTED}).rowcount
            if n:
                audit.append(store, "run.interrupted", f"run:{r['id']}",
                             {"pid": r["pid"], "host": host, "reason": INTERRUPTED}, ts=now)
    return len(dead)


def _sweeps(store: "Store", host: str) -> int:
    from .store import utcnow
    rows = store.rows(sql.RUNNING_SWEEPS)
    if not rows:
        return 0
    dead = _dead(rows, host)
    # Sweeps from before they named their process: dead when no run of theirs still runs
    # and one was interrupted.
    dead += [{"id": r["id"], "pid": None} for r in rows if r.get("host") is None
             and store.value(sql.ORPHANED_LEGACY_SWEEP, id=r["id"]) is not None]
    for r in dead:
        with store.transaction():
            now = utcnow()
            runs = [x["id"] for x in store.rows(sql.RUNNING_RUNS_OF_SWEEP, sweep_id=r["id"])]
            for run_id in runs:  # its runs ran in the same process (or its workers)
                sql.INTERRUPT_RUN.execute(store.conn, store.engine, {
                    "id": run_id, "finished_at": now, "error": INTERRUPTED})
            n = sql.INTERRUPT_SWEEP.execute(store.conn, store.engine, {
                "id": r["id"], "finished_at": now}).rowcount
            if n or runs:
                audit.append(store, "sweep.interrupted", f"sweep:{r['id']}",
                             {"pid": r.get("pid"), "host": host, "runs": runs,
                              "reason": INTERRUPTED}, ts=now)
    return len(dead)


def _exports(store: "Store", host: str) -> int:
    from . import bundles
    from .store import utcnow
    dead = _dead(store.rows(sql.EXPORTING), host)
    for r in dead:
        path = Path(r["path"])
        written = path.is_dir() and bundles.matches_manifest(path, r["manifest_sha256"])
        tmp = Path(r["tmp_path"]) if r.get("tmp_path") else None
        if tmp is not None and tmp.exists() and tmp != path:
            shutil.rmtree(tmp, ignore_errors=True)
        with store.transaction():
            status = "exported" if written else "abandoned"
            n = sql.SETTLE_EXPORT.execute(store.conn, store.engine,
                                          {"id": r["id"], "status": status}).rowcount
            if n:
                audit.append(store, "bundle.written" if written else "bundle.abandoned",
                             f"bundle:{r['id']}",
                             {"path": r["path"], "reconciled": True, "pid": r["pid"],
                              "exported_by": r["created_by"],
                              "manifest_sha256": r["manifest_sha256"]}, ts=utcnow())
    return len(dead)


def _claims(store: "Store", host: str) -> int:
    """Sweep what dead processes claimed and no row names (artifacts.py explains claims)."""
    folder = store.artifacts.root / CLAIMS_DIR
    try:
        files = list(folder.iterdir())
    except OSError:
        return 0
    dead = [f for f in files if _owner(f, host) is not None and not _alive(_owner(f, host))]
    if not dead:
        return 0
    removed = 0
    for f in dead:
        pid = int(f.name.rpartition("-")[2])
        shas, dirs = _read_claims(f)
        for d in dirs:
            if d.name.endswith(".partial") and d.is_dir():
                shutil.rmtree(d, ignore_errors=True)
        for tmp in [*store.artifacts.root.glob(f"{temp_prefix(pid)}*.tmp"),
                    *store.artifacts.root.glob(f"??/{temp_prefix(pid)}*.tmp")]:
            _unlink(tmp)
        for sha in shas:
            if _referenced(store, sha):
                continue
            removed += _remove_unclaimed(store, sha, host)
        _unlink(f)
    return removed


def _read_claims(path: Path) -> tuple[list[str], list[Path]]:
    shas, dirs = [], []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return shas, dirs
    for line in text.splitlines():
        if line.startswith("dir "):
            dirs.append(Path(line[4:]))
        elif len(line) == 64:
            shas.append(line)
    return list(dict.fromkeys(shas)), dirs


def _owner(f: Path, host: str) -> int | None:
    owner_host, _, pid = f.name.rpartition("-")
    return int(pid) if owner_host == host and pid.isdigit() else None


def _alive(pid: int) -> bool:
    return pid == os.getpid() or pid_alive(pid)


def _live_claims(store: "Store", host: str) -> set[str]:
    """Listed anew each time: a process that started a moment ago counts too. Claims of
    other hosts count as live: we cannot tell whether those processes still run."""
    out: set[str] = set()
    for f in (store.artifacts.root / CLAIMS_DIR).iterdir():
        pid = _owner(f, host)
        if pid is None or _alive(pid):
            out.update(_read_claims(f)[0])
    return out


def _referenced(store: "Store", sha: str) -> bool:
    return store.value(sql.ARTIFACT_NAMED, sha=sha) is not None


def _remove_unclaimed(store: "Store", sha: str, host: str) -> int:
    # Move it aside, then look at the live claims again: a live process that claimed it in
    # between either saw it missing (and writes it anew) or claimed it before our second
    # look (and we put it back). Either way what it records exists.
    target = store.artifacts.path(sha)
    if not target.exists() or sha in _live_claims(store, host):
        return 0
    aside = target.with_name(f"{target.name}.trash.{os.getpid()}")
    try:
        os.replace(target, aside)
    except OSError:
        return 0
    if sha in _live_claims(store, host) and not target.exists():
        os.replace(aside, target)
        return 0
    _unlink(aside)
    return 1


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
