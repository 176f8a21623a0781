"""A 100-configuration sweep through Lablift vs scikit-learn's GridSearchCV over the same grid.

Same data, same holdout split, same 5 stratified folds, same pipeline, same parallelism
(n_jobs=-1 on this machine). GridSearchCV is timed twice: with one score (ROC AUC, what most
people write) and with the seven metrics Lablift records per fold, refitting the best. Each
Lablift configuration is a whole run: CV with seven metrics, a final fit, holdout metrics,
curves, permutation importance, three artifacts and its row in the store; the best run is
marked. The best configuration must agree (same folds, same metric, ties to the first).

Run: python benchmarks/bench_sweep.py [--rows 3000] [--jobs -1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

DEPTHS = [1, 2, 3, 4, 5, 6, 8, 10, 15, None]
LEAVES = [1, 2, 5, 10, 20, 30, 40, 50, 75, 100]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="1,000 rows, 3 folds (run_all.py)")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.cv = 1000, 3

    from sklearn.base import clone
    from sklearn.datasets import make_classification
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split

    from lablift.core import catalogue, datasets, sweeps
    from lablift.core.store import Store

    root = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    X, y = make_classification(n_samples=args.rows, n_features=12, n_informative=5,
                               flip_y=0.05, random_state=1)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(12)])
    frame["label"] = y
    frame.to_csv(root / "data.csv", index=False)
    store = Store(root / "store", user="bench")
    ds = datasets.import_dataset(store, root / "data.csv", name="bench")
    grid = {"max_depth": ["none" if d is None else str(d) for d in DEPTHS],
            "min_samples_leaf": [str(v) for v in LEAVES]}
    spec = {"dataset": "bench", "target": "label", "algorithm": "decision_tree",
            "cv": args.cv, "seed": 0}

    t0 = time.perf_counter()
    result = sweeps.sweep(store, spec, grid=grid, n_jobs=args.jobs)
    ours = time.perf_counter() - t0
    assert len(result["runs"]) == 100 and all(r["status"] == "finished" for r in result["runs"])
    best = next(r for r in result["runs"] if r["id"] == result["best_run_id"])

    # scikit-learn: same parquet, same split, same folds, same pipeline
    data = pd.read_parquet(store.artifacts.path(ds["artifact"]))
    target = data.pop("label")
    X_tr, X_te, y_tr, y_te = train_test_split(data, target, test_size=0.2, random_state=0,
                                              stratify=target)
    pipe = catalogue.build_pipeline(ds["profile"], list(data.columns), "classification",
                                    "decision_tree", {}, 0)
    param_grid = {"model__max_depth": DEPTHS, "model__min_samples_leaf": LEAVES}
    folds = StratifiedKFold(args.cv, shuffle=True, random_state=0)
    timings, searches = {}, {}
    scorings = {"1 score": "roc_auc",
                "7 metrics": {"accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy",
                              "precision": "precision", "recall": "recall", "f1": "f1",
                              "roc_auc": "roc_auc", "log_loss": "neg_log_loss"}}
    for label, scoring in scorings.items():
        t0 = time.perf_counter()
        search = GridSearchCV(clone(pipe), param_grid, cv=folds, scoring=scoring,
                              refit="roc_auc" if isinstance(scoring, dict) else True,
                              n_jobs=args.jobs)
        search.fit(X_tr, y_tr)
        search.best_estimator_.score(X_te, y_te)
        timings[label] = time.perf_counter() - t0
        searches[label] = search

    sk_best = searches["7 metrics"].best_params_
    ours_best = {"model__max_depth": best["params"]["max_depth"],
                 "model__min_samples_leaf": best["params"]["min_samples_leaf"]}
    sk_auc = searches["7 metrics"].best_score_
    print(f"\n100-configuration grid (decision_tree max_depth x min_samples_leaf), "
          f"{args.rows} rows, {args.cv}-fold CV, n_jobs={args.jobs}")
    print(f"{'':46}{'seconds':>9}{'ms/config':>11}{'ratio':>8}")
    for label, secs in timings.items():
        print(f"{'GridSearchCV, ' + label:46}{secs:9.2f}{secs * 10:11.1f}"
              f"{secs / timings['1 score']:8.2f}")
    print(f"{'Lablift sweep (100 recorded runs + best)':46}{ours:9.2f}{ours * 10:11.1f}"
          f"{ours / timings['1 score']:8.2f}")
    per_run = np.median([r["duration_s"] for r in result["runs"]])
    print(f"median Lablift run inside the sweep: {per_run * 1000:.0f} ms")
    print(f"best: Lablift {ours_best} CV ROC AUC "
          f"{best['metrics']['cv']['roc_auc']['mean']:.6f}; GridSearchCV {sk_best} "
          f"{sk_auc:.6f}; {'same configuration' if ours_best == sk_best else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
