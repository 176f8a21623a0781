"""The Open Inference Protocol (KServe V2) of a Lablift bundle's server: routes, model
metadata, typed input tensors to columns, outputs. Part of the bundle's runtime (see
serve.py): run only after the integrity check; never imports Lablift.
"""

import json

from .inputs import column_type
from .scoring import _jsonable
from .serve import InputError

# KServe V2 / Open Inference Protocol datatypes; each schema.json column type accepts these.
V2_INT_RANGES = {f"{p}INT{b}": ((0, 2 ** b - 1) if p else (-2 ** (b - 1), 2 ** (b - 1) - 1))
                 for p in ("", "U") for b in (8, 16, 32, 64)}
V2_FLOATS = ("FP16", "FP32", "FP64")
V2_TYPES = ("BOOL", *V2_INT_RANGES, *V2_FLOATS, "BYTES")
_NUMERIC_V2 = frozenset(V2_INT_RANGES) | frozenset(V2_FLOATS)
V2_ACCEPTS = {"number": _NUMERIC_V2, "integer": _NUMERIC_V2, "bool": frozenset({"BOOL"}),
              "string": frozenset({"BYTES"}), "datetime": frozenset({"BYTES"})}
V2_SERVER = {"name": "lablift-serve", "version": "1", "extensions": []}
PLATFORMS = {"pickle": "sklearn_pickle", "onnx": "onnx_onnxv1"}


def v2_datatype(spec: dict) -> str:
    """The datatype model metadata announces for a schema.json column (as MLflow's signature:
    an integer column that had gaps in training is FP64)."""
    kind = column_type(spec)
    if kind == "integer":
        return "FP64" if spec.get("training_missing") else "INT64"
    return {"number": "FP64", "bool": "BOOL"}.get(kind, "BYTES")


def v2_label_datatype(classes, task: str | None) -> str:
    if not classes:
        return "FP64"
    classes = [_jsonable(c) for c in classes]  # numpy scalars -> bool / int / float / str
    if all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in classes):
        return "FP64"
    return "BYTES"


def v2_route(path: str) -> tuple | None:
    """'/v2/...' -> ("server",) | ("health", live|ready) | (action, model, version), action
    metadata | ready | infer; None when the path is no V2 endpoint."""
    segs = path.strip("/").split("/")
    if segs == ["v2"]:
        return ("server",)
    if segs in (["v2", "health", "live"], ["v2", "health", "ready"]):
        return ("health", segs[2])
    if len(segs) < 3 or segs[:2] != ["v2", "models"] or not segs[2]:
        return None
    rest, version = segs[3:], None
    if rest[:1] == ["versions"]:
        if len(rest) < 2 or not rest[1]:
            return None
        version, rest = rest[1], rest[2:]
    if not rest:
        return ("metadata", segs[2], version)
    if len(rest) == 1 and rest[0] in ("ready", "infer"):
        return (rest[0], segs[2], version)
    return None


def v2_metadata(name: str, version: str, scorer) -> dict:
    outputs = [{"name": "predict", "datatype": v2_label_datatype(scorer.classes, scorer.task),
                "shape": [-1]}]
    if scorer.classes:
        outputs.append({"name": "predict_proba", "datatype": "FP64",
                        "shape": [-1, len(scorer.classes)]})
    return {"name": name, "versions": [version] if version else [],
            "platform": PLATFORMS.get(scorer.kind, scorer.kind),
            "inputs": [{"name": c["name"], "datatype": v2_datatype(c), "shape": [-1]}
                       for c in scorer.inputs],
            "outputs": outputs}


def _flatten(data) -> list:
    """Nested JSON arrays in row-major order -> one flat list (the protocol allows both)."""
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(v, list) for v in data):
        return data
    out, stack = [], [iter(data)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                stack.append(iter(v))
                break
            out.append(v)
        else:
            stack.pop()
    return out


def _v2_shape(name: str, t: dict) -> list[int]:
    shape = t.get("shape")
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise InputError(f"tensor '{name}': shape must be a list of non-negative integers, got "
                         f"{json.dumps(shape)[:80]}", name)
    return shape


def _v2_check_type(tensor: str, datatype, spec: dict) -> str:
    column, kind = spec["name"], column_type(spec)
    if datatype not in V2_TYPES:
        raise InputError(f"tensor '{tensor}': unknown datatype {json.dumps(datatype)[:40]} (the "
                         f"protocol's are {', '.join(V2_TYPES)})", column)
    if datatype not in V2_ACCEPTS[kind]:
        want = v2_datatype(spec) if kind != "integer" else "INT64"
        raise InputError(f"tensor '{tensor}': datatype {datatype} does not fit column "
                         f"'{column}' ({kind} in schema.json): send {want}", column)
    return datatype


def _v2_check_values(tensor: str, datatype: str, spec: dict, values: list, first: int = 0,
                     step: int = 1) -> None:
    """Every element fits its datatype (null is a missing value, as in MLflow's JSON)."""
    column = spec["name"]
    if datatype == "BOOL":
        ok, what = (lambda v: isinstance(v, bool)), "true or false"
    elif datatype == "BYTES":
        ok, what = (lambda v: isinstance(v, str)), "a string"
    elif datatype in V2_INT_RANGES:
        lo, hi = V2_INT_RANGES[datatype]
        what = f"an integer in [{lo}, {hi}]"

        def ok(v):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return False
            return (isinstance(v, int) or v.is_integer()) and lo <= v <= hi
    else:
        ok, what = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)), "a number"
    for i, v in enumerate(values):
        if v is not None and not ok(v):
            shown = json.dumps(v, default=str)[:60]
            raise InputError(f"tensor '{tensor}': element {first + i * step} ({shown}) is not "
                             f"{what} (datatype {datatype}, column '{column}')", column)


