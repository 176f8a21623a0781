"""Checking a batch against the version's input schema: missing and new columns, type
changes, infinite and out-of-range values, new categories, missing rates. Findings, never
exceptions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .batch_files import IGNORED_PREFIXES
from .reference import Reference
from .values import _isna


def _finding(check: str, column: str | None, severity: str, message: str, **extra) -> dict:
    return {"check": check, "column": column, "severity": severity, "message": message,
            **extra}


def _align_categorical(cur: pd.Series, ref: pd.Series) -> pd.Series:
    """Bring batch values to the reference's type so 'True' matches True and 1 matches '1'."""
    if pd.api.types.is_bool_dtype(ref.dtype):
        if pd.api.types.is_bool_dtype(cur.dtype):
            return cur
        text = cur.astype(object).map(lambda v: None if _isna(v) else str(v).strip().lower())
        mapped = text.map({"true": True, "false": False, "1": True, "0": False,
                           "1.0": True, "0.0": False, "yes": True, "no": False})
        return mapped.where(text.notna() & mapped.notna(), text.where(text.isna(), text))
    if pd.api.types.is_numeric_dtype(ref.dtype):
        num = pd.to_numeric(cur, errors="coerce")
        return num.where(num.notna() | cur.isna(), cur)
    if pd.api.types.is_string_dtype(cur.dtype) or cur.dtype == object:
        return cur
    return cur.astype(object).map(lambda v: None if _isna(v) else str(v))


def check_schema(ref: Reference, frame: pd.DataFrame, extra_columns: set[str],
                 tolerance: float) -> tuple[pd.DataFrame, list[dict], list[str]]:
    """(aligned inputs, findings, columns drift must skip). Never raises on bad data."""
    findings: list[dict] = []
    skip: list[str] = []
    aligned = pd.DataFrame(index=frame.index)
    for name in ref.features:
        entry = ref.inputs.get(name, {})
        kind = ref.kind(name)
        if name not in frame.columns:
            sev = "error" if ref.used(name) else "info"
            findings.append(_finding("missing_column", name, sev,
                                     f"input column {name!r} is missing from the batch"
                                     + ("; drift skips it and the model cannot score"
                                        if sev == "error" else "")))
            skip.append(name)
            continue
        col = frame[name]
        if kind == "numeric":
            if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(
                    col.dtype):
                values = col.astype(float)
            else:
                values = pd.to_numeric(col.astype(object), errors="coerce")
                broken = int((values.isna() & col.notna()).sum())
                if broken:
                    examples = col[values.isna() & col.notna()].astype(str).unique()[:3]
                    findings.append(_finding(
                        "type_change", name, "error",
                        f"column {name!r} should be numeric ({entry.get('dtype')}); {broken} "
                        f"values are not numbers (e.g. {', '.join(map(repr, examples))})",
                        rows=broken, examples=list(map(str, examples))))
                    if values.notna().sum() == 0:
                        skip.append(name)
            infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():  # drift and the model cannot measure inf: count it, then missing
                findings.append(_finding(
                    "infinite", name, "error",
                    f"column {name!r}: {int(infinite.sum())} infinite values (inf or -inf); "
                    f"drift and scoring treat them as missing", rows=int(infinite.sum())))
                values = values.mask(infinite)
                if values.notna().sum() == 0 and name not in skip:
                    skip.append(name)
            present = values.dropna()
            lo, hi = entry.get("min"), entry.get("max")
            if lo is not None and hi is not None and len(present):
                below, above = int((present < lo).sum()), int((present > hi).sum())
                if below or above:
                    findings.append(_finding(
                        "out_of_range", name, "warning",
                        f"column {name!r}: {below + above} values outside the training range "
                        f"{lo:g}..{hi:g} ({below} below, {above} above; batch range "
                        f"{present.min():g}..{present.max():g})",
                        rows=below + above, share=(below + above) / len(values),
                        below=below, above=above))
            aligned[name] = values
        elif kind == "categorical":
            values = _align_categorical(col, ref.empty(name))
            known = set(entry.get("categories") or [])
            present = values.dropna()
            new_mask = ~present.isin(known)
            if new_mask.any():
                counts = present[new_mask].astype(str).value_counts()
                examples = counts.index[:5].tolist()
                findings.append(_finding(
                    "new_category", name, "warning",
                    f"column {name!r}: {int(new_mask.sum())} values in categories never seen "
                    f"in training ({', '.join(map(repr, examples))}"
                    f"{', ...' if len(counts) > 5 else ''})",
                    rows=int(new_mask.sum()), categories=examples))
            aligned[name] = values
        else:
            aligned[name] = col
        missing = float(col.isna().mean()) if len(col) else 0.0
        train_missing = ref.missing_share(name)
        if missing > train_missing + tolerance:
            findings.append(_finding(
                "missing_rate", name, "warning",
                f"column {name!r}: {missing:.1%} missing in the batch, {train_missing:.1%} "
                f"in training", share=missing, training_share=train_missing))
    new_cols = [c for c in frame.columns if c not in ref.features and c not in extra_columns
                and not str(c).startswith(IGNORED_PREFIXES)]
    for c in new_cols:
        findings.append(_finding("new_column", str(c), "info",
                                 f"column {c!r} is not an input of the model; it is ignored"))
    return aligned, findings, skip
