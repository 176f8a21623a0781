"""What crosses between the GUI process and its training child (core/train_process.py) as
files, not as pickled messages: pickling a frame or unpickling a 100 MB fitted forest holds
the GIL of the process doing it, the GUI's for the part on its side.

  parent -> child: `data_file`: the dataset version's Parquet path, its sha256 and a digest of
                   the rows `prepare` kept; the child checks both and reads the frames itself
                   (`read_data`), as `prepare` did, so the fit is the same.
  child -> parent: `spill`: result bytes over SPILL_BYTES (the pickled pipeline) go to a file
                   in the TrainProcess's spill folder (temporary name, then renamed);
                   `read_spilled` reads them back (a plain read releases the GIL), then
                   removes them. What a killed child leaves there is cleared by its parent
                   (`clear_folder`), and a dead parent's folder by the next one started.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import LabliftError

SPILL_BYTES = 1 << 20  # result bytes larger than this come back as a file, not in the message
SPILL_PREFIX = "lablift-fit-"  # + the parent's pid: a dead parent's folder is removed later


def data_file(store, p) -> dict[str, Any]:
    """Where the child reads `p`'s frames: its dataset version's Parquet file (as `prepare`
    loaded it), that file's sha256 and the rows `prepare` kept (checked there)."""
    from . import datasets
    sha = datasets.get(store, p.dataset["id"])["artifact"]
    path = store.artifacts.path(sha)
    if not path.exists():  # a team store's cached copy went: fetched again
        path = store.artifacts.verified_path(sha)
    return {"path": str(path), "sha256": sha, "rows": rows_digest(p.X.index)}


def rows_digest(index) -> str:
    """Which rows of the file a Prepared holds (its index), in a few bytes."""
    import numpy as np
    rows = np.ascontiguousarray(index.to_numpy(), dtype="<i8")
    return f"{len(rows)}:{hashlib.sha256(rows.data).hexdigest()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        pass
    return True


def new_spill_folder() -> str:
    """A private folder for the child's large results (its owner removes it); dead parents'
    folders go first (a GUI killed between the child's write and its read leaves one)."""
    root = Path(tempfile.gettempdir())
    for old in root.glob(f"{SPILL_PREFIX}*"):
        pid = old.name[len(SPILL_PREFIX):].partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-")


def clear_folder(folder: str | None) -> None:
    """Remove what a dead child left (a half-written temporary file, an unread result)."""
    if folder is None:
        return
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(folder, name))
        except FileNotFoundError:
            pass


def read_spilled(result: dict[str, Any]) -> dict[str, Any]:
    """Put the child's spilled bytes back into `result`; the files are removed either way."""
    spilled = result.pop("_spilled", None) or {}
    try:
        for key, path in spilled.items():
            try:
                result[key] = Path(path).read_bytes()  # the read releases the GIL
            except OSError as exc:
                raise LabliftError(f"cannot read the {key.removesuffix('_bytes')} the "
                                   f"training process wrote to {path}: {exc}") from exc
    finally:
        for path in spilled.values():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    return result


def read_data(p, data: dict[str, Any]):
    """`p` with the frames `prepare` made, read from the dataset version's Parquet file."""
    import pyarrow.parquet as pq

    from .artifacts import sha256_file
    path, what = data["path"], f"dataset {p.dataset['name']}:{p.dataset['version']}"
    try:
        sha = sha256_file(path)
    except OSError as exc:
        raise LabliftError(f"cannot read the data file of {what} ({path}): {exc}") from None
    if sha != data["sha256"]:
        raise LabliftError(f"the data file of {what} ({path}) no longer matches its sha256 "
                           f"{data['sha256'][:12]}: it changed after the run was prepared")
    frame = pq.read_table(path).to_pandas()  # as datasets.load_frame, so the fit is the same
    spec = p.spec
    y_all = frame[spec["target"]]
    has_target = y_all.notna().to_numpy()
    X = frame.loc[has_target, spec["features"]]
    if rows_digest(X.index) != data["rows"]:
        raise LabliftError(f"the rows with a target in {path} ({len(X)}) are not the rows "
                           f"prepared for training ({data['rows'].partition(':')[0]})")
    sensitive = spec.get("sensitive")
    return dataclasses.replace(p, X=X, y=y_all[has_target],
                               sensitive=frame.loc[has_target, sensitive] if sensitive else None)


def spill(result: dict[str, Any], folder: str) -> dict[str, Any]:
    """Large bytes of `result` written to files in `folder` (temporary name, then renamed)."""
    spilled = {}
    for key, value in result.items():
        if isinstance(value, bytes) and len(value) > SPILL_BYTES:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{key}-", suffix=".tmp")
            final = tmp[:-len(".tmp")] + ".bin"
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(value)
                os.replace(tmp, final)
            except BaseException:  # e.g. a full disk: the job fails, nothing stays behind
                for path in (tmp, *spilled.values()):
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
                raise
            spilled[key] = final
    if spilled:
        result = {**{k: v for k, v in result.items() if k not in spilled}, "_spilled": spilled}
    return result
