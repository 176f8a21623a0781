"""Drift tests: the flagged set is exactly the shifted columns, and every statistic equals
scipy's or the textbook formula computed here independently."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lablift.core import drift

SHIFTED = {"num_shift", "cat_shift", "bin_shift", "low_shift"}


def _normal(n: int, loc: float = 0.0) -> np.ndarray:
    # Evenly spaced normal quantiles: an untouched column matches its reference closely
    # without depending on a random draw.
    return stats.norm.ppf((np.arange(n) + 0.5) / n) + loc


def _mix(n: int, shares: dict) -> np.ndarray:
    out = []
    for value, share in shares.items():
        out += [value] * int(round(n * share))
    return np.array(out[:n] + [list(shares)[0]] * (n - len(out[:n])), dtype=object)


def make_frames(n_ref: int, n_cur: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def frame(n, shifted):
        d = {
            "num_same": _normal(n, 0.0),
            "num_shift": _normal(n, 0.8 if shifted else 0.0),
            "num_scale": _normal(n) * 3 + 10,  # untouched, other scale
            "cat_same": _mix(n, {"a": 0.5, "b": 0.3, "c": 0.2}),
            "cat_shift": _mix(n, {"a": 0.2, "b": 0.3, "c": 0.5} if shifted
                              else {"a": 0.5, "b": 0.3, "c": 0.2}),
            "bin_same": _mix(n, {"yes": 0.3, "no": 0.7}),
            "bin_shift": _mix(n, {"yes": 0.6, "no": 0.4} if shifted else {"yes": 0.3, "no": 0.7}),
            "low_same": _mix(n, {1: 0.2, 2: 0.5, 3: 0.3}).astype(float),
            "low_shift": _mix(n, {1: 0.6, 2: 0.2, 3: 0.2} if shifted
                              else {1: 0.2, 2: 0.5, 3: 0.3}).astype(float),
        }
        df = pd.DataFrame(d)
        return df.iloc[rng.permutation(n)].reset_index(drop=True)  # order must not matter

    return frame(n_ref, False), frame(n_cur, True)


KINDS = {"cat_same": "categorical", "cat_shift": "categorical", "bin_same": "categorical",
         "bin_shift": "categorical"}


def textbook_psi(ref: np.ndarray, cur: np.ndarray, categorical: bool, eps=1e-4) -> float:
    if categorical:
        keys = sorted(set(ref) | set(cur), key=str)
        r = np.array([np.sum(ref == k) for k in keys], float)
        c = np.array([np.sum(cur == k) for k in keys], float)
    else:
        q = np.unique(np.quantile(ref, [i / 10 for i in range(1, 10)]))
        edges = [-np.inf, *q, np.inf]
        r = pd.Series(pd.cut(ref, edges, right=False)).value_counts(sort=False).to_numpy(float)
        c = pd.Series(pd.cut(cur, edges, right=False)).value_counts(sort=False).to_numpy(float)
    r, c = r / r.sum(), c / c.sum()
    r[r == 0] = eps
    c[c == 0] = eps
    return float(sum((ci - ri) * math.log(ci / ri) for ri, ci in zip(r, c)))


def textbook_js(ref: np.ndarray, cur: np.ndarray) -> float:
    keys = sorted(set(ref) | set(cur), key=str)
    p = np.array([np.sum(ref == k) for k in keys], float)
    q = np.array([np.sum(cur == k) for k in keys], float)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a, b):
        return sum(x * math.log(x / y) for x, y in zip(a, b) if x > 0)

    return math.sqrt((kl(p, m) + kl(q, m)) / 2)


def test_small_reference_flags_exactly_the_shifted_columns_with_scipy_statistics():
    ref, cur = make_frames(600, 450)
    result = drift.dataset_drift(ref, cur, kinds=KINDS)
    by = {c["name"]: c for c in result["columns"]}
    assert {n for n, c in by.items() if c["drifted"]} == SHIFTED
    assert {n: c["test"] for n, c in by.items()} == {
        "num_same": "ks", "num_shift": "ks", "num_scale": "ks",
        "cat_same": "chisquare", "cat_shift": "chisquare",
        "bin_same": "z", "bin_shift": "z", "low_same": "chisquare", "low_shift": "chisquare"}
    for name in ("num_same", "num_shift", "num_scale"):
        ks = stats.ks_2samp(ref[name], cur[name])
        assert by[name]["statistic"] == pytest.approx(ks.statistic, rel=1e-12)
        assert by[name]["p_value"] == pytest.approx(ks.pvalue, rel=1e-9)
    for name in ("cat_same", "cat_shift", "low_same", "low_shift"):
        keys = sorted(set(ref[name]) | set(cur[name]), key=str)
        r = np.array([np.sum(ref[name] == k) for k in keys], float)
        c = np.array([np.sum(cur[name] == k) for k in keys], float)
        chi = stats.chisquare(c, r / r.sum() * c.sum())
        assert by[name]["statistic"] == pytest.approx(chi.statistic, rel=1e-9)
        assert by[name]["p_value"] == pytest.approx(chi.pvalue, rel=1e-9, abs=1e-300)
    for name in ("bin_same", "bin_shift"):
        p1, p2 = np.mean(ref[name] == "yes"), np.mean(cur[name] == "yes")
        n1, n2 = len(ref), len(cur)
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        p = 2 * (1 - stats.norm.cdf(abs(z)))
        assert abs(by[name]["statistic"]) == pytest.approx(abs(z), rel=1e-9)
        assert by[name]["p_value"] == pytest.approx(p, rel=1e-6, abs=1e-15)
    for name, c in by.items():
        categorical = name.startswith(("cat", "bin", "low"))
        values_r, values_c = ref[name].to_numpy(), cur[name].to_numpy()
        assert c["psi"] == pytest.approx(textbook_psi(values_r, values_c, categorical),
                                         rel=1e-9, abs=1e-12)
        assert c["threshold"] == 0.05
    assert result["n_drifted"] == 4 and result["n_columns"] == 9
    assert result["drift_share"] == pytest.approx(4 / 9)
    assert result["dataset_drift"] is False


def test_large_reference_uses_distances_equal_to_scipy_and_textbook():
    ref, cur = make_frames(5000, 3000)
    result = drift.dataset_drift(ref, cur, kinds=KINDS)
    by = {c["name"]: c for c in result["columns"]}
    assert {n for n, c in by.items() if c["drifted"]} == SHIFTED
    for name in ("num_same", "num_shift", "num_scale"):
        assert by[name]["test"] == "wasserstein" and by[name]["p_value"] is None
        expected = stats.wasserstein_distance(ref[name], cur[name]) / np.std(ref[name])
        assert by[name]["statistic"] == pytest.approx(expected, rel=1e-9)
        assert by[name]["threshold"] == 0.1
    for name in ("cat_same", "cat_shift", "bin_same", "bin_shift", "low_same", "low_shift"):
        assert by[name]["test"] == "jensenshannon"
        assert by[name]["statistic"] == pytest.approx(
            textbook_js(ref[name].to_numpy(), cur[name].to_numpy()), rel=1e-9, abs=1e-12)
    for name, c in by.items():
        categorical = name.startswith(("cat", "bin", "low"))
        assert c["psi"] == pytest.approx(
            textbook_psi(ref[name].to_numpy(), cur[name].to_numpy(), categorical), rel=1e-9,
            abs=1e-12)
    assert result["drift_share"] == pytest.approx(4 / 9)


@pytest.mark.parametrize("n_cur", [3000, 3001, 2999])
def test_wasserstein_equal_and_unequal_sizes_match_scipy(n_cur):
    # equal sizes take a shortcut (mean gap of order statistics); both paths equal scipy
    rng = np.random.default_rng(7)
    r = pd.Series(rng.lognormal(0, 1, 3000))
    c = pd.Series(np.round(rng.lognormal(0.1, 1, n_cur), 1))  # ties in one sample
    res = drift.column_drift("x", r, c, kind="numeric")
    assert res["test"] == "wasserstein"
    assert res["statistic"] == pytest.approx(stats.wasserstein_distance(r, c) / np.std(r),
                                              rel=1e-10)


def test_dataset_drift_at_share_threshold_and_thresholds_are_parameters():
    ref, cur = make_frames(600, 450)
    cols = ["num_same", "num_shift", "cat_shift", "bin_same"]
    assert drift.dataset_drift(ref, cur, columns=cols, kinds=KINDS)["dataset_drift"] is True
    assert drift.dataset_drift(ref, cur, columns=cols, kinds=KINDS,
                               share_threshold=0.6)["dataset_drift"] is False
    # a p-value threshold so small that nothing drifts
    strict = drift.dataset_drift(ref, cur, columns=["num_shift"], p_threshold=1e-300)
    assert strict["columns"][0]["drifted"] is False


def test_selectable_tests_per_column_and_refusals():
    ref, cur = make_frames(600, 450)
    res = drift.dataset_drift(ref, cur, kinds=KINDS,
                              tests={"num_shift": "wasserstein", "cat_shift": "jensenshannon",
                                     "num_same": "psi", "bin_shift": "chisquare"})
    by = {c["name"]: c for c in res["columns"]}
    assert by["num_shift"]["test"] == "wasserstein"
    assert by["num_shift"]["statistic"] == pytest.approx(
        stats.wasserstein_distance(ref.num_shift, cur.num_shift) / np.std(ref.num_shift))
    assert by["cat_shift"]["test"] == "jensenshannon" and by["cat_shift"]["drifted"]
    assert by["num_same"]["test"] == "psi" and by["num_same"]["statistic"] == by["num_same"]["psi"]
    assert by["num_same"]["drifted"] is False
    assert by["bin_shift"]["test"] == "chisquare" and by["bin_shift"]["drifted"]
    with pytest.raises(drift.DriftError, match="cat_shift.*numeric"):
        drift.column_drift("cat_shift", ref.cat_shift, cur.cat_shift, kind="categorical",
                           test="ks")
    with pytest.raises(drift.DriftError, match="unknown drift test 'anova'"):
        drift.dataset_drift(ref, cur, tests={"num_same": "anova"})


def test_missing_values_dropped_new_category_and_empty_column():
    rng = np.random.default_rng(1)
    r = pd.Series(rng.normal(size=300))
    c = pd.Series(rng.normal(size=200))
    r[::7] = np.nan
    c[::5] = np.nan
    res = drift.column_drift("x", r, c)
    ks = stats.ks_2samp(r.dropna(), c.dropna())
    assert res["statistic"] == pytest.approx(ks.statistic)
    assert res["n_reference"] == int(r.notna().sum())
    # a category the reference never had: chi-squared is infinite, p = 0, drift
    new = drift.column_drift("c", pd.Series(["a", "b"] * 50), pd.Series(["a", "b", "z"] * 30))
    assert new["test"] == "chisquare" and new["p_value"] == 0.0 and new["drifted"] is True
    assert new["statistic"] is None  # not finite: reported as None, documented
    empty = drift.column_drift("e", r, pd.Series([np.nan] * 10, dtype=float))
    assert empty["drifted"] is False and "current" in empty["skipped"]


def test_histograms_for_charts():
    ref, cur = make_frames(600, 450)
    num = drift.column_drift("num_shift", ref.num_shift, cur.num_shift, histogram=True)
    h = num["histogram"]
    assert sum(h["reference"]) == 600 and sum(h["current"]) == 450
    assert len(h["edges"]) == len(h["reference"]) + 1
    cat = drift.column_drift("cat_shift", ref.cat_shift, cur.cat_shift, histogram=True)
    counts = dict(zip(cat["histogram"]["categories"], cat["histogram"]["current"]))
    assert counts == cur.cat_shift.value_counts().to_dict()


def test_threads_do_not_change_results():
    ref, cur = make_frames(2000, 1500)
    one = drift.dataset_drift(ref, cur, kinds=KINDS, workers=1)
    two = drift.dataset_drift(ref, cur, kinds=KINDS, workers=2)
    assert one == two
