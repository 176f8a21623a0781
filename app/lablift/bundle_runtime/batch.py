"""Batch scoring of a Lablift bundle: `serve.py predict IN.csv -o OUT.csv`. Part of the
bundle's runtime (see serve.py): run only after the integrity check; never imports Lablift.
"""

import os
import sys

from .scoring import Scorer
from .serve import BUNDLE_DIR

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(v):
    return "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v


def csv_safe(df):
    """Text cells (and column names) that a spreadsheet would run as a formula get a leading
    single quote (OWASP); numeric columns are left alone, so -1.5 stays a number."""
    pd = sys.modules["pandas"]
    out = df.copy(deep=False)
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        elif not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        out.isetitem(i, col.astype(object).map(_safe_cell))
    out.columns = [_safe_cell(c) for c in out.columns]
    return out


def predict(args, out_path) -> int:
    """Score args.input (a CSV path or '-') into out_path (None: stdout); the bundle in
    BUNDLE_DIR was verified by serve.py just before."""
    scorer = Scorer(BUNDLE_DIR, checked=True)
    df = scorer.read_csv(sys.stdin if args.input == "-" else args.input)
    frame, warnings = scorer.frame_from_dataframe(df)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    pred, proba = scorer.score(frame, want_proba=True)
    pd = scorer._pd
    columns = {"prediction": pred}
    if proba is not None:
        columns.update(zip(scorer.proba_columns(), proba.T))
    text = None if args.include_inputs else score_csv(columns, safe=not args.raw_csv)
    if text is None:  # inputs too, or cells only pandas writes as it does (NaN, quoting)
        result = pd.DataFrame(columns)
        if args.include_inputs:
            result = pd.concat([df.reset_index(drop=True), result], axis=1)
        if not args.raw_csv:
            result = csv_safe(result)
        text = result.to_csv(index=False)
    if out_path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:  # written, then renamed: a reader never sees half a file
        tmp = out_path.with_name(out_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, out_path)
        print(f"scored {len(pred)} rows with {scorer.label()} -> {args.output}",
              file=sys.stderr)
    return 0


def score_csv(columns: dict, safe: bool) -> str | None:
    """The predictions (and probabilities) as the CSV text pandas' to_csv writes, byte for
    byte, in a third of its time; None when a cell needs what only pandas does (a missing
    or infinite number, quoting, mixed types): the caller then lets pandas write it."""
    import csv
    import io
    cells = [_cells(v, safe) for v in columns.values()]
    if any(c is None for c in cells):
        return None
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(
        [_safe_cell(str(n)) if safe else str(n) for n in columns])
    rows = "\n".join(map(",".join, zip(*cells)))
    return head.getvalue() + rows + ("\n" if rows else "")


def _cells(values, safe: bool) -> list[str] | None:
    import numpy as np
    kind = values.dtype.kind
    if kind in "iub":
        return list(map(str, values.tolist()))
    if kind == "f":  # repr: the shortest text that reads back as the same double, as pandas
        return list(map(repr, values.tolist())) if np.isfinite(values).all() else None
    if kind != "O":
        return None
    items = values.tolist()
    if not all(type(v) is str for v in items):
        return None
    text = {}
    for v in set(items):  # a classifier's few labels
        cell = _safe_cell(v) if safe else v
        if not cell or any(c in cell for c in ',"\r\n'):
            return None
        text[v] = cell
    return [text[v] for v in items]
