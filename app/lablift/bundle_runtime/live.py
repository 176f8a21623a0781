"""What a Lablift bundle's server scores with, and what it writes: the --log writer, the
bundle in use and its reload (SIGHUP, POST /admin/reload), and the --shadow bundle. Part of
the bundle's runtime (see serve.py): run only after the integrity check; never imports Lablift.
"""

import json
import os
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from .inputs import _from_rows
from .scoring import Scorer, _jsonable
from .serve import SUMS_FILE, BundleError, InputError, read_sums


# --------------------------------------------------------------------------- the --log file
class PredictionLog:
    """One JSON line per scored row, and one per rejected request (no inputs, no prediction:
    {"timestamp", "request_id", "model", "error": {"status", "message"}, "latency_ms"}), so
    that monitoring can count failed requests. Appended and flushed under a lock (threads
    share it)."""

    def __init__(self, path: Path, model: str):
        self.path = path
        self.model = model
        self._lock = threading.Lock()
        self._f = open(path, "a", encoding="utf-8")

    def write(self, request_id: str, coerced: dict, pred, proba, classes, latency_ms: float,
              model: str | None = None, shadow: list[dict] | None = None):
        """`model`: the label of the scorer that answered (it changes on reload); `shadow`:
        one {"model", "prediction", ...} per row from --shadow (see the module docstring)."""
        ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        model = model or self.model
        names = list(coerced)
        cols = [coerced[n] for n in names]
        preds = pred.tolist() if hasattr(pred, "tolist") else list(pred)
        lines = []
        for i, p in enumerate(preds):
            entry = {"timestamp": ts, "request_id": request_id, "row": i, "model": model,
                     "inputs": {n: _jsonable(c[i]) for n, c in zip(names, cols)},
                     "prediction": _jsonable(p), "latency_ms": round(latency_ms, 3)}
            if proba is not None:
                entry["probabilities"] = {str(c): float(proba[i, j])
                                          for j, c in enumerate(classes)}
            if shadow is not None:
                entry["shadow"] = shadow[i]
            lines.append(json.dumps(entry, ensure_ascii=False, default=str))
        text = "\n".join(lines) + "\n"
        with self._lock:
            self._f.write(text)
            self._f.flush()

    def write_error(self, request_id: str, status: int, message: str, latency_ms: float,
                    model: str | None = None):
        entry = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                 "request_id": request_id, "model": model or self.model,
                 "error": {"status": int(status), "message": message[:2000]},
                 "latency_ms": round(latency_ms, 3)}
        text = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._f.write(text)
            self._f.flush()

    def close(self):
        with self._lock:
            self._f.close()


# --------------------------------------------------------------------------- reload and shadow
# --------------------------------------------------------------------------- reload and shadow
class Serving:
    """What a server scores with: one loaded bundle and what is derived from it. Requests read
    Live.current once, so each finishes on the Serving it started with."""

    def __init__(self, scorer: Scorer, shadow: "Shadow | None" = None):
        self.scorer, self.shadow = scorer, shadow
        info = scorer.info()
        self.label = scorer.label()
        self.name = str(info["model"]) if info["model"] else scorer.folder.name
        self.version = "" if info["version"] is None else str(info["version"])
        if shadow is not None:
            info["shadow"] = {"model": shadow.label, "scorer": shadow.scorer.kind}
        self.version_doc = json.dumps(info).encode()


class Live:
    """The Serving in use. A reload builds a complete new one (integrity check, unpickling,
    a test score) and then swaps the reference: one assignment, atomic for every thread."""

    def __init__(self, serving: Serving):
        self.current = serving
        self._lock = threading.Lock()  # one reload at a time

    KEEP = object()  # reload(shadow=KEEP): the shadow in use stays

    def reload(self, folder=None, check_owner: bool = False, shadow=KEEP) -> dict:
        """shadow: KEEP, None (stop shadowing) or a bundle folder (named over HTTP: it must be
        private to this user, as require_private says), checked and warmed up like the
        primary before the swap; the old shadow finishes its queue, then stops."""
        with self._lock:
            old = self.current
            target = Path(folder).expanduser().resolve() if folder else old.scorer.folder
            new = load_checked(target, check_owner)
            new_shadow = old.shadow
            if shadow is not Live.KEEP:
                try:
                    new_shadow = (None if shadow is None else
                                  Shadow(load_checked(Path(shadow).expanduser().resolve(),
                                                      True)))
                except BundleError as exc:
                    raise BundleError(f"shadow {shadow}: {exc}") from None
            self.current = Serving(new, new_shadow)
        if old.shadow is not None and old.shadow is not new_shadow:
            threading.Thread(target=old.shadow.close, daemon=True).start()
        result = {"reloaded": True, "model": self.current.label, "previous": old.label,
                  "bundle": str(target), "scorer": new.kind}
        if shadow is not Live.KEEP or new_shadow is not None:
            result["shadow"] = None if new_shadow is None else new_shadow.label
        return result


def load_checked(folder: Path, check_owner: bool) -> Scorer:
    """A bundle to swap in: integrity check first (nothing is unpickled before it), then
    loaded and made to score its own input_example.json."""
    if not folder.is_dir():
        raise BundleError(f"bundle folder {folder} not found")
    if check_owner:
        require_private(folder)
    scorer = Scorer(folder)
    warm_up(scorer)
    return scorer


