"""Watching a folder: batch files and serve.py prediction logs are ingested as they arrive
(`lablift monitor watch DIR --model REF`).

- Polling (stdlib os.scandir, one scan per interval; no busy loop): it works the same on a
  local disk, a network share and a container volume, where change notifications do not.
- A file is ingested once its size and mtime have stayed the same over STABLE_POLLS polls
  after it was first seen, so a file still being written is left alone.
- A file is ingested once: before ingesting, its content sha256 is looked up among the
  version's batches (the `batches.sha256` column; labels files by the sha256 each updated
  batch records), so a copy under another name, or a restart of the watcher, skips it. A file
  that fails is reported and retried only when it changes.
- Files already in the folder at start are treated as new ones (the sha256 check skips those
  ingested before).
- recursive=True (`--recursive`) also scans subfolders (e.g. one per day, 2026-12-01/batch.csv);
  files are then named by their path below the folder. Hidden folders are skipped, symbolic
  links are not followed (files or folders) and a folder met twice (a bind mount, a Windows
  junction) is scanned once, so a loop cannot make a scan endless. Off by
  default: a folder that keeps processed files in a subfolder is watched as before.
- Retrain policy: with the monitoring setting retrain_on_alert, a batch that raises an alert
  trains a pending challenger (retrain.py), unless a challenger of that version is pending
  review already. Retraining needs the analyst role; a refusal is an event, not an exit.
- Stopping (`stop` set, e.g. by SIGTERM): the ingest in progress is cancelled at its next
  step; its batches are written in one transaction at the end, so it is recorded whole or
  not at all, and the event says which.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..artifacts import sha256_file
from ..errors import Cancelled, LabliftError
from ..store import Store
from ..store.sql import repository
from .batch_files import LOG_SUFFIXES

monitor_sql = repository("monitoring")  # statements: core/store/monitoring.py

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq", ".parq", ".xlsx")
WATCHED_SUFFIXES = TABLE_SUFFIXES + LOG_SUFFIXES
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")
STABLE_POLLS = 2
Emit = Callable[[dict[str, Any]], None]


def watched(name: str) -> bool:
    """A file name the watcher takes: a batch or log suffix, not hidden, not a partial copy."""
    low = name.lower()
    return (not name.startswith(".") and not low.endswith(PARTIAL_SUFFIXES)
            and low.endswith(WATCHED_SUFFIXES))


def _has_column(path: Path, column: str) -> bool:
    """Whether the file names `column`, from its head only: --label applies to the files that
    carry labels (a labelled batch, a labels file), not to a prediction log without them.
    When in doubt, True: ingest then names the missing column."""
    import json
    try:
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq", ".parq"):
            import pyarrow.parquet as pq
            return column in pq.read_schema(path).names
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        if suffix in LOG_SUFFIXES or head.lstrip().startswith(b"{"):
            for line in head.decode("utf-8", "replace").splitlines()[:50]:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and (column in rec or column in (
                        rec.get("inputs") if isinstance(rec.get("inputs"), dict) else {})):
                    return True
            return False
        if suffix in (".xlsx",):
            return True
        import csv
        first = head.decode("utf-8-sig", "replace").splitlines()[:1]
        if not first:
            return True
        dialect = "excel-tab" if suffix in (".tsv", ".tab") or "\t" in first[0] else "excel"
        return column in next(csv.reader(first, dialect))
    except (OSError, ValueError, StopIteration):
        return True
    except Exception:  # pyarrow's errors on a broken file: let ingest name the problem
        return True


class Watcher:
    """Polls `folder` every `interval` seconds until `stop` is set; `emit(event)` is called
    once per event: {"time", "event", "file"?, "message", ...}."""

    def __init__(self, store: Store, ref: str, folder: str | os.PathLike, emit: Emit,
                 label: str | None = None, interval: float = 2.0,
                 stop: threading.Event | None = None, recursive: bool = False):
        from .. import registry
        self.store, self.ref, self.label, self.emit_ = store, ref, label, emit
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise LabliftError(f"{self.folder} is not a folder (monitor watch takes a folder "
                               f"to watch for batch files and prediction logs)")
        if not interval > 0:
            raise LabliftError(f"--interval must be more than 0 seconds, got {interval:g}")
        store.require_role("ingesting monitoring batches", "ops", "analyst")
        self.interval = float(interval)
        self.recursive = bool(recursive)
        self.stop = stop or threading.Event()
        registry.resolve_version(store, ref)  # an unknown REF is refused before watching
        # keyed by the path below the folder, "/"-separated: "a.csv", "2026-12-01/batch.csv"
        self.seen: dict[str, tuple[tuple[int, int], int]] = {}  # name: (size, mtime), polls
        self.tried: dict[str, tuple[int, int]] = {}  # name: signature last ingested or failed

    def emit(self, event: str, message: str, **extra: Any) -> None:
        self.emit_({"time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "event": event, **extra, "message": message})

    def run(self) -> None:
        self.emit("watching", f"watching {self.folder}"
                  + (" and its subfolders" if self.recursive else "")
                  + f" for {self.ref} every {self.interval:g} s", folder=str(self.folder),
                  recursive=self.recursive)
        while not self.stop.is_set():
            try:
                self.poll()
            except OSError as exc:  # the folder went away or cannot be read: say so, go on
                self.emit("error", f"cannot read {self.folder}: {exc}")
            self.stop.wait(self.interval)
        self.emit("stopped", "stopped")

    def scan(self) -> dict[str, tuple[int, int]]:
        """Watched files below the folder: {relative name: (size, mtime_ns)}. Only the top
        folder's errors are raised; a subfolder removed or unreadable meanwhile is passed."""
        current: dict[str, tuple[int, int]] = {}
        pending: list[tuple[Path, str]] = [(self.folder, "")]
        visited: set[tuple[int, int]] = set()  # a bind mount or a Windows junction loops too
        while pending:
            folder, prefix = pending.pop()
            try:
                st = os.stat(folder)
                if (st.st_dev, st.st_ino) in visited:
                    continue
                visited.add((st.st_dev, st.st_ino))
                it = os.scandir(folder)
            except OSError:
                if not prefix:
                    raise
                continue
            with it:
                for entry in it:
                    try:
                        # never through a link: a loop (sub/up -> ..) would never end
                        if self.recursive and not entry.name.startswith(".") and \
                                entry.is_dir(follow_symlinks=False):
                            pending.append((Path(entry.path), f"{prefix}{entry.name}/"))
                            continue
                        if not watched(entry.name) or not entry.is_file(follow_symlinks=False):
                            continue
                        st = entry.stat(follow_symlinks=False)
                    except OSError:  # removed meanwhile
                        continue
                    current[prefix + entry.name] = (st.st_size, st.st_mtime_ns)
        return current

    def poll(self) -> None:
        """One scan: files stable long enough are ingested, in name order."""
        current = self.scan()
        ready = []
        for name, sig in current.items():
            before = self.seen.get(name)
            polls = before[1] + 1 if before and before[0] == sig else 0
            self.seen[name] = (sig, polls)
            if polls >= STABLE_POLLS and self.tried.get(name) != sig:
                ready.append(name)
        for name in list(self.seen):
            if name not in current:
                del self.seen[name]
                self.tried.pop(name, None)
        for name in sorted(ready):
            if self.stop.is_set():
                return
            self.tried[name] = self.seen[name][0]
            self.handle(self.folder / name)

    def _version(self) -> dict[str, Any]:
        from .. import registry
        return registry.resolve_version(self.store, self.ref)  # an alias may have moved

    def _ingested_as(self, version: dict[str, Any], sha: str) -> list[int]:
        """Batches of the version made from these bytes (or updated by them, as labels)."""
        ids = [r["id"] for r in self.store.rows(monitor_sql.SAME_SOURCE,
                                                version_id=version["id"], sha256=sha)]
        if ids:
            return ids
        return [r["id"] for r in self.store.rows(monitor_sql.BATCHES_OF, version_id=version["id"])
                if ((r.get("result") or {}).get("labels") or {}).get("sha256") == sha]

    def handle(self, path: Path) -> None:
        from .ingest import ingest_batches
        name = path.relative_to(self.folder).as_posix()  # what events call the file
        try:
            version = self._version()
            sha = sha256_file(path)
            prior = self._ingested_as(version, sha)
        except (LabliftError, OSError) as exc:
            self.emit("error", f"{name}: {exc}", file=name)
            return
        if prior:
            self.emit("skipped", f"{name}: same bytes as batch "
                      f"{', '.join(map(str, prior))} of {version['ref']}", file=name,
                      batches=prior)
            return
        label = self.label if self.label and _has_column(path, self.label) else None
        self.emit("ingesting", f"{name} for {version['ref']}"
                  + (f" (no {self.label!r} column: without labels)"
                     if self.label and not label else ""), file=name)
        try:
            batches = ingest_batches(self.store, version["ref"], path, label=label,
                                     cancelled=self.stop.is_set)
        except Cancelled:
            done = self._ingested_as(version, sha)  # cancelled after the commit: it is in
            if done:
                self.emit("ingested", f"{name}: batch {', '.join(map(str, done))}",
                          file=name, batches=done)
            else:
                self.emit("abandoned", f"{name}: stopped before it was recorded; "
                          f"nothing of it is in the store", file=name)
            return
        except (LabliftError, OSError, ValueError) as exc:
            self.emit("error", f"{name}: {exc}", file=name)
            return
        except Exception as exc:  # one broken file must not stop the watcher
            self.emit("error", f"{name}: {type(exc).__name__}: {exc}", file=name)
            return
        alerts = []
        for b in batches:
            self.emit("ingested", f"{name}: batch {b['id']}"
                      + (f" ({b['window']})" if b.get("window") else "")
                      + f", {b['rows']} rows, drift share {b['drift_share']:.2f}, "
                        f"{len(b.get('alerts') or [])} alerts", file=name, batch=b["id"],
                      rows=b["rows"], drift_share=b["drift_share"],
                      dataset_drift=b["dataset_drift"])
            for a in b.get("alerts") or []:
                alerts.append(a)
                self.emit("alert", f"batch {b['id']}: {a['kind']}: {a['message']}",
                          batch=b["id"], kind=a["kind"])
        if alerts and not self.stop.is_set():
            self.maybe_retrain(version)

    def maybe_retrain(self, version: dict[str, Any]) -> None:
        from .. import registry
        from .retrain import retrain
        from .settings import settings
        if not settings(self.store).get("retrain_on_alert"):
            return
        pending = [v for v in registry.list_versions(self.store, version["model"], "pending")
                   if v.get("challenger_of") == version["id"]]
        if pending:
            self.emit("retrain_skipped", f"challenger {version['model']}:{pending[-1]['version']}"
                      f" of {version['ref']} is still pending review")
            return
        self.emit("retraining", f"{version['ref']}: the retrain policy (retrain_on_alert) "
                                f"trains a challenger")
        try:
            out = retrain(self.store, version["ref"], cancelled=self.stop.is_set)
        except Cancelled:
            self.emit("retrain_abandoned", f"{version['ref']}: stopped before a challenger "
                                           f"was registered")
            return
        except LabliftError as exc:
            self.emit("retrain_failed", f"{version['ref']}: {exc}")
            return
        comp = out.get("comparison") or {}
        self.emit("challenger", f"{out['challenger']['ref']} registered (pending), compared "
                  f"on {comp.get('rows', 0)} held-out rows of batch {comp.get('batch_id')}",
                  challenger=out["challenger"]["ref"])
