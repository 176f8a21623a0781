"""Pipeline files (`lablift.toml`): the schema, and checking a file against it.

Every error names the file, the section and the key, and an unknown key is refused with
the nearest valid one. Checking needs no store: `lablift pipeline validate` runs in a CI
lint step. The schema is documented, key by key, in docs/pipeline.md.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import catalogue
from ..errors import LabliftError

FILE_NAME = "lablift.toml"

# section -> key -> what it holds (the documentation's words, shown in "unknown key" errors)
SCHEMA: dict[str, dict[str, str]] = {
    "data": {"path": "CSV or Parquet file, relative to the pipeline file",
             "name": "dataset name (default: the file's name without its extension)"},
    "train": {"target": "column to predict", "features": 'columns, or "all" (default)',
              "sensitive": "column for fairness reports", "task": "classification or regression",
              "algorithm": "catalogue name", "params": "hyperparameters",
              "cv": "cross-validation folds", "test_size": "holdout share",
              "seed": "random seed"},
    "sweep": {"grid": "values per parameter", "random": "configurations to sample",
              "space": "ranges for a random search", "jobs": "parallel workers"},
    "model": {"name": "model name", "description": "what the versions are",
              "gates": "metric gates"},
    "export": {"folder": "where approved versions are exported"},
    "monitoring": {},  # the keys of core/monitoring/settings.py DEFAULTS (filled in below)
}
REQUIRED = {"data": ("path",), "train": ("target",), "model": ("name",)}


class PipelineError(LabliftError):
    """A pipeline file that breaks the schema; the message names the file and the key."""


@dataclass
class Pipeline:
    """A checked pipeline file: what `pipeline run` does, in normalised values."""
    file: Path  # the pipeline file, absolute
    shown: str  # the file as the user named it (errors and output say this)
    data_path: Path  # absolute
    dataset_name: str
    target: str
    features: list[str] | None  # None: all usable columns
    sensitive: str | None
    task: str | None  # None: inferred from the target
    algorithm: str
    params: dict[str, Any]
    cv: int
    test_size: float
    seed: int
    model: str
    description: str = ""
    sweep: dict[str, Any] | None = None  # {grid | random [, space], jobs}
    gates: list[dict[str, Any]] | None = None  # None: the file leaves the model's gates alone
    export: Path | None = None  # absolute folder
    monitoring: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def spec(self, dataset_id: int) -> dict[str, Any]:
        """The training spec (core/training.py) on dataset version `dataset_id`."""
        return {"dataset_id": dataset_id, "target": self.target, "features": self.features,
                "sensitive": self.sensitive, "task": self.task, "algorithm": self.algorithm,
                "params": dict(self.params), "cv": self.cv, "test_size": self.test_size,
                "seed": self.seed}


def _monitoring_keys() -> dict[str, str]:
    from ..monitoring.settings import DEFAULTS
    return {k: "monitoring setting" for k in DEFAULTS}


class _Checker:
    def __init__(self, shown: str):
        self.shown = shown

    def fail(self, where: str, message: str) -> PipelineError:
        return PipelineError(f"{self.shown}: {where + ' ' if where else ''}{message}")

    def table(self, where: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail("", f"{where} must be a table ([{where.strip('[]')}]), not "
                                f"{_kind(value)}")
        return value

    def known(self, section: str, table: dict, keys: dict[str, str]) -> None:
        for key in table:
            if key not in keys:
                near = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.5)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise self.fail(f"[{section}]", f"unknown key {key!r}{hint}; keys: "
                                                f"{', '.join(keys)}")
        for key in REQUIRED.get(section, ()):
            if key not in table:
                raise self.fail(f"[{section}]", f"{key} is required ({keys[key]})")

    def text(self, section: str, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"[{section}]", f"{key} must be a non-empty string, not "
                                            f"{_kind(value)}")
        return value.strip()

    def integer(self, section: str, key: str, value: Any, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"[{section}]", f"{key} must be a whole number, not {_kind(value)}")
        if value < low:
            raise self.fail(f"[{section}]", f"{key} must be at least {low}, not {value}")
        return value

    def wrap(self, where: str, exc: LabliftError) -> PipelineError:
        return self.fail(where, str(exc))


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def load(path: str | Path) -> Pipeline:
    """Read and check the pipeline file at `path`; raise PipelineError naming the key."""
    shown = str(path)
    c = _Checker(shown)
    file = Path(path).expanduser().absolute()
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise c.fail("", "no such file (write an example with `lablift pipeline init`)") \
            from None
    except IsADirectoryError:
        raise c.fail("", "is a folder, not a pipeline file") from None
    except UnicodeDecodeError as exc:
        raise c.fail("", f"is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise c.fail("", f"cannot be read: {exc.strerror or exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise c.fail("", f"is not valid TOML: {exc}") from None
    return check(raw, file, shown)


def check(raw: dict[str, Any], file: Path, shown: str) -> Pipeline:
    c = _Checker(shown)
    schema = {**SCHEMA, "monitoring": _monitoring_keys()}
    for section in raw:
        if section not in schema:
            near = difflib.get_close_matches(section, list(schema), n=1, cutoff=0.5)
            hint = f" (did you mean [{near[0]}]?)" if near else ""
            raise c.fail("", f"unknown section [{section}]{hint}; sections: "
                             f"{', '.join(f'[{s}]' for s in schema)}")
    for section in REQUIRED:
        if section not in raw:
            raise c.fail("", f"section [{section}] is required")
    sections = {s: c.table(f"[{s}]", raw[s]) for s in raw}
    for section, table in sections.items():
        c.known(section, table, schema[section])

    data = sections["data"]
    rel = c.text("data", "path", data["path"])
    data_path = (file.parent / rel).absolute()
    if not data_path.is_file():
        raise c.fail("[data]", f"path {rel!r} is not a file (looked for {data_path})")
    from ..datasets import check_name, default_name
    try:
        name = check_name(c.text("data", "name", data["name"]) if "name" in data
                          else default_name(data_path))
    except PipelineError:
        raise
    except LabliftError as exc:
        raise c.wrap("[data] name:", exc) from None

    train = sections["train"]
    target = c.text("train", "target", train["target"])
    features = _features(c, train.get("features", "all"), target)
    sensitive = c.text("train", "sensitive", train["sensitive"]) if "sensitive" in train \
        else None
    if sensitive is not None and features and sensitive in features:
        raise c.fail("[train]", f"sensitive column {sensitive!r} is also in features; a "
                                f"fairness column is kept out of the model's inputs")
    task = None
    if "task" in train:
        task = train["task"]
        if task not in catalogue.TASKS:
            raise c.fail("[train]", f"task {task!r} is not one of: "
                                    f"{', '.join(catalogue.TASKS)}")
    algorithm = train.get("algorithm", catalogue.DEFAULT_ALGORITHM[task or "classification"])
    if algorithm not in catalogue.ALGORITHMS:
        raise c.fail("[train]", f"algorithm {algorithm!r} is not one of: "
                                f"{', '.join(catalogue.ALGORITHMS)}"
                                f"{catalogue.close_matches(str(algorithm), catalogue.ALGORITHMS)}")
    algo = catalogue.get(algorithm)
    if task is not None and task not in algo.tasks:
        raise c.fail("[train]", f"algorithm {algorithm!r} does not do {task} (it does: "
                                f"{', '.join(algo.tasks)})")
    params = c.table("[train.params]", train.get("params", {}))
    params = _check_params(c, "[train.params]", algorithm, task, params)
    cv = c.integer("train", "cv", train.get("cv", 5), 0)
    test_size = train.get("test_size", 0.2)
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) \
            or not 0 < test_size < 1:
        raise c.fail("[train]", f"test_size must be a number between 0 and 1 (exclusive), "
                                f"not {_kind(test_size)}")
    seed = c.integer("train", "seed", train.get("seed", 0), 0)

    model = sections["model"]
    from .. import registry
    try:
        model_name = registry.check_name(c.text("model", "name", model["name"]))
    except PipelineError:
        raise
    except LabliftError as exc:
        raise c.wrap("[model] name:", exc) from None
    description = model.get("description", "")
    if not isinstance(description, str):
        raise c.fail("[model]", f"description must be a string, not {_kind(description)}")
    gates = _gates(c, model["gates"]) if "gates" in model else None

    sweep = _sweep(c, sections["sweep"], algorithm, task) if "sweep" in sections else None

    export = None
    if "export" in sections:
        if "folder" not in sections["export"]:
            raise c.fail("[export]", "folder is required (where approved versions go)")
        export = (file.parent / c.text("export", "folder",
                                       sections["export"]["folder"])).absolute()
        if export.exists() and not export.is_dir():
            raise c.fail("[export]", f"folder {sections['export']['folder']!r} is a file "
                                     f"({export})")

    monitoring = None
    if "monitoring" in sections:
        from ..monitoring.settings import check_settings
        table = sections["monitoring"]
        for key, value in table.items():  # one key at a time: the error names it
            try:
                check_settings({key: value})
            except LabliftError as exc:
                raise c.wrap(f"[monitoring] {key}:", exc) from None
        monitoring = check_settings(table)

    return Pipeline(file=file, shown=shown, data_path=data_path, dataset_name=name,
                    target=target, features=features, sensitive=sensitive, task=task,
                    algorithm=algorithm, params=params, cv=cv, test_size=float(test_size),
                    seed=seed, model=model_name, description=description.strip(),
                    sweep=sweep, gates=gates, export=export, monitoring=monitoring, raw=raw)


def _features(c: _Checker, value: Any, target: str) -> list[str] | None:
    if value == "all":
        return None
    if not isinstance(value, list) or not value or \
            not all(isinstance(v, str) and v.strip() for v in value):
        raise c.fail("[train]", f'features must be "all" or a list of column names, not '
                                f"{_kind(value)}")
    names = [v.strip() for v in value]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise c.fail("[train]", f"features lists {dup!r} twice")
    if target in names:
        raise c.fail("[train]", f"features include the target {target!r}; a model cannot "
                                f"use its own target as input")
    return names


def _check_params(c: _Checker, where: str, algorithm: str, task: str | None,
                  params: dict[str, Any]) -> dict[str, Any]:
    """Coerce against the task, or (task inferred later) against every task the algorithm
    does: a value right for one of them passes here, and training checks it again."""
    algo = catalogue.get(algorithm)
    tasks = [task] if task else list(algo.tasks)
    for name in params:
        known = {p.name for t in tasks for p in algo.hyperparameters(t)}
        if name not in known:
            near = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise c.fail(where, f"unknown parameter {name!r} of {algorithm}{hint}; "
                                f"parameters: {', '.join(sorted(known))}")
    error = None
    for t in tasks:
        try:
            catalogue.validate_params(algorithm, t, params)
            return dict(params)
        except LabliftError as exc:
            error = error or exc
    raise c.wrap(where, error)


def _gates(c: _Checker, value: Any) -> list[dict[str, Any]]:
    from .. import gates as gates_mod
    if not isinstance(value, list):
        raise c.fail("[model]", f"gates must be a list, e.g. [\"roc_auc>=0.8\"], not "
                                f"{_kind(value)}")
    out = []
    for i, gate in enumerate(value):
        try:
            if isinstance(gate, str):
                out.append(gates_mod.parse_gate(gate))
            elif isinstance(gate, dict):
                out.append(gates_mod.validate_gate(gate))
            else:
                raise LabliftError(f"a gate is a string like \"roc_auc>=0.8\" or a table "
                                   f"{{metric, op, threshold}}, not {_kind(gate)}")
        except LabliftError as exc:
            raise c.wrap(f"[model] gates[{i}]:", exc) from None
    return out


def _sweep(c: _Checker, table: dict[str, Any], algorithm: str,
           task: str | None) -> dict[str, Any]:
    from .. import sweeps
    if ("grid" in table) == ("random" in table):
        raise c.fail("[sweep]", "give either grid (values per parameter) or random (how many "
                                "configurations to sample), not both or neither")
    jobs = table.get("jobs", -1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise c.fail("[sweep]", f"jobs must be -1 (all cores) or a positive whole number, "
                                f"not {_kind(jobs)}")
    tasks = [task] if task else list(catalogue.get(algorithm).tasks)
    out: dict[str, Any] = {"jobs": jobs}
    if "grid" in table:
        grid = c.table("[sweep.grid]", table["grid"])
        if not grid:
            raise c.fail("[sweep]", "grid names no parameter")
        for name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise c.fail("[sweep.grid]", f"{name} must be a non-empty list of values, "
                                             f"not {_kind(values)}")
        if "space" in table:
            raise c.fail("[sweep]", "space is for a random search; a grid lists its values")
        _each_task(c, "[sweep.grid]", tasks,
                   lambda t: sweeps.grid_configs(algorithm, t, grid))
        out["grid"] = {k: list(v) for k, v in grid.items()}
        return out
    n = c.integer("sweep", "random", table["random"], 1)
    if n > sweeps.MAX_CONFIGS:
        raise c.fail("[sweep]", f"random must be at most {sweeps.MAX_CONFIGS}, not {n}")
    out["random"] = n
    if "space" in table:
        space = c.table("[sweep.space]", table["space"])
        for name, entry in space.items():
            if not isinstance(entry, dict):
                raise c.fail("[sweep.space]", f"{name} must be a table {{low, high[, log]}} "
                                              f"or {{choices}}, not {_kind(entry)}")
            extra = set(entry) - {"low", "high", "log", "choices"}
            if extra:
                raise c.fail("[sweep.space]", f"{name}: unknown key {sorted(extra)[0]!r}; "
                                              f"keys: low, high, log, choices")
        _each_task(c, "[sweep.space]", tasks,
                   lambda t: sweeps.check_space(algorithm, t, space))
        out["space"] = {k: dict(v) for k, v in space.items()}
    return out


def _each_task(c: _Checker, where: str, tasks: list[str], check) -> None:
    error = None
    for t in tasks:
        try:
            check(t)
            return
        except LabliftError as exc:
            error = error or exc
    raise c.wrap(where, error)


def check_columns(p: Pipeline, columns: list[str]) -> None:
    """The columns the file names exist in the data (the file named, not a dataset)."""
    c = _Checker(p.shown)
    rel = p.raw["data"]["path"]
    for key, names in (("target", [p.target]), ("sensitive", [p.sensitive] if p.sensitive
                                                 else []), ("features", p.features or [])):
        for name in names:
            if name not in columns:
                raise c.fail("[train]", f"{key} {name!r} is not a column of {rel}"
                                        f"{catalogue.close_matches(name, columns)}; columns: "
                                        f"{', '.join(columns)}")
