"""The p-values and distances of core.drift without importing scipy.stats (1-1.5 s of start-up,
most of it building docstrings): the same numbers scipy.stats gives, from scipy.special's
ufuncs (imported only when a p-value test runs) and numpy.

- chisquare: scipy.stats.chisquare(f_obs, f_exp) -> sum((o - e)^2 / e), chdtrc(k - 1, stat)
- norm_sf: scipy.stats.norm.sf(x) = ndtr(-x)
- jensenshannon: scipy.spatial.distance.jensenshannon(p, q) (natural log)
- ks_2samp: scipy.stats.ks_2samp(a, b) two-sided, method "auto": exact when both samples
  have <= 10,000 values, else Smirnov's asymptotic kstwo.sf(d, round(m n / (m + n))).

The KS part is ported from SciPy 1.17 (scipy/stats/_stats_py.py: ks_2samp,
_attempt_exact_2kssamp, _compute_prob_outside_square; scipy/stats/_stats_pythran.py:
_compute_outer_prob_inside_method; scipy/stats/_ksstats.py: _kolmogn and its helpers),
Copyright (c) 2001-2002 Enthought, Inc. 2003, SciPy Developers, BSD 3-clause licence
(https://github.com/scipy/scipy/blob/main/LICENSE.txt). The arithmetic is kept as written
there so the results are scipy's to the bit; tests/test_drift_pvalues.py compares them with
scipy.stats over many sizes.
"""

from __future__ import annotations

import math
import sys

import numpy as np

MAX_AUTO_N = 10000  # ks_2samp "auto": exact when max(n1, n2) <= this


def _special():
    import scipy.special  # ufuncs only: a fraction of scipy.stats' import
    return scipy.special


# -- chi-squared, normal, Jensen-Shannon -------------------------------------------------------

def chisquare(f_obs: np.ndarray, f_exp: np.ndarray) -> tuple[float, float]:
    """scipy.stats.chisquare(f_obs, f_exp): (statistic, p-value), ddof 0."""
    f_obs = np.asarray(f_obs, dtype=np.float64)
    f_exp = np.asarray(f_exp, dtype=np.float64)
    stat = np.sum((f_obs - f_exp) ** 2 / f_exp)
    df = np.float64(f_obs.size) - 1 - 0
    return float(stat), float(_special().chdtrc(df, stat))


def norm_sf(x: float) -> float:
    """scipy.stats.norm.sf(x)."""
    return float(_special().ndtr(-np.float64(x)))


def _rel_entr(x: float, y: float) -> float:
    # scipy.special.rel_entr: x log(x / y), with C's log (math.log is the same libm call)
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x > 0 and y > 0:
        return x * math.log(x / y)
    if x == 0 and y >= 0:
        return 0.0
    return math.inf


def jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """scipy.spatial.distance.jensenshannon(p, q), natural log (a few categories: the
    per-element loop costs microseconds and keeps rel_entr's exact arithmetic)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / np.sum(p, axis=0, keepdims=True)
    q = q / np.sum(q, axis=0, keepdims=True)
    m = (p + q) / 2.0
    left = np.array([_rel_entr(a, b) for a, b in zip(p.tolist(), m.tolist())], np.float64)
    right = np.array([_rel_entr(a, b) for a, b in zip(q.tolist(), m.tolist())], np.float64)
    js = np.sum(left, axis=0) + np.sum(right, axis=0)
    return float(np.sqrt(js / 2.0))


# -- two-sample Kolmogorov-Smirnov -------------------------------------------------------------

def ks_2samp(data1: np.ndarray, data2: np.ndarray,
             presorted: bool = False) -> tuple[float, float]:
    """scipy.stats.ks_2samp(data1, data2) (two-sided, method "auto"): (statistic, p-value).
    Both samples non-empty, without NaN; `presorted`: both are sorted already."""
    if not presorted:
        data1 = np.sort(data1)
        data2 = np.sort(data2)
    n1, n2 = data1.shape[0], data2.shape[0]
    if min(n1, n2) == 0:
        raise ValueError("Data passed to ks_2samp must not be empty")
    data_all = np.concatenate([data1, data2])
    cdf1 = np.searchsorted(data1, data_all, side="right") / n1
    cdf2 = np.searchsorted(data2, data_all, side="right") / n2
    cddiffs = cdf1 - cdf2
    min_s = np.clip(-cddiffs[np.argmin(cddiffs)], 0, 1)
    max_s = cddiffs[np.argmax(cddiffs)]
    d = min_s if min_s > max_s else max_s
    g = math.gcd(n1, n2)
    prob = -np.inf
    mode = "exact" if max(n1, n2) <= MAX_AUTO_N else "asymp"
    if mode == "exact":
        success, d, prob = _attempt_exact_2kssamp(n1, n2, g, d)
        if not success:
            mode = "asymp"
    if mode == "asymp":
        m, n = sorted([float(n1), float(n2)], reverse=True)
        en = m * n / (m + n)
        prob = kstwo_sf(d, np.round(en))
    prob = np.clip(prob, 0, 1)
    return float(np.float64(d)), float(prob)


def _attempt_exact_2kssamp(n1: int, n2: int, g: int, d) -> tuple[bool, float, float]:
    lcm = (n1 // g) * n2
    h = int(np.round(d * lcm))
    d = h * 1.0 / lcm
    if h == 0:
        return True, d, 1.0
    saw_fp_error, prob = False, np.nan
    try:
        with np.errstate(invalid="raise", over="raise"):
            if n1 == n2:
                prob = _compute_prob_outside_square(n1, h)
            else:
                prob = _inside_method()(n1, n2, g, h)
    except (FloatingPointError, OverflowError):
        saw_fp_error = True
    if saw_fp_error:
        return False, d, np.nan
    if not (0 <= prob <= 1):
        return False, d, prob
    return True, d, prob


def _inside_method():
    """scipy's compiled kernel when scipy.stats is loaded anyway (5-10x faster; the same
    doubles, tests/test_drift_pvalues.py), else the port below."""
    compiled = sys.modules.get("scipy.stats._stats_pythran")
    kernel = getattr(compiled, "_compute_outer_prob_inside_method", None)
    return kernel if kernel is not None else _compute_outer_prob_inside_method


def _compute_prob_outside_square(n: int, h: int) -> float:
    """Pr(D_{n,n} >= h/n): 2 (A0 (1 - A1 (1 - A2 (...)))), Horner-like (as scipy)."""
    P = 0.0
    k = int(np.floor(n / h))
    while k >= 0:
        p1 = 1.0
        for j in range(h):
            p1 = (n - k * h - j) * p1 / (n + k * h + j + 1)
        P = p1 * (1.0 - P)
        k -= 1
    return 2 * P


def _compute_outer_prob_inside_method(m: int, n: int, g: int, h: int) -> float:
    """The share of lattice paths (0, 0) -> (m, n) that leave |x/m - y/n| < h / lcm(m, n)
    (Hodges 1958; the 1 - p recursion of Viehmann, arXiv:2102.08037), as scipy's pythran
    kernel computes it: q(x, y) = (x q(x-1, y) + y q(x, y-1)) / (x + y) inside the band,
    1 outside it, q(0, y) = 0 inside. Scipy walks it column by column; here it is walked
    by anti-diagonals (x + y = s), whose cells depend only on the previous diagonal, so
    each diagonal is one numpy step. Every cell sees the same operations on the same
    operands, so the result is the same double."""
    if m < n:
        m, n = n, m
    mg, ng = m // g, n // g
    cols = np.arange(1, m + 1, dtype=np.int64)
    # each column's band [lo, hi) of rows, with scipy's float floor/ceil of the quotients
    lo = np.maximum(np.floor((ng * cols - h) / mg).astype(np.int64) + 1, 0)
    lo = np.minimum(lo, n)
    hi = np.minimum(np.ceil((ng * cols + h) / mg).astype(np.int64), n + 1)
    if np.any(hi <= lo):
        return 1.0  # some column has no row inside: every path leaves the band
    lo = np.concatenate([[0], lo])
    hi = np.concatenate([[min(int(np.ceil(h / mg)), n + 1)], hi])
    idx = np.arange(m + 1, dtype=np.int64)
    diags = np.arange(m + n + 1, dtype=np.int64)
    # the columns inside the band on each diagonal s (x + y = s): first[s] .. last[s]
    first = np.maximum(np.searchsorted(idx + hi, diags, side="right"),
                       np.maximum(diags - n, 0)).tolist()
    last = np.minimum(np.searchsorted(idx + lo, diags, side="right") - 1,
                      np.minimum(diags, m)).tolist()
    xs = idx.astype(np.float64)
    # q on a diagonal by column x at index x + 1 (index 0 stands for x = -1): 1 outside the
    # band, the value inside; `cur` still holds the diagonal before `prev` where `spans` says
    prev, cur = np.ones(m + 3), np.ones(m + 3)
    spans = [(0, -1), (0, -1)]
    tmp = np.empty(m + 1)
    for s in range(m + n + 1):
        a, b = first[s], last[s]
        old_a, old_b = spans[s & 1]
        cur[old_a + 1:old_b + 2] = 1.0
        spans[s & 1] = (a, b)
        if a == 0 and b >= 0:  # column 0 inside its band: no path has left yet
            cur[1] = 0.0
            a = 1
        if a <= b:
            # q(x, y) from its left (x-1, y) and lower (x, y-1) neighbours on diagonal s-1
            x = xs[a:b + 1]
            t = tmp[:b + 1 - a]
            np.multiply(prev[a:b + 1], x, out=t)
            np.subtract(s, x, out=cur[a + 1:b + 2])  # y, exact in double
            np.multiply(prev[a + 1:b + 2], cur[a + 1:b + 2], out=cur[a + 1:b + 2])
            np.add(t, cur[a + 1:b + 2], out=t)
            np.divide(t, s, out=cur[a + 1:b + 2])  # x + y = s
        prev, cur = cur, prev
    return float(prev[m + 1])


# kstwo.sf(d, n): the two-sided one-sample KS survival function (scipy/stats/_ksstats.py)
_E128 = 128
_EP128 = np.ldexp(np.longdouble(1), _E128)
_EM128 = np.ldexp(np.longdouble(1), -_E128)
_SQRT2PI = np.sqrt(2 * np.pi)
_LOG_2PI = np.log(2 * np.pi)
_MIN_LOG = -708
_SQRT3 = np.sqrt(3)
_PI_SQUARED = np.pi ** 2
_PI_FOUR = np.pi ** 4
_PI_SIX = np.pi ** 6
_STIRLING_COEFFS = [-2.955065359477124183e-2, 6.4102564102564102564e-3,
                    -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                    -5.952380952380952381e-4, 7.9365079365079365079e-4,
                    -2.7777777777777777778e-3, 8.3333333333333333333e-2]


def kstwo_sf(d, n) -> float:
    """scipy.stats.kstwo.sf(d, n) for one d and an integral n >= 1."""
    n = np.asarray(n, dtype=np.float64)
    x = np.asarray(d, dtype=np.float64)
    if not (n >= 1 and n == np.round(n)) or np.isnan(x):
        return math.nan
    if x >= 1.0:  # rv_continuous.sf outside the support (0.5/n, 1)
        return 0.0
    if x <= 0.5 / n:
        return 1.0
    return float(_kolmogn(int(n), x, cdf=False))


def _log_nfactorial_div_n_pow_n(n):
    rn = 1.0 / n
    return np.log(n) / 2 - n + _LOG_2PI / 2 + rn * np.polyval(_STIRLING_COEFFS, rn / n)


def _clip_prob(p):
    return np.clip(p, 0.0, 1.0)


def _select_and_clip_prob(cdfprob, sfprob, cdf=True):
    return _clip_prob(np.where(cdf, cdfprob, sfprob))


def _kolmogn_DMTW(n, d, cdf=True):
    """Pr(D_n <= d), Durbin's matrix algorithm as Marsaglia, Tsang & Wang (2003) compute it."""
    if d >= 1.0:
        return _select_and_clip_prob(1.0, 0.0, cdf)
    nd = n * d
    if nd <= 0.5:
        return _select_and_clip_prob(0.0, 1.0, cdf)
    k = int(np.ceil(nd))
    h = k - nd
    m = 2 * k - 1
    H = np.zeros([m, m])
    intm = np.arange(1, m + 1)
    v = 1.0 - h ** intm
    w = np.empty(m)
    fac = 1.0
    for j in intm:
        w[j - 1] = fac
        fac /= j
        v[j - 1] *= fac
    tt = max(2 * h - 1.0, 0) ** m - 2 * h ** m
    v[-1] = (1.0 + tt) * fac
    for i in range(1, m):
        H[i - 1:, i] = w[:m - i + 1]
    H[:, 0] = v
    H[-1, :] = np.flip(v, axis=0)
    Hpwr = np.eye(np.shape(H)[0])
    nn = n
    expnt = 0
    Hexpnt = 0
    while nn > 0:
        if nn % 2:
            Hpwr = np.matmul(Hpwr, H)
            expnt += Hexpnt
        H = np.matmul(H, H)
        Hexpnt *= 2
        if np.abs(H[k - 1, k - 1]) > _EP128:
            H /= _EP128
            Hexpnt += _E128
        nn = nn // 2
    p = Hpwr[k - 1, k - 1]
    for i in range(1, n + 1):
        p = i * p / n
        if np.abs(p) < _EM128:
            p *= _EP128
            expnt -= _E128
    if expnt != 0:
        p = np.ldexp(p, expnt)
    return _select_and_clip_prob(p, 1.0 - p, cdf)