def require_private(folder: Path) -> None:
    """A bundle named over HTTP is unpickled by this process: it must belong to this
    process's user (or root) and be writable by nobody else."""
    if not hasattr(os, "getuid"):
        return
    uid = os.getuid()
    paths = [folder, folder / SUMS_FILE] + [folder / n for n in read_sums(folder)]
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            continue  # missing: the integrity check names it
        if st.st_uid not in (uid, 0):
            raise BundleError(f"{p} belongs to uid {st.st_uid}, neither this server's user "
                              f"({uid}) nor root: a bundle another user can change is not loaded")
        if st.st_mode & 0o002:
            raise BundleError(f"{p} is writable by every user: a bundle another user can change "
                              f"is not loaded")


def warm_up(scorer: Scorer) -> None:
    """Score input_example.json (when the bundle ships one) before a reload swaps the bundle
    in: a model that unpickles but cannot score is refused while the old one still serves."""
    path = scorer.folder / "input_example.json"
    if not path.is_file():
        return
    try:
        example = json.loads(path.read_text(encoding="utf-8"))
        columns, n = _from_rows(example["data"], [str(c) for c in example["columns"]])
    except (ValueError, KeyError, TypeError, InputError) as exc:
        raise BundleError(f"input_example.json cannot be read: {exc}") from None
    if n:
        try:
            frame, _, _ = scorer.frame_from_columns(columns, n)
            scorer.score(frame, want_proba=scorer.classes is not None)
        except Exception as exc:
            raise BundleError(f"the new bundle cannot score its own input_example.json: "
                              f"{type(exc).__name__}: {exc}") from None


def is_loopback(host: str) -> bool:
    return host == "::1" or host.startswith(("127.", "::ffff:127."))


class Shadow:
    """--shadow: a second bundle scores every answered request in a background pool, after
    the primary's answer is sent; its result goes into the --log line of each row."""

    BACKLOG = 1000  # requests waiting for the shadow; beyond it they are logged as skipped

    def __init__(self, scorer: Scorer, workers: int = 2):
        from concurrent.futures import ThreadPoolExecutor
        self.scorer, self.label = scorer, scorer.label()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._slots = threading.BoundedSemaphore(self.BACKLOG)

    def submit(self, make_frame, rows: int, then) -> None:
        """Score make_frame(shadow_scorer) later, then call then([one dict per row])."""
        if not self._slots.acquire(blocking=False):
            then(self._failed(rows, None, f"the shadow is {self.BACKLOG} requests behind: "
                                          f"this request was not shadowed"))
            return

        def run():
            try:
                then(self.score(make_frame, rows))
            except Exception:  # a failing log write must not kill the pool thread
                pass
            finally:
                self._slots.release()
        try:
            self._pool.submit(run)
        except RuntimeError:  # closed: a reload replaced it while this request was answered
            self._slots.release()
            then(self._failed(rows, None, "the shadow was replaced by a reload: this request "
                                          "was not shadowed"))

    def score(self, make_frame, rows: int) -> list[dict]:
        t0 = time.perf_counter()
        try:
            frame = make_frame(self.scorer)
            pred, proba = self.scorer.score(frame, want_proba=self.scorer.classes is not None)
            if len(pred) != rows:
                raise InputError(f"the shadow scored {len(pred)} rows, the primary {rows}")
        except Exception as exc:
            msg = str(exc) if isinstance(exc, (InputError, BundleError)) else \
                f"{type(exc).__name__}: {exc}"
            return self._failed(rows, (time.perf_counter() - t0) * 1000.0, msg)
        ms = round((time.perf_counter() - t0) * 1000.0, 3)
        classes = self.scorer.classes
        out = []
        for i, p in enumerate(pred.tolist()):
            entry = {"model": self.label, "prediction": _jsonable(p)}
            if proba is not None:
                entry["probabilities"] = {str(c): float(proba[i, j]) for j, c in enumerate(classes)}
            entry["latency_ms"] = ms
            out.append(entry)
        return out

    def _failed(self, rows: int, ms, message: str) -> list[dict]:
        entry = {"model": self.label, "prediction": None,
                 "latency_ms": None if ms is None else round(ms, 3), "error": message[:2000]}
        return [dict(entry) for _ in range(rows)]

    def close(self) -> None:
        self._pool.shutdown(wait=True)  # pending shadow lines are written before the log closes


def reload_and_say(live: Live, folder, how: str, shadow=Live.KEEP) -> tuple[bool, object]:
    """Reload and say so on stderr; -> (True, what now serves) or (False, why not)."""
    before = live.current.label
    try:
        result = live.reload(folder, check_owner=folder is not None, shadow=shadow)
    except Exception as exc:  # whatever the new bundle does, the old one goes on serving
        why = str(exc) if isinstance(exc, (BundleError, InputError, OSError)) else \
            f"{type(exc).__name__}: {exc}"
        message = f"reload refused, still serving {before}: {why}"
        print(f"{how}: {message}", file=sys.stderr, flush=True)
        return False, message
    shadowing = (f"; shadow: {result['shadow'] or 'none'}" if "shadow" in result else "")
    print(f"{how}: reloaded, serving {result['model']} ({result['scorer']} scorer) from "
          f"{result['bundle']} (was {before}){shadowing}", file=sys.stderr, flush=True)
    return True, result

