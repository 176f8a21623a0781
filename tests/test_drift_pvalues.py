"""core.drift's p-values and distances without scipy.stats (core/drift_pvalues.py) are
scipy.stats' own numbers: KS (exact and asymptotic, every branch of kstwo.sf), chi-squared,
the normal tail and Jensen-Shannon, compared with scipy over a range of sizes."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance
from scipy.stats import _stats_pythran

from lablift.core import drift, drift_pvalues as pv

REL = 1e-12
APP = str(Path(drift.__file__).resolve().parents[2])


def close(got: float, want: float) -> bool:
    return got == want or abs(got - want) <= REL * abs(want)


SIZES = [(1, 1), (3, 2), (7, 5), (12, 12), (20, 30), (99, 100), (150, 200), (300, 1000),
         (999, 5000), (1000, 10000), (2500, 2500), (10000, 10000),  # exact method
         (10001, 50), (10001, 500), (20000, 1000), (100000, 100000)]  # asymptotic


@pytest.mark.parametrize("n1, n2", SIZES)
@pytest.mark.parametrize("shift", [0.0, 0.15, 0.6])
def test_ks_2samp_is_scipys(n1, n2, shift):
    rng = np.random.default_rng(n1 * 7 + n2)
    a, b = rng.normal(0, 1, n1), rng.normal(shift, 1, n2)
    want = stats.ks_2samp(a, b)
    stat, p = pv.ks_2samp(a, b)
    assert close(stat, float(want.statistic)) and close(p, float(want.pvalue)), \
        (stat, p, want)
    # sorted once by the caller (drift's _Numeric): the same answer
    assert pv.ks_2samp(np.sort(a), np.sort(b), presorted=True) == (stat, p)


@pytest.mark.parametrize("n1, n2", [(40, 60), (500, 800), (3000, 997)])
def test_ks_2samp_with_ties_is_scipys(n1, n2):
    rng = np.random.default_rng(n1)
    a = rng.integers(0, 8, n1).astype(float)
    b = rng.integers(0, 9, n2).astype(float)
    want = stats.ks_2samp(a, b)
    stat, p = pv.ks_2samp(a, b)
    assert close(stat, float(want.statistic)) and close(p, float(want.pvalue))


def test_the_exact_path_kernel_port_is_scipys_compiled_kernel():
    """The anti-diagonal port against scipy's pythran kernel it replaces, over bands from
    the narrowest (p = 1: a column with no row inside) to the widest."""
    rng = np.random.default_rng(5)
    checked = 0
    for m, n in [(5, 3), (17, 4), (60, 45), (301, 200), (1000, 999), (4000, 640),
                 (10000, 1000)]:
        g = int(np.gcd(m, n))
        lcm = m // g * n
        hs = {1, 2, lcm // 50, lcm // 10, lcm // 3, lcm - 1, *rng.integers(1, lcm, 4).tolist()}
        for h in sorted(hs if m < 4000 else {lcm // 50, lcm // 10}):
            if h < 1:
                continue
            want = _stats_pythran._compute_outer_prob_inside_method(m, n, g, h)
            got = pv._compute_outer_prob_inside_method(m, n, g, h)
            assert close(got, float(want)), (m, n, h, got, want)
            if m < 1000:
                assert got == pv._compute_outer_prob_inside_method(n, m, g, h)  # symmetric
            checked += 1
    assert checked > 40


@pytest.mark.parametrize("n", [1, 2, 5, 30, 140, 141, 500, 5000, 100001])
def test_kstwo_sf_is_scipys_on_every_branch(n):
    # d from below the support (1/2n) through the Ruben-Gambino, DMTW, Pomeranz, Pelz-Good
    # and smirnov branches to 1
    ds = np.unique(np.concatenate([np.linspace(0, 1, 61 if n < 10000 else 11),
                                   0.5 / n * np.array([0.9, 1, 1.1]),
                                   1.0 / n * np.array([0.99, 1.0, 1.5, 2.5]),
                                   np.sqrt(np.array([0.5, 0.754, 0.76, 2.1, 2.3, 3.9, 4.1,
                                                     17, 19, 360, 380]) / n),
                                   [1 - 1.0 / n, 1 - 0.5 / n]]))
    ds = ds[(ds >= 0) & (ds <= 1)]
    for d in ds:
        want = float(stats.kstwo.sf(d, n))
        assert close(pv.kstwo_sf(d, n), want), (d, n, pv.kstwo_sf(d, n), want)


@pytest.mark.parametrize("k", [2, 3, 6, 40])
def test_chisquare_and_normal_tail_are_scipys(k):
    rng = np.random.default_rng(k)
    for _ in range(20):
        obs = rng.integers(0, 500, k).astype(float) + 1
        exp = rng.random(k) + 0.05
        exp = exp * obs.sum() / exp.sum()
        want = stats.chisquare(obs, exp)
        stat, p = pv.chisquare(obs, exp)
        assert close(stat, float(want.statistic)) and close(p, float(want.pvalue))
    for z in (0.0, 0.3, 1.0, 1.959963984540054, 3.5, 8.0, 38.0):
        assert close(pv.norm_sf(z), float(stats.norm.sf(z)))


@pytest.mark.parametrize("k", [2, 3, 6, 50])
def test_jensenshannon_is_scipys(k):
    rng = np.random.default_rng(k)
    for _ in range(20):
        p, q = rng.random(k), rng.random(k)
        p[rng.integers(0, k)] = 0.0  # a category one sample lacks
        assert close(pv.jensenshannon(p, q), float(distance.jensenshannon(p, q)))
    assert pv.jensenshannon([1, 0], [1, 0]) == 0.0


@pytest.mark.parametrize("n_ref, n_cur", [(200, 150), (1000, 4000), (900, 12000)])
def test_column_verdicts_are_those_of_scipy(n_ref, n_cur):
    """Every p-value test of core.drift on a column gives scipy.stats' statistic, p-value
    and verdict."""
    rng = np.random.default_rng(n_ref)
    ref, cur = rng.normal(0, 1, n_ref), rng.normal(0.1, 1, n_cur)
    got = drift.column_drift("x", ref, cur, kind="numeric", test="ks")
    want = stats.ks_2samp(ref, cur)
    assert close(got["p_value"], float(want.pvalue))
    assert got["drifted"] == (float(want.pvalue) <= drift.P_THRESHOLD)
    cats = np.array(["a", "b", "c", "d"])
    r = cats[rng.choice(4, n_ref, p=[.4, .3, .2, .1])]
    c = cats[rng.choice(4, n_cur, p=[.35, .3, .2, .15])]
    chi = drift.column_drift("c", r, c, kind="categorical", test="chisquare")
    rc = np.array([(r == v).sum() for v in cats], float)
    cc = np.array([(c == v).sum() for v in cats], float)
    want = stats.chisquare(cc, rc * cc.sum() / rc.sum())
    assert close(chi["p_value"], float(want.pvalue))
    js = drift.column_drift("c", r, c, kind="categorical", test="jensenshannon")
    assert close(js["statistic"], float(distance.jensenshannon(rc / rc.sum(), cc / cc.sum())))


def test_drift_imports_neither_scipy_stats_nor_scipy_spatial():
    code = ("import sys, numpy as np, lablift.core.drift as d; "
            "d.column_drift('x', np.arange(50.0), np.arange(60.0) + 3, kind='numeric'); "
            "d.column_drift('c', list('aab' * 400), list('abb' * 400), kind='categorical'); "
            "print(sorted(m for m in sys.modules if m.startswith(('scipy.stats', "
            "'scipy.spatial', 'sklearn'))))")
    env = {**os.environ, "PYTHONPATH": APP}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