def _pomeranz_compute_j1j2(i, n, ll, ceilf, roundf):
    if i == 0:
        j1, j2 = -ll - ceilf - 1, ll + ceilf - 1
    else:
        ip1div2, ip1mod2 = divmod(i + 1, 2)
        if ip1mod2 == 0:
            if ip1div2 == n + 1:
                j1, j2 = n - ll - ceilf - 1, n + ll + ceilf - 1
            else:
                j1, j2 = ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1
        else:
            j1, j2 = ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1
    return max(j1 + 2, 0), min(j2, n)


def _kolmogn_Pomeranz(n, x, cdf=True):
    """Pr(D_n <= x), Pomeranz's recursion (1974)."""
    t = n * x
    ll = int(np.floor(t))
    f = 1.0 * (t - ll)
    g = min(f, 1.0 - f)
    ceilf = (1 if f > 0 else 0)
    roundf = (1 if f > 0.5 else 0)
    npwrs = 2 * (ll + 1)
    gpower = np.empty(npwrs)
    twogpower = np.empty(npwrs)
    onem2gpower = np.empty(npwrs)
    gpower[0] = 1.0
    twogpower[0] = 1.0
    onem2gpower[0] = 1.0
    expnt = 0
    g_over_n, two_g_over_n, one_minus_two_g_over_n = g / n, 2 * g / n, (1 - 2 * g) / n
    for m in range(1, npwrs):
        gpower[m] = gpower[m - 1] * g_over_n / m
        twogpower[m] = twogpower[m - 1] * two_g_over_n / m
        onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / m
    V0 = np.zeros([npwrs])
    V1 = np.zeros([npwrs])
    V1[0] = 1
    V0s, V1s = 0, 0
    j1, j2 = _pomeranz_compute_j1j2(0, n, ll, ceilf, roundf)
    for i in range(1, 2 * n + 2):
        k1 = j1
        V0, V1 = V1, V0
        V0s, V1s = V1s, V0s
        V1.fill(0.0)
        j1, j2 = _pomeranz_compute_j1j2(i, n, ll, ceilf, roundf)
        if i == 1 or i == 2 * n + 1:
            pwrs = gpower
        else:
            pwrs = (twogpower if i % 2 else onem2gpower)
        ln2 = j2 - k1 + 1
        if ln2 > 0:
            conv = np.convolve(V0[k1 - V0s:k1 - V0s + ln2], pwrs[:ln2])
            conv_start = j1 - k1
            conv_len = j2 - j1 + 1
            V1[:conv_len] = conv[conv_start:conv_start + conv_len]
            if 0 < np.max(V1) < _EM128:
                V1 *= _EP128
                expnt -= _E128
            V1s = V0s + j1 - k1
    ans = V1[n - V1s]
    for m in range(1, n + 1):
        if np.abs(ans) > _EP128:
            ans *= _EM128
            expnt += _E128
        ans *= m
    if expnt != 0:
        ans = np.ldexp(ans, expnt)
    return _select_and_clip_prob(ans, 1.0 - ans, cdf)


