"""Deployable bundles: export an approved model version as a folder that runs without Lablift
and that MLflow can load; verify a bundle's integrity and lineage.

Layout (DESIGN "The bundle contract"): MLmodel, model.pkl, requirements.txt, python_env.yaml,
input_example.json, schema.json, lablift.json, MODEL_CARD.md, serve.py and the runtime
modules it runs after its integrity check (serve.RUNTIME_FILES), SHA256SUMS; and
model.onnx, onnx_scorer.py, requirements-onnx.txt when the ONNX check passed (onnx_export.py);
Dockerfile, .dockerignore and README.md for running it (bundle_docker.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import audit, bundle_docker
from .errors import LabliftError, NotFound
from .store import Store, encode, utcnow
from .store.sql import inserted_id, repository
from ..bundle_runtime import serve as runtime
from ..bundle_runtime.inputs import column_type

bundle_sql = repository("bundles")  # statements: core/store/bundles.py

BUNDLE_FORMAT = "lablift-bundle/1"
RUNTIME_DIR = Path(runtime.__file__).resolve().parent
# What model.pkl and serve.py need at run time (pyarrow is only used for Lablift's storage).
RUNTIME_PACKAGES = ("scikit-learn", "numpy", "pandas", "scipy", "joblib")
EXAMPLE_ROWS = 5
MLFLOW_TYPES = {"number": "double", "integer": "long", "bool": "boolean",
                "datetime": "datetime", "string": "string"}

Progress = Callable[[float, str], None]


# -- export --------------------------------------------------------------------------------------
def export(store: Store, ref: str, out_dir: str | os.PathLike,
           progress: Progress | None = None) -> dict[str, Any]:
    """Write an approved version's bundle to `out_dir` (which must not exist); record it."""
    from . import inputs, registry, training

    def step(fraction: float, message: str) -> None:
        if progress:
            progress(fraction, message)

    # DESIGN's role table: ops export (admin may do anything); a reviewer signs off only.
    store.require_role("exporting a bundle", "ops")
    v = registry.resolve_version(store, ref)
    _require_exportable(store, v)
    out = Path(out_dir).expanduser().absolute()
    if out.exists() or out.is_symlink():
        raise LabliftError(f"output folder {out} already exists: a bundle is never written over "
                           f"an existing path; choose a new --out")
    if not out.parent.is_dir():
        raise LabliftError(f"cannot export to {out}: its parent folder {out.parent} does not "
                           f"exist")

    step(0.05, "collecting lineage")
    run = training.get_run(store, v["run_id"])
    pipeline_sha = (run.get("artifacts") or {}).get("pipeline")
    if not pipeline_sha:
        raise LabliftError(f"run {run['id']} of {v['ref']} has no fitted pipeline artifact")
    model_bytes = store.artifacts.read_bytes(pipeline_sha)  # verified against its sha256
    schema = inputs.input_schema(store, run)
    detail = registry.version_detail(store, v["id"], card=False)
    X_train, _ = training.training_frame(store, run)
    try:
        from . import modelcard
        card = modelcard.render(detail)
    except ImportError:  # no model card module: a minimal card still names the lineage
        card = _minimal_card(detail)
    head = store.setting("audit_head") or {}
    now = utcnow()
    manifest = _manifest(store, v, run, detail, schema, pipeline_sha, head, now)
    step(0.15, "checking the ONNX fast path")
    onnx_bytes, manifest["onnx"] = _onnx_fast_path(store, run, model_bytes, schema)

    step(0.3, "writing files")
    # The temporary folder is claimed first (a kill from here on leaves it to the next open to
    # remove), the export is recorded with every file's hash before the folder gets its name,
    # and marked written after: no finished bundle exists that the store does not know.
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.partial"
    store.artifacts.claim_dir(tmp)
    try:
        tmp.mkdir(mode=0o755)
    except OSError as exc:
        raise LabliftError(f"cannot write a bundle in {out.parent}: {exc.strerror}") from None
    bundle_id = None
    try:
        _write_bundle(tmp, model_bytes, run, schema, manifest, card, X_train, onnx_bytes)
        bundle_docker.write(tmp, manifest)  # last: its .dockerignore lists every other file
        step(0.8, "hashing files")
        runtime.write_sums(tmp)
        _world_readable(tmp)
        manifest_sha = runtime.sha256_file(tmp / "lablift.json")
        shipped = {**runtime.read_sums(tmp),
                   runtime.SUMS_FILE: runtime.sha256_file(tmp / runtime.SUMS_FILE)}
        files = sorted(shipped)
        step(0.9, "recording the export")
        with store.transaction():
            _require_exportable(store, registry.get_version(store, v["id"]))
            row = {"version_id": v["id"], "path": str(out), "manifest_sha256": manifest_sha,
                   "created_by": store.user, "created_at": now, "status": "exporting",
                   "files": shipped, "tmp_path": str(tmp), "host": socket.gethostname(),
                   "pid": os.getpid()}
            bundle_id = inserted_id(bundle_sql.RECORD_EXPORT.execute(
                store.conn, store.engine, {k: encode(val) for k, val in row.items()}),
                store.engine)
            audit.append(store, "bundle.export", f"model_version:{v['ref']}", {
                "bundle_id": bundle_id, "path": str(out), "manifest_sha256": manifest_sha,
                "model_sha256": pipeline_sha, "run": run["id"], "files": len(shipped)})
        if out.exists() or out.is_symlink():  # appeared while we wrote
            raise LabliftError(f"output folder {out} already exists: a bundle is never written "
                               f"over an existing path; choose a new --out")
        os.rename(tmp, out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if bundle_id is not None:
            _mark(store, bundle_id, "abandoned", {"path": str(out), "error": str(exc)})
        if isinstance(exc, OSError):
            raise LabliftError(f"cannot write the bundle {out}: {exc.strerror or exc}") from None
        raise
    _mark(store, bundle_id, "exported", {"path": str(out)})
    step(1.0, "exported")
    return {"id": bundle_id, "path": str(out), "name": v["model"], "version": v["version"],
            "ref": v["ref"], "manifest_sha256": manifest_sha, "model_sha256": pipeline_sha,
            "files": files, "created_by": store.user, "created_at": now,
            "onnx": {k: manifest["onnx"].get(k) for k in ("verdict", "reason", "rows_checked",
                                                           "max_abs_proba_diff")}}


def _world_readable(folder: Path) -> None:
    """0644 files, 0755 folders, whatever the umask: a container's non-root user (and ops on
    a shared host) must read the bundle; nobody but its owner may change it."""
    os.chmod(folder, 0o755)
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


def _onnx_fast_path(store: Store, run: dict, model_bytes: bytes, schema: dict):
    """(model.onnx bytes or None, the equality check for the manifest): converted and checked
    on the run's holdout by core/onnx_export.py; a pipeline that does not convert exactly
    ships without it, and the check says why."""
    import pickle
    from . import onnx_export, training
    X_holdout, _ = training.holdout_frame(store, run)
    return onnx_export.build(pickle.loads(model_bytes), schema, X_holdout)


def _require_exportable(store: Store, v: dict[str, Any]) -> None:
    from . import registry
    if v["status"] != "approved":
        raise LabliftError(f"version {v['ref']} is {v['status']}: only an approved version can "
                           f"be exported (a reviewer approves it with `lablift model approve "
                           f"{v['ref']}`)")
    registry.require_verified(store, v, "exporting")


def _mark(store: Store, bundle_id: int, status: str, details: dict[str, Any]) -> None:
    with store.transaction():
        bundle_sql.SET_STATUS.execute(store.conn, store.engine,
                                      {"id": bundle_id, "status": status})
        audit.append(store, "bundle.written" if status == "exported" else f"bundle.{status}",
                     f"bundle:{bundle_id}", details)


def matches_manifest(folder: Path, manifest_sha: str | None) -> bool:
    """Is `folder` the complete bundle whose manifest hashes to `manifest_sha`?"""
    try:
        if runtime.sha256_file(folder / "lablift.json") != manifest_sha:
            return False
        sums = runtime.read_sums(folder)
        return all(runtime.sha256_file(folder / rel) == sha for rel, sha in sums.items())
    except (OSError, runtime.BundleError):
        return False


def _manifest(store, v, run, detail, schema, pipeline_sha, head, now) -> dict[str, Any]:
    from .. import __version__
    ds = detail.get("dataset") or {}
    return {
        "format": BUNDLE_FORMAT,
        "exported_at": now, "exported_by": store.user, "lablift_version": __version__,
        "model": {"name": v["model"], "version": v["version"], "ref": v["ref"], "id": v["id"],
                  "status": v["status"], "description": v.get("description") or "",
                  "tags": v.get("tags") or {}, "registered_by": v["created_by"],
                  "registered_at": v["created_at"], "aliases": detail.get("aliases") or [],
                  "sha256": pipeline_sha},
        "dataset": {k: ds.get(k) for k in ("id", "name", "version", "sha256", "rows", "columns")},
        "run": {"id": run["id"], "algorithm": run["algorithm"], "task": run["task"],
                "target": run["target"], "seed": run.get("seed"),
                "created_by": run["created_by"], "created_at": run["created_at"],
                "duration_s": run.get("duration_s"),
                "predictions_sha256": run.get("predictions_sha256"),
                "artifacts": run.get("artifacts") or {}},
        "spec": run["spec"], "params": run["params"], "metrics": run["metrics"],
        "environment": run.get("environment") or {},
        "checks": [{"kind": c["kind"], "name": c["name"], "passed": bool(c["passed"]),
                    "details": c.get("details")} for c in detail.get("checks") or []],
        "approvals": [{"decision": a["decision"], "user": a["user"], "at": a["at"],
                       "comment": a["comment"], "override": a.get("override_reason")}
                      for a in detail.get("approvals") or []],
        "audit_head": {"seq": head.get("seq"), "hash": head.get("hash"),
                       "note": "audit log head when the bundle was written (before the "
                               "export's own entry)"},
        "schema": "schema.json",
    }


def _write_bundle(folder: Path, model_bytes: bytes, run: dict, schema: dict,
                  manifest: dict, card: str, X_train, onnx_bytes: bytes | None = None) -> None:
    env = run.get("environment") or {}
    packages = env.get("packages") or {}
    (folder / "model.pkl").write_bytes(model_bytes)  # the run's plain-pickle artifact, as is
    reqs = [f"{name}=={packages[name]}" for name in RUNTIME_PACKAGES if packages.get(name)]
    missing = [n for n in RUNTIME_PACKAGES if not packages.get(n)]
    if missing:
        raise LabliftError(f"run {run['id']} did not record the version of "
                           f"{', '.join(missing)}; requirements.txt cannot be pinned")
    _write_text(folder / "requirements.txt", "\n".join(reqs) + "\n")
    python = env.get("python") or ""
    _write_text(folder / "python_env.yaml",
                f"python: {python}\nbuild_dependencies:\n- pip\n- setuptools\n- wheel\n"
                f"dependencies:\n- -r requirements.txt\n")
    example = _input_example(X_train, schema)
    _write_text(folder / "input_example.json", json.dumps(example, ensure_ascii=False))
    _write_text(folder / "schema.json", json.dumps(schema, indent=2, ensure_ascii=False,
                                                   default=_json_default) + "\n")
    _write_text(folder / "lablift.json", json.dumps(manifest, indent=2, ensure_ascii=False,
                                                    default=_json_default) + "\n")
    _write_text(folder / "MODEL_CARD.md", card if card.endswith("\n") else card + "\n")
    for name in runtime.RUNTIME_FILES:  # serve.py and the modules it runs once verified
        shutil.copyfile(RUNTIME_DIR / name, folder / name)
    if onnx_bytes is not None:  # the fast path serve.py loads after its integrity check
        from . import onnx_export
        (folder / onnx_export.ONNX_FILE).write_bytes(onnx_bytes)
        shutil.copyfile(RUNTIME_DIR / onnx_export.RUNTIME_FILE, folder / onnx_export.RUNTIME_FILE)
        ort = manifest["onnx"]["versions"]["onnxruntime"]
        _write_text(folder / "requirements-onnx.txt",
                    f"-r requirements.txt\nonnxruntime=={ort}\n")
    _write_text(folder / "MLmodel", mlmodel_yaml(schema, run, manifest["exported_at"],
                                                 packages.get("scikit-learn"), python))


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _input_example(X_train, schema: dict) -> dict[str, Any]:
    names = [c["name"] for c in schema["inputs"]]
    rows = X_train[names].head(EXAMPLE_ROWS)
    data = [[_plain(v) for v in row] for row in rows.itertuples(index=False, name=None)]
    return {"columns": names, "data": data}


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


# -- MLmodel ----------------------------------------------------------------------------------
def _yaml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def signature(schema: dict, classes: list | None, task: str) -> dict[str, str]:
    """MLflow signature: inputs as column specs, output as a 1-d tensor spec (like infer_signature)."""
    cols = []
    for c in schema["inputs"]:
        kind = column_type(c)
        if kind == "integer" and c.get("training_missing"):
            kind = "number"  # MLflow refuses NaN in a `long` column
        cols.append({"type": MLFLOW_TYPES[kind], "name": c["name"], "required": True})
    if task == "classification" and classes:
        if all(isinstance(k, bool) for k in classes):
            dtype = "bool"
        elif all(isinstance(k, int) for k in classes):
            dtype = "int64"
        elif all(isinstance(k, (int, float)) for k in classes):
            dtype = "float64"
        else:
            dtype = "str"
    else:
        dtype = "float64"
    outputs = [{"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": [-1]}}]
    return {"inputs": json.dumps(cols), "outputs": json.dumps(outputs)}


