"""Algorithms, their tunable hyperparameters, and the preprocessing pipeline built from a profile.

The catalogue is data: a GUI builds its form from `describe()`, the CLI validates `--set`
values with `parse_value`, sweeps sample from `Hyperparameter.search`. Pipelines contain only
scikit-learn objects, so a pickled pipeline loads without Lablift (bundles rely on that).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from .errors import LabliftError

TASKS = ("classification", "regression")
NUMERIC_KINDS = ("numeric",)
CATEGORICAL_KINDS = ("categorical", "boolean")
EXCLUDED_KINDS = ("datetime", "text", "id-like")  # used only when chosen explicitly
MAX_CLASSES_FOR_INT_TARGET = 20


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    type: str  # int | float | choice | bool
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    nullable: bool = False  # None allowed (shown as "none"), e.g. max_depth
    tasks: tuple = TASKS
    search: tuple | None = None  # (low, high) range for random search when narrower than low..high

    def describe(self) -> dict[str, Any]:
        out = {"name": self.name, "type": self.type, "default": self.default, "help": self.help,
               "nullable": self.nullable, "log": self.log}
        if self.type in ("int", "float"):
            out.update(low=self.low, high=self.high,
                       search=list(self.search) if self.search else [self.low, self.high])
        if self.type == "choice":
            out["choices"] = list(self.choices)
        return out

    def rule(self) -> str:
        none = " or none" if self.nullable else ""
        if self.type == "int":
            return f"an integer from {_num(self.low)} to {_num(self.high)}{none}"
        if self.type == "float":
            return f"a number from {_num(self.low)} to {_num(self.high)}{none}"
        if self.type == "bool":
            return "true or false"
        return "one of " + ", ".join(_show(c) for c in self.choices)

    def coerce(self, value: Any, algorithm: str) -> Any:
        """Check and convert `value` (a Python value or the text of `--set`)."""
        def bad() -> LabliftError:
            return LabliftError(f"parameter {self.name} of {algorithm} must be {self.rule()}, "
                                f"got {value!r}")
        text = value.strip() if isinstance(value, str) else None
        if value is None or (text is not None and text.lower() in ("none", "null")):
            if self.nullable or (self.type == "choice" and None in self.choices):
                return None
            raise bad()
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if text is not None and text.lower() in ("true", "yes", "1", "false", "no", "0"):
                return text.lower() in ("true", "yes", "1")
            raise bad()
        if self.type == "choice":
            for c in self.choices:
                if value == c or (text is not None and c is not None and text == str(c)):
                    return c
            raise bad()
        if isinstance(value, bool):
            raise bad()
        try:
            number = float(text if text is not None else value)
        except (TypeError, ValueError):
            raise bad() from None
        if math.isnan(number) or not (self.low <= number <= self.high):
            raise bad()
        if self.type == "int":
            if number != int(number):
                raise bad()
            return int(number)
        return number


@dataclass(frozen=True)
class Algorithm:
    name: str
    label: str
    estimators: dict  # task -> "module.Class"
    params: tuple = ()
    fixed: dict = field(default_factory=dict)  # task -> extra constructor kwargs
    iterative: bool = False
    # classifier without predict_proba: wrapped in CalibratedClassifierCV(ensemble=False),
    # scikit-learn's replacement for the deprecated SVC(probability=True)
    calibrated: bool = False

    @property
    def tasks(self) -> tuple:
        return tuple(t for t in TASKS if t in self.estimators)

    def hyperparameters(self, task: str | None = None) -> list[Hyperparameter]:
        return [p for p in self.params if task is None or task in p.tasks]

    def hyperparameter(self, name: str, task: str) -> Hyperparameter:
        for p in self.hyperparameters(task):
            if p.name == name:
                return p
        known = [p.name for p in self.hyperparameters(task)]
        hint = _close(name, known)
        raise LabliftError(f"{self.name} has no {task} parameter {name!r}{hint}; its parameters: "
                           f"{', '.join(known) or 'none'}")

    def estimator_class(self, task: str):
        import importlib
        if task not in self.estimators:
            raise LabliftError(f"algorithm {self.name} does not do {task} "
                               f"(it does: {', '.join(self.tasks)})")
        module, _, cls = self.estimators[task].rpartition(".")
        return getattr(importlib.import_module(module), cls)

    def defaults(self, task: str) -> dict[str, Any]:
        return {p.name: p.default for p in self.hyperparameters(task)}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "tasks": list(self.tasks),
                "estimators": dict(self.estimators), "iterative": self.iterative,
                "hyperparameters": {t: [p.describe() for p in self.hyperparameters(t)]
                                    for t in self.tasks}}


H = Hyperparameter
CLF, REG = ("classification",), ("regression",)
_DEPTH = H("max_depth", "int", None, "deepest split level; none grows until leaves are pure",
           low=1, high=1000, nullable=True, search=(2, 30))
_LEAF = H("min_samples_leaf", "int", 1, "fewest training rows in a leaf", low=1, high=10000,
          search=(1, 50))
_SPLIT = H("min_samples_split", "int", 2, "fewest rows a node needs to be split", low=2,
           high=10000, search=(2, 50))
_CW = H("class_weight", "choice", None, "balanced reweights classes inversely to frequency",
        choices=(None, "balanced"), tasks=CLF)

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in [
    Algorithm("logistic_regression", "Logistic regression",
              {"classification": "sklearn.linear_model.LogisticRegression"},
              (H("C", "float", 1.0, "inverse regularisation strength", low=1e-6, high=1e6,
                 log=True, search=(1e-3, 1e3)),
               H("max_iter", "int", 1000, "solver iterations", low=10, high=100000,
                 search=(100, 2000)),
               _CW), iterative=True),
    Algorithm("linear_regression", "Linear regression",
              {"regression": "sklearn.linear_model.LinearRegression"},
              (H("fit_intercept", "bool", True, "fit an intercept term"),)),
    Algorithm("ridge", "Ridge regression", {"regression": "sklearn.linear_model.Ridge"},
              (H("alpha", "float", 1.0, "L2 regularisation strength", low=0.0, high=1e6,
                 log=True, search=(1e-4, 1e3)),
               H("fit_intercept", "bool", True, "fit an intercept term"))),
    Algorithm("random_forest", "Random forest",
              {"classification": "sklearn.ensemble.RandomForestClassifier",
               "regression": "sklearn.ensemble.RandomForestRegressor"},
              (H("n_estimators", "int", 100, "number of trees", low=1, high=5000,
                 search=(10, 300)),
               _DEPTH, _SPLIT, _LEAF,
               H("max_features", "choice", "sqrt", "features tried per split (none: all)",
                 choices=("sqrt", "log2", None), tasks=CLF),
               H("max_features", "choice", None, "features tried per split (none: all)",
                 choices=("sqrt", "log2", None), tasks=REG),
               _CW), iterative=True),
    Algorithm("hist_gradient_boosting", "Histogram gradient boosting",
              {"classification": "sklearn.ensemble.HistGradientBoostingClassifier",
               "regression": "sklearn.ensemble.HistGradientBoostingRegressor"},
              (H("learning_rate", "float", 0.1, "shrinkage of each boosting step", low=1e-4,
                 high=1.0, log=True, search=(0.01, 0.5)),
               H("max_iter", "int", 100, "boosting iterations", low=1, high=10000,
                 search=(20, 300)),
               H("max_leaf_nodes", "int", 31, "leaves per tree", low=2, high=4096,
                 search=(4, 128)),
               _DEPTH, H("min_samples_leaf", "int", 20, "fewest training rows in a leaf",
                         low=1, high=10000, search=(1, 100)),
               H("l2_regularization", "float", 0.0, "L2 penalty on leaf values", low=0.0,
                 high=1e4, search=(0.0, 10.0)),
               _CW), iterative=True),
    Algorithm("knn", "k-nearest neighbours",
              {"classification": "sklearn.neighbors.KNeighborsClassifier",
               "regression": "sklearn.neighbors.KNeighborsRegressor"},
              (H("n_neighbors", "int", 5, "neighbours that vote", low=1, high=10000,
                 search=(1, 50)),
               H("weights", "choice", "uniform", "distance weights closer neighbours more",
                 choices=("uniform", "distance")),
               H("p", "choice", 2, "Minkowski power: 1 Manhattan, 2 Euclidean", choices=(1, 2)))),
    Algorithm("svm", "Support vector machine",
              {"classification": "sklearn.svm.SVC", "regression": "sklearn.svm.SVR"},
              (H("C", "float", 1.0, "inverse regularisation strength", low=1e-6, high=1e6,
                 log=True, search=(1e-2, 1e3)),
               H("kernel", "choice", "rbf", "kernel function",
                 choices=("rbf", "linear", "poly", "sigmoid")),
               H("gamma", "choice", "scale", "kernel coefficient", choices=("scale", "auto")),
               H("epsilon", "float", 0.1, "width of the no-penalty tube", low=0.0, high=1e4,
                 tasks=REG, search=(0.0, 1.0)),
               _CW),
              calibrated=True),
    Algorithm("decision_tree", "Decision tree",
              {"classification": "sklearn.tree.DecisionTreeClassifier",
               "regression": "sklearn.tree.DecisionTreeRegressor"},
              (_DEPTH, _SPLIT, _LEAF, _CW)),
    Algorithm("dummy", "Dummy baseline",
              {"classification": "sklearn.dummy.DummyClassifier",
               "regression": "sklearn.dummy.DummyRegressor"},
              (H("strategy", "choice", "prior", "what the baseline predicts",
                 choices=("prior", "most_frequent", "stratified", "uniform"), tasks=CLF),
               H("strategy", "choice", "mean", "what the baseline predicts",
                 choices=("mean", "median"), tasks=REG))),
]}

DEFAULT_ALGORITHM = {"classification": "random_forest", "regression": "random_forest"}


def algorithms(task: str | None = None) -> list[Algorithm]:
    return [a for a in ALGORITHMS.values() if task is None or task in a.tasks]


def get(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise LabliftError(f"unknown algorithm {name!r}{_close(name, list(ALGORITHMS))}; "
                           f"available: {', '.join(ALGORITHMS)}") from None


def describe(task: str | None = None) -> list[dict[str, Any]]:
    return [a.describe() for a in algorithms(task)]


def parse_value(algorithm: str, task: str, name: str, value: Any) -> Any:
    algo = get(algorithm)
    return algo.hyperparameter(name, task).coerce(value, algorithm)


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """['n_estimators=200', 'max_depth=none'] -> {'n_estimators': '200', ...} (values unparsed)."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise LabliftError(f"--set {item!r} is not PARAM=VALUE")
        out[name.strip()] = value
    return out