def v2_columns(doc, scorer) -> tuple[dict, int, list[str]]:
    """An inference request's input tensors -> ({column: values}, rows, warnings) for
    Scorer.frame_from_columns. One tensor per column ([N] or [N, 1]), or a single [N, k]
    tensor holding all k columns in schema order (KServe's sklearn examples). Datatypes are
    checked against schema.json; every refusal names the tensor and the column."""
    if not isinstance(doc, dict):
        raise InputError("the body must be an inference request object with 'inputs'")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InputError("'inputs' must be a non-empty list of tensors {name, shape, datatype, "
                         "data}")
    tensors: dict[str, dict] = {}
    for i, t in enumerate(inputs):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
            raise InputError(f"inputs[{i}] must be an object with a 'name'")
        name = t["name"]
        for key in ("shape", "datatype", "data"):
            if key not in t:
                raise InputError(f"tensor '{name}': '{key}' is missing", name)
        if name in tensors:
            raise InputError(f"tensor '{name}' appears more than once", name)
        tensors[name] = t
    specs = {c["name"]: c for c in scorer.inputs}
    if len(tensors) == 1 and not set(tensors) & set(specs):
        (name, t), = tensors.items()
        shape = _v2_shape(name, t)
        k = len(scorer.names)
        if len(shape) != 2 or shape[1] != k:
            raise InputError(f"tensor '{name}' is not an input of the model: send one tensor "
                             f"per column ({', '.join(scorer.names)}) or one [N, {k}] tensor "
                             f"with the columns in that order", name)
        for spec in scorer.inputs:
            _v2_check_type(name, t["datatype"], spec)
        flat = _flatten(t["data"])
        if len(flat) != shape[0] * k:
            raise InputError(f"tensor '{name}': shape {shape} holds {shape[0] * k} elements but "
                             f"data has {len(flat)}", name)
        columns = {}
        for j, spec in enumerate(scorer.inputs):
            columns[spec["name"]] = flat[j::k]
            _v2_check_values(name, t["datatype"], spec, columns[spec["name"]], j, k)
        return columns, shape[0], []
    columns, n, first, extra = {}, None, None, []
    for name, t in tensors.items():
        spec = specs.get(name)
        if spec is None:
            extra.append(name)
            continue
        shape = _v2_shape(name, t)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InputError(f"tensor '{name}': shape {shape} is not [N] or [N, 1] (one tensor "
                             f"per column)", name)
        datatype = _v2_check_type(name, t["datatype"], spec)
        flat = _flatten(t["data"])
        if len(flat) != shape[0]:
            raise InputError(f"tensor '{name}': shape {shape} holds {shape[0]} elements but data "
                             f"has {len(flat)}", name)
        _v2_check_values(name, datatype, spec, flat)
        if n is not None and shape[0] != n:
            raise InputError(f"tensor '{name}' has {shape[0]} rows but tensor '{first}' has {n}",
                             name)
        n, first = shape[0], first or name
        columns[name] = list(flat)
    warnings = (["ignored tensor(s) the model does not use: "
                 + ", ".join(f"'{c}'" for c in extra)] if extra else [])
    return columns, n or 0, warnings


def v2_requested(doc: dict, scorer) -> list[str]:
    available = ["predict"] + (["predict_proba"] if scorer.classes else [])
    wanted = doc.get("outputs")
    if wanted is None:
        return available
    if not isinstance(wanted, list) or not all(isinstance(o, dict) for o in wanted):
        raise InputError("'outputs' must be a list of objects {name}")
    names = []
    for o in wanted:
        if o.get("name") not in available:
            raise InputError(f"output {json.dumps(o.get('name'))[:60]} is not produced by this "
                             f"model (outputs: {', '.join(available)})")
        names.append(o["name"])
    return names


def v2_outputs(scorer, pred, proba, wanted: list[str]) -> list[dict]:
    out = []
    if "predict" in wanted:
        out.append({"name": "predict", "shape": [len(pred)],
                    "datatype": v2_label_datatype(scorer.classes, scorer.task),
                    "data": [_jsonable(p) for p in pred.tolist()]})
    if "predict_proba" in wanted and proba is not None:
        out.append({"name": "predict_proba", "shape": [int(proba.shape[0]), int(proba.shape[1])],
                    "datatype": "FP64", "data": proba.ravel().tolist()})
    return out