def mlmodel_yaml(schema: dict, run: dict, created: str, sklearn_version: str | None,
                 python: str) -> str:
    """The MLmodel file, written by hand (no YAML dependency; the structure is fixed)."""
    sig = signature(schema, schema.get("classes"), schema.get("task") or run.get("task"))
    when = datetime.fromisoformat(created).astimezone(timezone.utc).replace(tzinfo=None)
    lines = [
        "artifact_path: model",
        "flavors:",
        "  python_function:",
        "    env:",
        "      virtualenv: python_env.yaml",
        "    loader_module: mlflow.sklearn",
        "    model_path: model.pkl",
        "    predict_fn: predict",
        f"    python_version: {_yaml_str(python)}",
        "  sklearn:",
        "    code: null",
        "    pickled_model: model.pkl",
        "    serialization_format: pickle",
        f"    sklearn_version: {_yaml_str(sklearn_version or '')}",
        f"model_uuid: {uuid.uuid4().hex}",
        "saved_input_example_info:",
        "  artifact_path: input_example.json",
        "  pandas_orient: split",
        "  type: dataframe",
        "signature:",
        f"  inputs: {_yaml_str(sig['inputs'])}",
        f"  outputs: {_yaml_str(sig['outputs'])}",
        "  params: null",
        f"utc_time_created: {_yaml_str(when.isoformat(sep=' ', timespec='microseconds'))}",
    ]
    return "\n".join(lines) + "\n"


