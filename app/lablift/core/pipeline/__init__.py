"""Pipeline files: the lifecycle of one model as code (`lablift.toml`; docs/pipeline.md).

spec.py checks a file against the schema (no store needed); runner.py runs it on a store.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import LabliftError
from .runner import EXIT, bundle_path, preflight, run
from .spec import FILE_NAME, SCHEMA, Pipeline, PipelineError, check, check_columns, load

__all__ = ["EXIT", "FILE_NAME", "SCHEMA", "Pipeline", "PipelineError", "bundle_path", "check",
           "check_columns", "example", "init", "load", "preflight", "run", "validate"]


def example() -> str:
    from ...resources import RESOURCES
    return (RESOURCES / "lablift.example.toml").read_text(encoding="utf-8")


def validate(path: str | os.PathLike) -> Pipeline:
    """Check the file and that its data file reads and has the columns it names."""
    from ..readers import read_table
    p = load(path)
    try:
        table, _ = read_table(p.data_path)
    except LabliftError as exc:
        raise PipelineError(f"{p.shown}: [data] path: {exc}") from None
    check_columns(p, table.column_names)
    return p


def init(path: str | os.PathLike, force: bool = False) -> dict:
    """Write the commented example at `path` (and the sample data beside it, when absent)."""
    from ...resources import SAMPLE_LOANS
    from ..artifacts import atomic_write_bytes
    target = Path(path).expanduser().absolute()
    if target.exists() and not force:
        raise LabliftError(f"{path} exists; pass --force to replace it")
    if not target.parent.is_dir():
        raise LabliftError(f"cannot write {path}: folder {target.parent} does not exist")
    atomic_write_bytes(target, example().encode("utf-8"))
    data = target.parent / SAMPLE_LOANS.name
    wrote_data = not data.exists()
    if wrote_data:
        tmp = data.with_name(f".{data.name}.partial")
        shutil.copyfile(SAMPLE_LOANS, tmp)
        os.replace(tmp, data)
    return {"path": str(target), "data": str(data), "wrote_data": wrote_data}
