"""Drift statistics: pure functions of a reference and a current sample (no store, no Qt).

The default test per column follows Evidently's convention, so results read the way users
expect (Evidently `_get_default_stattest`):

- reference <= 1000 rows: numeric with > 5 distinct values -> Kolmogorov-Smirnov (p-value);
  categorical or numeric with <= 5 values -> chi-squared when there are > 2 values, else a
  two-proportion Z-test (p-value).
- reference > 1000 rows: numeric with > 5 values -> Wasserstein distance divided by the
  reference standard deviation; categorical and low-cardinality numeric -> Jensen-Shannon
  distance of the category frequencies (natural log).
- A p-value test drifts at p <= p_threshold (0.05); a distance drifts at
  distance >= distance_threshold (0.1). The dataset drifts when the share of drifted columns
  reaches share_threshold (0.5).

PSI (population stability index) is reported beside every test:
  PSI = sum_k (cur_k - ref_k) * ln(cur_k / ref_k)
over bins: for numeric columns with > 5 values the bins are cut at the reference deciles
(quantiles 10%..90%, duplicates dropped), bin k = [q_{k-1}, q_k) with open outer bins; for
categorical and low-cardinality numeric columns one bin per value seen in either sample. A proportion of 0 is replaced by
PSI_EPS (1e-4) in both samples so that empty bins give a large but finite term.

Missing values are dropped before testing (the data-quality checks report missing rates).
Non-finite statistics (chi-squared with a category the reference never had) are reported as
None with drifted=True and p_value 0.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

# scipy.stats' numbers without importing it (1-1.5 s of start-up): drift_pvalues.py
from . import drift_pvalues as pvalues

TESTS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi")
P_VALUE_TESTS = frozenset({"ks", "chisquare", "z"})
NUMERIC_ONLY = frozenset({"ks", "wasserstein"})
SMALL_REFERENCE = 1000     # Evidently's switch from p-value tests to distances
LOW_CARDINALITY = 5        # numeric columns with <= 5 values are treated like categories
P_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1
SHARE_THRESHOLD = 0.5
PSI_BINS = 10
PSI_EPS = 1e-4
HIST_BINS = 20
HIST_TOP = 20


class DriftError(ValueError):
    """A test that cannot apply to a column (e.g. KS on a categorical)."""


# -- preparing one column ----------------------------------------------------------

def infer_kind(values: Any) -> str:
    """'numeric' for numeric dtypes (not bool), else 'categorical'."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_bool_dtype(s.dtype):
        return "categorical"
    return "numeric" if pd.api.types.is_numeric_dtype(s.dtype) else "categorical"