def validate_params(algorithm: str, task: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Coerce user params (values may be text) for `task`; raise naming the first bad one."""
    algo = get(algorithm)
    if task not in algo.tasks:
        raise LabliftError(f"algorithm {algorithm} does not do {task} "
                           f"(it does: {', '.join(algo.tasks)})")
    return {name: algo.hyperparameter(name, task).coerce(value, algorithm)
            for name, value in (params or {}).items()}


def make_estimator(algorithm: str, task: str, params: dict[str, Any], seed: int | None):
    algo = get(algorithm)
    cls = algo.estimator_class(task)
    kwargs = {**algo.defaults(task), **algo.fixed.get(task, {}), **params}
    accepted = cls().get_params()
    if "random_state" in accepted and seed is not None:
        kwargs["random_state"] = seed
    estimator = cls(**{k: v for k, v in kwargs.items() if k in accepted})
    if algo.calibrated and task == "classification":
        from sklearn.calibration import CalibratedClassifierCV
        estimator = CalibratedClassifierCV(estimator, ensemble=False)
    return estimator


def estimator_params(model) -> dict[str, Any]:
    """The hyperparameters of a fitted or unfitted catalogue estimator (unwrapping calibration)."""
    from sklearn.calibration import CalibratedClassifierCV
    if isinstance(model, CalibratedClassifierCV):
        inner = model.estimator.get_params(deep=False)
        inner["calibration"] = model.method
        return inner
    return model.get_params(deep=False)


# -- task inference and preprocessing --------------------------------------------------------

def infer_task(column: dict[str, Any]) -> str:
    """Classification for non-numeric, boolean or few-valued integer targets, else regression."""
    kind, dtype = column.get("kind"), str(column.get("dtype", ""))
    if kind != "numeric":
        return "classification"
    if dtype.startswith(("int", "uint")) and column.get("unique", 0) <= MAX_CLASSES_FOR_INT_TARGET:
        return "classification"
    return "regression"


def usable_features(profile: dict[str, Any], target: str, exclude: Sequence[str] = ()) -> list[str]:
    """Default features: numeric, categorical and boolean columns other than target/excluded."""
    return [c["name"] for c in profile["columns"]
            if c["name"] != target and c["name"] not in exclude
            and c["kind"] not in EXCLUDED_KINDS and c.get("missing", 0) < profile["rows"]]


def column_groups(profile: dict[str, Any], features: Sequence[str]) -> tuple[list, list, list]:
    """Split chosen features into (numeric, categorical, dropped-with-note)."""
    by_name = {c["name"]: c for c in profile["columns"]}
    numeric, categorical, notes = [], [], []
    for name in features:
        col = by_name[name]
        kind, dtype = col["kind"], col["dtype"]
        if kind == "datetime":
            notes.append(f"{name}: datetime columns are not used as features (derive numeric "
                         f"columns such as year or age from it before import)")
        elif kind in NUMERIC_KINDS:
            numeric.append(name)
        elif kind in CATEGORICAL_KINDS:
            categorical.append(name)
        # id-like / text chosen explicitly: treat by dtype
        elif dtype.startswith(("int", "uint", "float", "double", "decimal")):
            numeric.append(name)
        else:
            categorical.append(name)
    return numeric, categorical, notes


def build_pipeline(profile: dict[str, Any], features: Sequence[str], task: str, algorithm: str,
                   params: dict[str, Any], seed: int | None):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric, categorical, _ = column_groups(profile, features)
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline([
            ("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric))
    if categorical:
        transformers.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore"))]), categorical))
    if not transformers:
        raise LabliftError("no usable feature columns: choose numeric, categorical or boolean "
                           "columns as features")
    prep = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", prep),
                     ("model", make_estimator(algorithm, task, params, seed))])


# -- helpers --------------------------------------------------------------------------------

def _close(name: str, options: Sequence[str]) -> str:
    near = difflib.get_close_matches(str(name), list(options), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(near)}?)" if near else ""


def close_matches(name: str, options: Sequence[str]) -> str:
    return _close(name, options)


def _num(x: float | None) -> str:
    if x is None:
        return "?"
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _show(c: Any) -> str:
    return "none" if c is None else str(c)
