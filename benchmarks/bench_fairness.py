"""Fairness report benchmark: lablift.core.fairness against Fairlearn (what users would pick
instead) on the same predictions; also checks the numbers agree.

Run: python benchmarks/bench_fairness.py [--rows N] [--groups K]
Fairlearn side: MetricFrame(selection_rate, TPR, FPR, precision, count) + the three
disparity functions (each builds its own MetricFrame, as a user calling them would).
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--groups", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat (run_all.py)")
    args = ap.parse_args()
    if args.quick:
        args.repeat = 1

    from fairlearn.metrics import (MetricFrame, demographic_parity_difference,
                                   demographic_parity_ratio, equalized_odds_difference,
                                   false_positive_rate, selection_rate, true_positive_rate)
    from sklearn.metrics import precision_score

    from lablift.core import fairness

    rng = np.random.default_rng(0)
    n = args.rows
    sens = rng.choice([f"g{i}" for i in range(args.groups)], n)
    y_true = rng.integers(0, 2, n)
    y_pred = (rng.random(n) < 0.3 + 0.4 * (np.char.str_len(sens) % 2)).astype(int)

    def ours():
        return fairness.classification_report(y_true, y_pred, sens, classes=[0, 1])

    def theirs():
        mf = MetricFrame(metrics={"selection_rate": selection_rate, "tpr": true_positive_rate,
                                  "fpr": false_positive_rate,
                                  "precision": partial(precision_score, zero_division=0),
                                  "count": lambda a, b: len(a)},
                         y_true=y_true, y_pred=y_pred, sensitive_features=sens)
        return (mf.by_group,
                demographic_parity_difference(y_true, y_pred, sensitive_features=sens),
                demographic_parity_ratio(y_true, y_pred, sensitive_features=sens),
                equalized_odds_difference(y_true, y_pred, sensitive_features=sens))

    rep = ours()
    _, dpd, dpr, eod = theirs()
    agree = (abs(rep["demographic_parity_difference"] - dpd) < 1e-12
             and abs(rep["demographic_parity_ratio"] - dpr) < 1e-12
             and abs(rep["equalized_odds_difference"] - eod) < 1e-12)
    t_ours = best_of(ours, args.repeat)
    t_theirs = best_of(theirs, args.repeat)
    print(f"rows {n:,}, groups {args.groups}: lablift {t_ours * 1000:.1f} ms, "
          f"fairlearn {t_theirs * 1000:.1f} ms ({t_theirs / t_ours:.1f}x); "
          f"numbers agree: {agree}")


if __name__ == "__main__":
    main()