def _as_float(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        arr = values
    else:
        s = values if isinstance(values, pd.Series) else pd.Series(values)
        if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            s = pd.to_numeric(s.astype(object), errors="coerce")
        arr = s.to_numpy(dtype=float, na_value=np.nan)
    return arr[~np.isnan(arr)]


def _as_series(values: Any) -> pd.Series:
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    return s.reset_index(drop=True)


class ReferenceColumn:
    """A reference column summarised once, for every batch measured against it: its sorted
    non-missing values (numeric), or its distinct values in order of first appearance with
    their counts (categorical). Drift from it is drift from the column itself, to the bit:
    the statistics start from exactly these (tests/test_monitoring_reference.py compares)."""

    __slots__ = ("kind", "sorted", "values", "counts")

    def __init__(self, kind: str, sorted: np.ndarray | None = None,
                 values: pd.Series | None = None, counts: np.ndarray | None = None):
        self.kind, self.sorted, self.values, self.counts = kind, sorted, values, counts

    @classmethod
    def of(cls, values: Any, kind: str) -> "ReferenceColumn":
        if kind == "numeric":
            return cls(kind, sorted=np.sort(_as_float(values)))
        s = _as_series(values)
        keys = s
        if s.dtype == object or s.dtype.kind == "f":
            # 1, 1.0 and True (or 0.0 and -0.0) are one value to pandas but not as text, which
            # _Categorical compares when the dtypes differ: keep them apart here
            keys = s.map(lambda v: (type(v).__name__, str(v), v)).where(s.notna(), None)
        codes, _ = pd.factorize(keys, use_na_sentinel=True)
        present = codes >= 0
        # codes number values in order of first appearance: the first row of each code
        first = np.unique(codes[present], return_index=True)[1]
        rows = np.flatnonzero(present)[first]
        return cls(kind, values=s.iloc[rows].reset_index(drop=True),
                   counts=np.bincount(codes[present], minlength=len(rows)))

    def to_dict(self) -> dict[str, Any]:
        """Plain numpy/pandas values (for a pickled artifact that outlives this class)."""
        return {"kind": self.kind, "sorted": self.sorted, "values": self.values,
                "counts": self.counts}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ReferenceColumn":
        return cls(d["kind"], d.get("sorted"), d.get("values"), d.get("counts"))


class _Numeric:
    """Sorted non-missing values of both samples; every numeric statistic starts from these."""

    def __init__(self, ref: Any, cur: Any):
        self.r = ref.sorted if isinstance(ref, ReferenceColumn) else np.sort(_as_float(ref))
        self.c = np.sort(_as_float(cur))

    def n_values(self) -> int:
        # Distinct count of the union, from the sorted arrays (no extra hashing pass).
        ur = 1 + int(np.count_nonzero(np.diff(self.r))) if self.r.size else 0
        uc = 1 + int(np.count_nonzero(np.diff(self.c))) if self.c.size else 0
        if ur > LOW_CARDINALITY or uc > LOW_CARDINALITY:
            return max(ur, uc)
        return int(np.union1d(self.r, self.c).size)

    def counts(self) -> tuple[np.ndarray, np.ndarray, list]:
        keys = np.union1d(np.unique(self.r), np.unique(self.c))
        rc = np.diff(np.searchsorted(self.r, keys, side="left"), append=self.r.size)
        cc = np.diff(np.searchsorted(self.c, keys, side="left"), append=self.c.size)
        return rc, cc, [_plain(k) for k in keys]

    def wasserstein_norm(self) -> float:
        # The same integral as scipy.stats.wasserstein_distance (|F_r - F_c| over the merged
        # support), computed from the already-sorted samples: scipy argsorts both samples
        # again, which made it ~4x slower here. Equality with scipy is asserted in tests.
        r, c = self.r, self.c
        if r.size == c.size:
            # equal sizes: both quantile functions step at the same points, so the
            # integral is the mean gap between matching order statistics
            w = float(np.mean(np.abs(r - c)))
        else:
            both = np.concatenate([r, c])
            order = np.argsort(both, kind="stable")  # timsort merges the two sorted runs
            vals = both[order]
            n_r = np.cumsum(order < r.size, dtype=np.int64)[:-1]  # r-values at or left of k
            n_all = np.arange(1, both.size, dtype=np.int64)
            gap = np.abs(n_r / r.size - (n_all - n_r) / c.size)
            w = float(np.dot(gap, np.diff(vals)))
        return w / max(float(np.std(r)), 0.001)  # Evidently's guard for constant columns

    def psi(self, bins: int = PSI_BINS, eps: float = PSI_EPS) -> tuple[float, list]:
        edges = np.unique(np.quantile(self.r, np.linspace(0, 1, bins + 1)[1:-1]))
        rc = np.diff(np.searchsorted(self.r, edges, side="left"), prepend=0, append=self.r.size)
        cc = np.diff(np.searchsorted(self.c, edges, side="left"), prepend=0, append=self.c.size)
        return psi_from_counts(rc, cc, eps), edges.tolist()

    def histogram(self, bins: int = HIST_BINS) -> dict:
        lo = float(min(self.r[0], self.c[0]))
        hi = float(max(self.r[-1], self.c[-1]))
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        # counts from the sorted samples: bins [e_k, e_k+1), the last one closed, as np.histogram
        inner = edges[1:-1]
        rc = np.diff(np.searchsorted(self.r, inner, side="left"), prepend=0, append=self.r.size)
        cc = np.diff(np.searchsorted(self.c, inner, side="left"), prepend=0, append=self.c.size)
        return {"edges": edges.tolist(), "reference": rc.tolist(), "current": cc.tolist()}


class _Categorical:
    """Per-category counts of both samples (one hash pass over both via pandas.factorize)."""

    def __init__(self, ref: Any, cur: Any):
        # A summarised reference stands in for its column: its distinct values, in the order
        # they first appear, factorize to the same keys in the same order, weighted by counts.
        weights = ref.counts if isinstance(ref, ReferenceColumn) else None
        r = ref.values if isinstance(ref, ReferenceColumn) else _as_series(ref)
        c = _as_series(cur)
        if r.dtype != c.dtype:  # e.g. int codes vs strings: compare the text forms
            r = r.astype(object).where(r.notna(), None).map(lambda v: v if v is None else str(v))
            c = c.astype(object).where(c.notna(), None).map(lambda v: v if v is None else str(v))
        codes, uniques = pd.factorize(pd.concat([r, c], ignore_index=True), use_na_sentinel=True)
        k = len(uniques)
        rcodes, ccodes = codes[: len(r)], codes[len(r):]
        if weights is None:
            self.rc = np.bincount(rcodes[rcodes >= 0], minlength=k)
        else:  # (two values with one text form share a key, as their rows would)
            keep = rcodes >= 0
            self.rc = np.bincount(rcodes[keep], weights=weights[keep],
                                  minlength=k).astype(np.int64)
        self.cc = np.bincount(ccodes[ccodes >= 0], minlength=k)
        self.keys = [_plain(u) for u in np.asarray(uniques, dtype=object)]
        self.n_r, self.n_c = int(self.rc.sum()), int(self.cc.sum())

    def n_values(self) -> int:
        return len(self.keys)

    def counts(self) -> tuple[np.ndarray, np.ndarray, list]:
        return self.rc, self.cc, self.keys

    def histogram(self, top: int = HIST_TOP) -> dict:
        order = np.argsort(-(self.rc + self.cc), kind="stable")[:top]
        return {"categories": [str(self.keys[i]) for i in order],
                "reference": self.rc[order].tolist(), "current": self.cc[order].tolist()}


# -- the tests on counts / samples ---------------------------------------------------

def psi_from_counts(ref_counts: Iterable[float], cur_counts: Iterable[float],
                    eps: float = PSI_EPS) -> float:
    r = np.asarray(ref_counts, dtype=float)
    c = np.asarray(cur_counts, dtype=float)
    r = r / r.sum()
    c = c / c.sum()
    r = np.where(r == 0, eps, r)
    c = np.where(c == 0, eps, c)
    return float(np.sum((c - r) * np.log(c / r)))


def chisquare_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Evidently's chi-squared: current counts vs reference proportions scaled to the current size."""
    ref = np.asarray(ref_counts, dtype=float)
    cur = np.asarray(cur_counts, dtype=float)
    expected = ref * (cur.sum() / ref.sum())
    if np.any((expected == 0) & (cur > 0)):
        return math.inf, 0.0  # a category the reference never had: certain drift
    keep = expected > 0
    if keep.sum() < 2:
        return 0.0, 1.0
    return pvalues.chisquare(cur[keep], expected[keep])


def z_test_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Two-proportion Z-test on the share of the first category (binary columns)."""
    ref = np.asarray(ref_counts, dtype=float)
    cur = np.asarray(cur_counts, dtype=float)
    n1, n2 = ref.sum(), cur.sum()
    nz = np.flatnonzero((ref + cur) > 0)
    if nz.size < 2:
        return 0.0, 1.0  # one value in both samples: nothing moved
    first = nz[0]
    p1, p2 = ref[first] / n1, cur[first] / n2
    pooled = (ref[first] + cur[first]) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p1 - p2) / se
    return float(z), float(2 * pvalues.norm_sf(abs(z)))


def default_test(n_reference: int, n_values: int, kind: str) -> str:
    if n_reference <= SMALL_REFERENCE:
        if kind == "numeric" and n_values > LOW_CARDINALITY:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if kind == "numeric" and n_values > LOW_CARDINALITY:
        return "wasserstein"
    return "jensenshannon"


# -- public entry points ---------------------------------------------------------------

def column_drift(name: str, reference: Any, current: Any, kind: str | None = None,
                 test: str | None = None, p_threshold: float = P_THRESHOLD,
                 distance_threshold: float = DISTANCE_THRESHOLD, psi_bins: int = PSI_BINS,
                 histogram: bool = False) -> dict[str, Any]:
    """Drift of one column: {name, test, statistic, p_value, threshold, drifted, psi, kind, ...}.

    `reference` is the column's values or its ReferenceColumn (the same result, faster)."""
    if isinstance(reference, ReferenceColumn):
        if kind is not None and kind != reference.kind:
            raise DriftError(f"column {name!r}: the reference was summarised as "
                             f"{reference.kind}, not {kind}")
        kind = reference.kind
    kind = kind or infer_kind(reference)
    if kind not in ("numeric", "categorical"):
        raise DriftError(f"column {name!r}: kind {kind!r} is not numeric or categorical")
    if test is not None and test not in TESTS:
        raise DriftError(f"column {name!r}: unknown drift test {test!r}; "
                         f"choose one of {', '.join(TESTS)}")
    if test in NUMERIC_ONLY and kind != "numeric":
        raise DriftError(f"column {name!r}: test {test!r} needs a numeric column, "
                         f"this one is {kind}")
    data = _Numeric(reference, current) if kind == "numeric" else _Categorical(reference,
                                                                               current)
    n_r = data.r.size if kind == "numeric" else data.n_r
    n_c = data.c.size if kind == "numeric" else data.n_c
    out: dict[str, Any] = {"name": name, "kind": kind, "n_reference": int(n_r),
                           "n_current": int(n_c)}
    if n_r == 0 or n_c == 0:
        side = "reference" if n_r == 0 else "current"
        out.update(test=test, statistic=None, p_value=None, threshold=None, drifted=False,
                   psi=None, skipped=f"no non-missing values in the {side} data")
        return out
    n_values = data.n_values()
    chosen = test or default_test(n_r, n_values, kind)
    p_value: float | None = None
    psi_edges = None
    if kind == "numeric" and n_values > LOW_CARDINALITY:
        psi, psi_edges = data.psi(psi_bins)
    else:
        rc, cc, _ = data.counts()
        psi = psi_from_counts(rc, cc)
    if chosen == "ks":
        statistic, p_value = pvalues.ks_2samp(data.r, data.c, presorted=True)
    elif chosen == "wasserstein":
        statistic = data.wasserstein_norm()
    elif chosen == "psi":
        statistic = psi
    else:
        rc, cc, _ = data.counts()
        if chosen == "chisquare":
            statistic, p_value = chisquare_counts(rc, cc)
        elif chosen == "z":
            statistic, p_value = z_test_counts(rc, cc)
        else:  # jensenshannon on category frequencies (natural log, as Evidently)
            statistic = pvalues.jensenshannon(rc / rc.sum(), cc / cc.sum())
    if chosen in P_VALUE_TESTS:
        threshold = p_threshold
        drifted = p_value <= threshold
    else:
        threshold = distance_threshold
        drifted = statistic >= threshold
    out.update(test=chosen, statistic=_finite(statistic), p_value=p_value,
               threshold=threshold, drifted=bool(drifted), psi=_finite(psi),
               n_values=int(n_values))
    if psi_edges is not None:
        out["psi_edges"] = psi_edges
    if histogram:
        out["histogram"] = data.histogram()
    return out


def dataset_drift(reference: pd.DataFrame | Mapping[str, ReferenceColumn],
                  current: pd.DataFrame,
                  columns: Iterable[str] | None = None,
                  kinds: Mapping[str, str] | None = None,
                  tests: Mapping[str, str] | None = None,
                  p_threshold: float = P_THRESHOLD,
                  distance_threshold: float = DISTANCE_THRESHOLD,
                  share_threshold: float = SHARE_THRESHOLD,
                  psi_bins: int = PSI_BINS, histograms: bool = False,
                  workers: int | None = None) -> dict[str, Any]:
    """Drift of every column present in both frames, and whether the dataset drifted.

    `reference` is a frame, or its columns summarised once ({name: ReferenceColumn}).
    Columns run in a small thread pool: numpy's sorts release the GIL, so two cores help.
    """
    kinds = dict(kinds or {})
    tests = dict(tests or {})
    ref_names = reference.columns if isinstance(reference, pd.DataFrame) else list(reference)
    names = [c for c in (columns if columns is not None else ref_names)]
    present = [c for c in names if c in ref_names and c in current.columns]
    skipped = [c for c in names if c not in present]
    for col, test in tests.items():
        if test not in TESTS:
            raise DriftError(f"column {col!r}: unknown drift test {test!r}; "
                             f"choose one of {', '.join(TESTS)}")

    def one(col: str) -> dict[str, Any]:
        return column_drift(col, reference[col], current[col], kind=kinds.get(col),
                            test=tests.get(col), p_threshold=p_threshold,
                            distance_threshold=distance_threshold, psi_bins=psi_bins,
                            histogram=histograms)

    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    if n_workers > 1 and len(present) > 1:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            results = list(pool.map(one, present))
    else:
        results = [one(c) for c in present]
    return summarize(results, share_threshold, skipped)


def summarize(results: list[dict[str, Any]], share_threshold: float = SHARE_THRESHOLD,
              skipped: Iterable[str] = ()) -> dict[str, Any]:
    tested = [r for r in results if not r.get("skipped")]
    n_drifted = sum(1 for r in tested if r["drifted"])
    share = n_drifted / len(tested) if tested else 0.0
    return {"drift_share": share, "dataset_drift": bool(tested) and share >= share_threshold,
            "n_drifted": n_drifted, "n_columns": len(tested),
            "share_threshold": share_threshold, "columns": results,
            "skipped": list(skipped)}


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