def _minimal_card(detail: dict[str, Any]) -> str:
    ds = detail.get("dataset") or {}
    run = detail.get("run") or {}
    lines = [f"# Model card: {detail['ref']}", "",
             f"- Trained on dataset {ds.get('name')}:{ds.get('version')} "
             f"(sha256 {ds.get('sha256')})",
             f"- Run {run.get('id')}, algorithm {run.get('algorithm')}",
             f"- Approved by {detail.get('approver')} at {detail.get('approved_at')}: "
             f"{detail.get('comment') or ''}"]
    return "\n".join(lines) + "\n"


# -- verify ---------------------------------------------------------------------------------
def verify(path: str | os.PathLike, store: Store | None = None) -> dict[str, Any]:
    """Integrity (SHA256SUMS), manifest, and lineage against `store` when it knows the version.

    Returns {"ok", "path", "files", "problems": [{"file", "problem", "message"}], "unlisted",
    "model", "lineage_checked", "recorded", "warnings"}; never raises for a bad bundle (ok is
    False). Integrity is serve.py's own check (DESIGN "Integrity"): changed or missing shipped
    files and unlisted importable files are problems; other files the bundle did not ship
    (a .venv/, scored.csv, ...) are only listed in "unlisted" and do not fail it.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise NotFound(f"bundle folder {folder} not found")
    problems: list[dict[str, Any]] = []
    warnings: list[str] = []
    unlisted: list[str] = []
    try:
        report = runtime.inspect_bundle(folder)
        problems += runtime.integrity_problems(report)
        listed, unlisted = report["listed"], report["unlisted_other"]
    except runtime.BundleError as exc:
        problems.append({"file": runtime.SUMS_FILE, "problem": "unreadable", "message": str(exc)})
        listed = 0
    result: dict[str, Any] = {"ok": False, "path": str(folder.absolute()), "files": listed,
                              "unlisted": unlisted, "model": None, "lineage_checked": False,
                              "recorded": False}
    manifest = None
    manifest_path = folder / "lablift.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not isinstance(manifest.get("model"), dict):
            raise ValueError("no 'model' section")
        result["model"] = manifest["model"].get("ref")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        problems.append({"file": "lablift.json", "problem": "manifest",
                         "message": f"lablift.json cannot be read as a Lablift manifest: {exc}"})
        manifest = None
    for name in ("schema.json",):
        try:
            json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            problems.append({"file": name, "problem": "unreadable",
                             "message": f"{name} cannot be read: {exc}"})
    if manifest is not None and store is not None:
        problems += _check_lineage(store, folder, manifest, result, warnings)
    result["problems"] = problems
    result["warnings"] = warnings
    result["ok"] = not problems
    return result


def _check_lineage(store: Store, folder: Path, manifest: dict, result: dict,
                   warnings: list[str]) -> list[dict[str, Any]]:
    from . import registry
    m = manifest["model"]
    try:
        v = registry.resolve_version(store, f"{m.get('name')}:{m.get('version')}")
    except NotFound:
        warnings.append(f"the store does not know {m.get('ref')}: lineage not checked")
        return []
    result["lineage_checked"] = True
    detail = registry.version_detail(store, v["id"], card=False)
    run = registry.get_run(store, v["run_id"])
    artifacts = json.loads(run["artifacts"]) if isinstance(run["artifacts"], str) \
        else run["artifacts"]
    ds = detail.get("dataset") or {}
    mismatches = []

    def compare(what: str, bundle_value: Any, store_value: Any) -> None:
        if bundle_value != store_value:
            mismatches.append(f"{what}: bundle says {bundle_value!r}, store says {store_value!r}")

    compare("run", (manifest.get("run") or {}).get("id"), v["run_id"])
    compare("dataset sha256", (manifest.get("dataset") or {}).get("sha256"), ds.get("sha256"))
    compare("model sha256", m.get("sha256"), (artifacts or {}).get("pipeline"))
    store_approvers = {(a["user"], a["at"]) for a in detail.get("approvals") or []
                       if a["decision"] == "approved"}
    for a in manifest.get("approvals") or []:
        if a.get("decision") == "approved" and (a.get("user"), a.get("at")) not in store_approvers:
            mismatches.append(f"approval by {a.get('user')} at {a.get('at')} is not in the store")
    if not any(a.get("decision") == "approved" for a in manifest.get("approvals") or []):
        mismatches.append("the manifest records no approval")
    pkl = folder / "model.pkl"
    if pkl.is_file() and runtime.sha256_file(pkl) != m.get("sha256"):
        mismatches.append("model.pkl does not hash to the manifest's model sha256")
    if v["status"] != "approved":
        warnings.append(f"{v['ref']} is now {v['status']} in the store")
    manifest_sha = runtime.sha256_file(folder / "lablift.json")
    row = store.row(bundle_sql.RECORDED_EXPORT, version_id=v["id"],
                    manifest_sha256=manifest_sha)
    result["recorded"] = row is not None
    if not result["recorded"]:
        # the store knows the version but exported no bundle with this manifest: a changed
        # lablift.json (with a regenerated SHA256SUMS) or a bundle from elsewhere
        mismatches.append(f"its manifest is not among the exports this store recorded for "
                          f"{v['ref']}")
    problems = [{"file": "lablift.json", "problem": "lineage",
                 "message": f"lablift.json does not match the store's lineage of {v['ref']}: "
                            f"{m_}"} for m_ in mismatches]
    if row is not None and isinstance(row.get("files"), dict):
        problems += _against_export(folder, row["files"])
    elif row is not None:
        warnings.append("this export predates per-file hashes in the store: files were checked "
                        "against SHA256SUMS only")
    return problems


def _against_export(folder: Path, shipped: dict[str, str]) -> list[dict[str, Any]]:
    """Every file as the store recorded it at export: a changed file with a regenerated
    SHA256SUMS passes the folder's own check, not this one."""
    problems = []
    try:
        listed = runtime.read_sums(folder)
    except runtime.BundleError:
        listed = {}
    for rel in sorted(set(listed) - set(shipped)):
        problems.append({"file": rel, "problem": "not shipped",
                         "message": f"{rel} is listed in SHA256SUMS but was not in the bundle "
                                    f"the store recorded at export"})
    for rel, sha in sorted(shipped.items()):
        path = folder / rel
        if not path.is_file():
            problems.append({"file": rel, "problem": "missing",
                             "message": f"{rel} was shipped at export and is missing"})
        elif runtime.sha256_file(path) != sha:
            problems.append({"file": rel, "problem": "changed since export",
                             "message": f"{rel} differs from the file the store recorded at "
                                        f"export"})
    return problems


def list_bundles(store: Store, ref: str | None = None) -> list[dict[str, Any]]:
    from . import registry
    if ref:
        v = registry.resolve_version(store, ref)
        return store.rows(bundle_sql.LIST_OF_VERSION, version_id=v["id"])
    return store.rows(bundle_sql.LIST)


def manifest_sha256(folder: str | os.PathLike) -> str:
    return hashlib.sha256((Path(folder) / "lablift.json").read_bytes()).hexdigest()