def _kolmogn_PelzGood(n, x, cdf=True):
    """Pelz-Good (1976) approximation of Pr(D_n <= x)."""
    if x <= 0.0:
        return _select_and_clip_prob(0.0, 1.0, cdf=cdf)
    if x >= 1.0:
        return _select_and_clip_prob(1.0, 0.0, cdf=cdf)
    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z ** 2, z ** 3, z ** 4, z ** 6
    qlog = -_PI_SQUARED / 8 / zsquared
    if qlog < _MIN_LOG:
        return _select_and_clip_prob(0.0, 1.0, cdf=cdf)
    q = np.exp(qlog)
    k1a = -zsquared
    k1b = _PI_SQUARED / 4
    k2a = 6 * zsix + 2 * zfour
    k2b = (2 * zfour - 5 * zsquared) * _PI_SQUARED / 4
    k2c = _PI_FOUR * (1 - 2 * zsquared) / 16
    k3d = _PI_SIX * (5 - 30 * zsquared) / 64
    k3c = _PI_FOUR * (-60 * zsquared + 212 * zfour) / 16
    k3b = _PI_SQUARED * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z ** 8
    K0to3 = np.zeros(4)
    maxk = int(np.ceil(16 * z / np.pi))
    for k in range(maxk, 0, -1):
        m = 2 * k - 1
        msquared, mfour, msix = m ** 2, m ** 4, m ** 6
        qpower = np.power(q, 8 * k)
        coeffs = np.array([1.0,
                           k1a + k1b * msquared,
                           k2a + k2b * msquared + k2c * mfour,
                           k3a + k3b * msquared + k3c * mfour + k3d * msix])
        K0to3 *= qpower
        K0to3 += coeffs
    K0to3 *= q
    K0to3 *= _SQRT2PI
    K0to3 /= np.array([z, 6 * zfour, 72 * z ** 7, 6480 * z ** 10])
    q = np.exp(-_PI_SQUARED / 2 / zsquared)
    ks = np.arange(maxk, 0, -1)
    ksquared = ks ** 2
    sqrt3z = _SQRT3 * z
    kspi = np.pi * ks
    qpwers = q ** ksquared
    k2extra = np.sum(ksquared * qpwers)
    k2extra *= _PI_SQUARED * _SQRT2PI / (-36 * zthree)
    K0to3[2] += k2extra
    k3extra = np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpwers)
    k3extra *= _PI_SQUARED * _SQRT2PI / (216 * zsix)
    K0to3[3] += k3extra
    powers_of_n = np.power(n * 1.0, np.arange(len(K0to3)) / 2.0)
    K0to3 /= powers_of_n
    if not cdf:
        K0to3 *= -1
        K0to3[0] += 1
    return sum(K0to3)


