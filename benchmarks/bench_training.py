"""Training overhead: a run through Lablift vs the same pipeline fitted and evaluated by a plain
scikit-learn script (target: Lablift <= 1.1x).

Both sides start from the same imported dataset (the plain script reads the version's Parquet
file), use the same split (stratified holdout), the same k-fold CV, the same pipeline and seed,
and compute the same seven metrics on every fold and on the holdout. Lablift additionally
validates the spec, records the run (two transactions + audit entry), computes plot data
(confusion matrix, ROC/PR curves, permutation importance on <= 2000 holdout rows) and writes
three artifacts (pickled pipeline, holdout Parquet, plots JSON). A third line shows the plain
script with scikit-learn's permutation_importance (n_repeats=3) added, for reference.

Run: python benchmarks/bench_training.py [--rows 10000] [--algorithm random_forest] [--cv 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_data(rows: int, path: Path) -> None:
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=rows, n_features=10, n_informative=6, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
    rng = np.random.default_rng(0)
    frame["region"] = rng.choice(["north", "south", "east", "west"], rows)
    frame["plan"] = np.where(X[:, 0] > 0, "gold", rng.choice(["basic", "silver"], rows))
    frame.loc[rng.random(rows) < 0.02, "x3"] = np.nan
    frame["label"] = y
    frame.to_csv(path, index=False)


def plain_script(parquet: Path, algorithm: str, params: dict, cv: int, seed: int,
                 importance: bool = False) -> dict:
    """What an analyst would write by hand with scikit-learn."""
    from sklearn import metrics as m
    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from lablift.core import catalogue  # only to get the identical estimator
    frame = pd.read_parquet(parquet)
    y = frame.pop("label")
    numeric = [c for c in frame.columns if c.startswith("x")]
    categorical = ["region", "plan"]
    pipe = Pipeline([
        ("preprocess", ColumnTransformer([
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                                  ("scale", StandardScaler())]), numeric),
            ("categorical", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                      ("onehot", OneHotEncoder(handle_unknown="ignore"))]),
             categorical)])),
        ("model", catalogue.make_estimator(algorithm, "classification", params, seed))])
    X_tr, X_te, y_tr, y_te = train_test_split(frame, y, test_size=0.2, random_state=seed,
                                              stratify=y)

    def score(model, X, y_true):
        pred, proba = model.predict(X), model.predict_proba(X)
        return {"accuracy": m.accuracy_score(y_true, pred),
                "balanced_accuracy": m.balanced_accuracy_score(y_true, pred),
                "precision": m.precision_score(y_true, pred),
                "recall": m.recall_score(y_true, pred), "f1": m.f1_score(y_true, pred),
                "roc_auc": m.roc_auc_score(y_true, proba[:, 1]),
                "log_loss": m.log_loss(y_true, proba)}

    folds = []
    for tr, va in StratifiedKFold(cv, shuffle=True, random_state=seed).split(X_tr, y_tr):
        model = clone(pipe).fit(X_tr.iloc[tr], y_tr.iloc[tr])
        folds.append(score(model, X_tr.iloc[va], y_tr.iloc[va]))
    pipe.fit(X_tr, y_tr)
    out = {"cv": {k: np.mean([f[k] for f in folds]) for k in folds[0]},
           "holdout": score(pipe, X_te, y_te)}
    if importance:
        from sklearn.inspection import permutation_importance
        permutation_importance(pipe, X_te.iloc[:2000], y_te.iloc[:2000], n_repeats=3,
                               random_state=seed)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--algorithm", default="random_forest")
    ap.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE")
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="3 folds, one repeat (run_all.py)")
    args = ap.parse_args()
    if args.quick:
        args.cv, args.repeat = 3, 1

    from lablift.core import catalogue, datasets, training
    from lablift.core.store import Store

    root = Path(tempfile.mkdtemp(prefix="bench_training_"))
    make_data(args.rows, root / "data.csv")
    store = Store(root / "store", user="bench")
    ds = datasets.import_dataset(store, root / "data.csv", name="bench")
    parquet = store.artifacts.path(ds["artifact"])
    params = catalogue.validate_params(args.algorithm, "classification",
                                       catalogue.parse_assignments(args.set))
    spec = {"dataset": "bench", "target": "label", "algorithm": args.algorithm,
            "params": params, "cv": args.cv, "seed": 0}

    # warm up both (imports, caches)
    training.train(store, {**spec, "cv": 2})
    plain_script(parquet, args.algorithm, params, 2, 0)

    ours, plain, plain_imp, runs = [], [], [], []
    for _ in range(args.repeat):  # interleaved, so machine noise hits both sides alike
        t0 = time.perf_counter()
        runs.append(training.train(store, spec))
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = plain_script(parquet, args.algorithm, params, args.cv, 0)
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plain_script(parquet, args.algorithm, params, args.cv, 0, importance=True)
        plain_imp.append(time.perf_counter() - t0)
    run = runs[-1]
    assert abs(run["metrics"]["holdout"]["accuracy"] - ref["holdout"]["accuracy"]) < 1e-12
    assert abs(run["metrics"]["cv"]["roc_auc"]["mean"] - ref["cv"]["roc_auc"]) < 1e-12

    med = statistics.median
    print(f"\n{args.algorithm} {params or '(defaults)'}, {args.rows} rows x 12 features, "
          f"{args.cv}-fold CV + holdout, median of {args.repeat}")
    print(f"{'':44}{'seconds':>10}{'ratio':>9}")
    print(f"{'plain scikit-learn script':44}{med(plain):10.3f}{1:9.2f}")
    print(f"{'Lablift training.train (full run)':44}{med(ours):10.3f}"
          f"{med(ours) / med(plain):9.2f}")
    print(f"{'plain script + permutation_importance':44}{med(plain_imp):10.3f}"
          f"{med(plain_imp) / med(plain):9.2f}")
    t = run["details"]["timings"]
    print("Lablift stages of the last run: " + ", ".join(f"{k} {v:.3f}" for k, v in t.items())
          + f"; total {run['duration_s']:.3f}")
    print("holdout accuracy and CV ROC AUC identical on both sides")


if __name__ == "__main__":
    main()