def _kolmogn(n, x, cdf=True):
    """CDF (or SF) of the two-sided one-sample KS statistic (Simard & L'Ecuyer 2011)."""
    if x >= 1.0:
        return _select_and_clip_prob(1.0, 0.0, cdf=cdf)
    if x <= 0.0:
        return _select_and_clip_prob(0.0, 1.0, cdf=cdf)
    t = n * x
    if t <= 1.0:  # Ruben-Gambino: 1/2n <= x <= 1/n
        if t <= 0.5:
            return _select_and_clip_prob(0.0, 1.0, cdf=cdf)
        if n <= 140:
            prob = np.prod(np.arange(1, n + 1) * (1.0 / n) * (2 * t - 1))
        else:
            prob = np.exp(_log_nfactorial_div_n_pow_n(n) + n * np.log(2 * t - 1))
        return _select_and_clip_prob(prob, 1.0 - prob, cdf=cdf)
    if t >= n - 1:  # Ruben-Gambino
        prob = 2 * (1.0 - x) ** n
        return _select_and_clip_prob(1 - prob, prob, cdf=cdf)
    if x >= 0.5:  # exact: 2 * smirnov
        prob = 2 * _special().smirnov(n, x)
        return _select_and_clip_prob(1.0 - prob, prob, cdf=cdf)
    nxsquared = t * x
    if n <= 140:
        if nxsquared <= 0.754693:
            prob = _kolmogn_DMTW(n, x, cdf=True)
            return _select_and_clip_prob(prob, 1.0 - prob, cdf=cdf)
        if nxsquared <= 4:
            prob = _kolmogn_Pomeranz(n, x, cdf=True)
            return _select_and_clip_prob(prob, 1.0 - prob, cdf=cdf)
        prob = 2 * _special().smirnov(n, x)  # Miller's approximation of 2 * smirnov
        return _select_and_clip_prob(1.0 - prob, prob, cdf=cdf)
    if not cdf:  # the SF has its own cut-offs on n x^2
        if nxsquared >= 370.0:
            return 0.0
        if nxsquared >= 2.2:
            prob = 2 * _special().smirnov(n, x)
            return _clip_prob(prob)
    if nxsquared >= 18.0:
        cdfprob = 1.0
    elif n <= 100000 and n * x ** 1.5 <= 1.4:
        cdfprob = _kolmogn_DMTW(n, x, cdf=True)
    else:
        cdfprob = _kolmogn_PelzGood(n, x, cdf=True)
    return _select_and_clip_prob(cdfprob, 1.0 - cdfprob, cdf=cdf)
