#!/usr/bin/env python3
"""Standalone scorer for a Lablift bundle (copied into every exported bundle).

    python -I serve.py predict IN.csv -o OUT.csv [--raw-csv]    score a CSV file
    python -I serve.py serve --port 8080 [--host 127.0.0.1] [--log predictions.jsonl]
                             [--timeout 15] [--workers 32] [--shadow OTHER_BUNDLE]
    python -I serve.py verify                                   check the bundle and exit

A bundle is code: model.pkl is a pickle and serve.py a script, so run only bundles that come
from a store you trust. Every documented command starts serve.py with `python -I` (isolated
mode: neither this folder, PYTHONPATH nor the user site is on sys.path); started without -I,
serve.py takes its own folder off sys.path before it imports anything but sys and os, and
writes no bytecode.

Needs only the standard library and the packages pinned in requirements.txt; it never
imports Lablift. Before anything is unpickled, every file listed in SHA256SUMS is checked: a
changed or missing file stops the scorer (exit 1, files named). Files the bundle did not ship
(a .venv/, scored.csv, predictions.jsonl, ...) do not block scoring, unless they are Python
that could run (`.py`, `.pyc`, `.pth`, `.so`, `.pyd`, `__pycache__/`, a package folder), found
anywhere outside a virtual environment: that is tampering. Outputs and logs may be written
in the folder as long as they neither overwrite a shipped file nor take an importable name.

CSV output (predict) neutralises text cells that start with = + - @ tab or CR by prefixing
a single quote (OWASP's rule against formula injection in spreadsheets); numbers stay numbers.
`--raw-csv` writes the values as they are, for machine consumers.

HTTP follows MLflow's scoring protocol: GET /ping, /health, /version; POST /invocations with
JSON (`dataframe_split`, `dataframe_records`, `instances` or `inputs`) or `text/csv`; the
answer is {"predictions": [...]}. Every refusal is a JSON body {"error_code", "message"}
(input that breaks schema.json: 400 naming the column; also malformed requests, unsupported
methods, oversized headers, bad chunked encoding, too deep JSON, timeouts). Columns the model
does not use are ignored and named in a warning: the response header `X-Lablift-Warning` and
a "warnings" list in the JSON body (both present only when there is a warning). A fixed pool
of --workers threads serves connections (others wait in the listen backlog) and a request
must keep arriving: no read may wait longer than --timeout seconds, and headers must be
complete within --timeout.

The Open Inference Protocol (KServe V2) is served beside it, so KServe, Seldon or any V2
client can call the bundle: GET /v2 (server metadata), /v2/health/live, /v2/health/ready,
/v2/models/NAME[/versions/V] (metadata: one input per schema.json column with its datatype,
outputs `predict` and, for classifiers, `predict_proba` [N, classes] in /version's class
order), /v2/models/NAME[/versions/V]/ready; POST /v2/models/NAME[/versions/V]/infer with
{"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "data"}], "outputs"?}: one
tensor per column, shape [N] or [N, 1], or one [N, k] tensor of all k columns in schema
order. Datatypes must fit schema.json: numbers FP16/FP32/FP64 or INT*/UINT* (in range), bool
BOOL, text and dates BYTES; null is a missing value. The answer is {"model_name",
"model_version", "id" (the request's, else X-Request-Id or a new one), "outputs"}; refusals
on /v2 paths are the protocol's {"error": "..."} naming the tensor and column. NAME is the
manifest's model name, V its version.

Reload without dropping requests: SIGHUP reloads the folder being served; POST /admin/reload
(accepted from loopback only) reloads it too, or the bundle of {"bundle": PATH}, which must
belong to this process's user or root and be writable by no one else; {"shadow": PATH}
(same rule) also replaces the --shadow bundle, {"shadow": null} stops shadowing. The new
bundle passes its integrity check, is unpickled and scores its input_example.json before one
reference swap; requests in flight finish on the old one; a failed reload keeps serving the
old one and says why (stderr, and 422 {"error_code": "RELOAD_REFUSED", "message"}). The
running serve.py's own code stays: a new serve.py takes a restart.

`--log FILE` appends one JSON line per scored row (timestamp, request_id, row, model, inputs,
prediction, latency_ms, probabilities) and one per refused request (timestamp, request_id,
model, error {status, message}, latency_ms).

`--shadow OTHER_BUNDLE` (integrity-checked like this one) scores every scored request again,
in a background pool after the answer is sent: answers come from this bundle only. Each --log
line of a scored row then also has
    "shadow": {"model": "<name:version>", "prediction": ..., "probabilities": {...} (when a
               classifier), "latency_ms": ..., "error": "..." (only when the shadow failed,
               with "prediction": null)}
where latency_ms is the shadow's own scoring time for the request (the line's latency_ms stays
the primary's). A shadow more than 1000 requests behind logs the request as not shadowed.

ONNX fast path: a bundle whose export proved model.onnx exact (lablift.json "onnx") ships it
with onnx_scorer.py, run here only after the integrity check. With onnxruntime installed
(`pip install -r requirements-onnx.txt`) it scores instead of model.pkl, with the same JSON,
and neither scikit-learn nor scipy is imported (model.pkl is unpickled only if the pickle
scores: no onnxruntime, LABLIFT_SCORER=pickle, or an ONNX error while scoring, said on
stderr). Which one is said at start and in /version ("scorer", "scorer_note");
LABLIFT_SCORER=pickle forces the pickle, LABLIFT_SCORER=onnx requires ONNX.

This file holds the entry point, the arguments and the integrity check; the rest of the
scorer is in the files of RUNTIME_FILES beside it (inputs, scoring, batch, kserve_v2, live,
http_base, http_server), listed in SHA256SUMS and run only once the check has passed, from
bytes that still match it.
"""

import os
import sys

if __name__ == "__main__":
    # Without -I, Python puts this folder first on sys.path: a json.py or hashlib.py left
    # beside serve.py would run before the integrity check could see it. Take the folder off
    # before any other import. No bytecode: a __pycache__/ here would itself be refused.
    _here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _here]
    sys.dont_write_bytecode = True

import argparse  # noqa: E402  (after the sys.path fix above, on purpose)
import hashlib  # noqa: E402
import importlib  # noqa: E402
from pathlib import Path  # noqa: E402

BUNDLE_DIR = Path(__file__).resolve().parent
SUMS_FILE = "SHA256SUMS"
# The rest of the scorer, shipped beside serve.py and listed in SHA256SUMS. In a bundle they
# are run only after the integrity check passed, from bytes whose sha256 matches the listing
# (RuntimeLoader); inside Lablift they are the ordinary package lablift.bundle_runtime.
RUNTIME_MODULES = ("inputs", "scoring", "batch", "kserve_v2", "live", "http_base",
                   "http_server")
RUNTIME_FILES = ("serve.py", *(f"{m}.py" for m in RUNTIME_MODULES))
BUNDLE_PACKAGE = "lablift_bundle"  # the runtime modules' package name inside a bundle
SKIP_DIRS = {"__pycache__"}  # never written into a bundle at export
# Files Python can import or that run at start-up (.pth); anything else is inert data.
IMPORTABLE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyw", ".pth", ".so", ".pyd")
SHOWN = 5  # files named in one message; the rest are counted


class BundleError(Exception):
    """The bundle cannot be trusted or read (integrity, missing file)."""


class InputError(Exception):
    """Input that does not fit schema.json; the message names the column."""

    def __init__(self, message: str, column: str | None = None):
        super().__init__(message)
        self.column = column


# --------------------------------------------------------------------------- integrity
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundle_files(folder: Path) -> list[str]:
    """Every file under `folder` except SHA256SUMS, as sorted relative POSIX paths."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in files:
            rel = (Path(root) / name).relative_to(folder).as_posix()
            if rel != SUMS_FILE:
                out.append(rel)
    return sorted(out)


def write_sums(folder: Path) -> str:
    """Write SHA256SUMS (`sha256sum -c` format) over every other file; returns its text."""
    lines = [f"{sha256_file(folder / rel)}  {rel}\n" for rel in bundle_files(folder)]
    text = "".join(lines)
    (folder / SUMS_FILE).write_text(text, encoding="utf-8")
    return text


def read_sums(folder: Path) -> dict[str, str]:
    path = folder / SUMS_FILE
    if not path.is_file():
        raise BundleError(f"{SUMS_FILE} is missing from {folder}: the bundle cannot be verified")
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition(" ")
        name = name[1:] if name[:1] in (" ", "*") else name
        if (not sep or len(digest) != 64 or not name
                or any(c not in "0123456789abcdef" for c in digest.lower())):
            raise BundleError(f"{SUMS_FILE} line {number} is not '<sha256>  <file>': {line!r}")
        if name.startswith("/") or ".." in Path(name).parts:
            raise BundleError(f"{SUMS_FILE} line {number} names a file outside the bundle: {name}")
        sums[name] = digest.lower()
    return sums


def is_importable_name(rel: str) -> bool:
    """Could a file at this relative path change what Python runs?"""
    parts = rel.replace("\\", "/").split("/")
    return "__pycache__" in parts or parts[-1].lower().endswith(IMPORTABLE_SUFFIXES)


def _is_environment(path: Path) -> bool:
    # A virtual environment (or conda env) in the folder is not on serve.py's import path.
    return (not (path / "__init__.py").exists()
            and ((path / "pyvenv.cfg").is_file() or (path / "conda-meta").is_dir()))


def inspect_bundle(folder) -> dict:
    """What the folder holds compared with SHA256SUMS, as sorted relative paths:
    {"listed": n, "changed", "missing", "unlisted_importable", "unlisted_other"}.
    Folders are reported once, with a trailing '/': a virtual environment or other folder
    entered through a symlink (unlisted_other unless it holds Python), a __pycache__/ or a
    package (unlisted_importable). Raises BundleError when SHA256SUMS is missing or malformed.
    """
    folder = Path(folder)
    sums = read_sums(folder)
    changed, missing = [], []
    for name, digest in sorted(sums.items()):
        path = folder / name
        if not path.is_file():
            missing.append(name)
        elif sha256_file(path) != digest:
            changed.append(name)
    importable, other = [], []
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        rel_root = base.relative_to(folder).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        keep = []
        for d in sorted(dirs):
            path, rel = base / d, prefix + d + "/"
            if d == "__pycache__" or (path / "__init__.py").exists():
                importable.append(rel)
            elif _is_environment(path):
                other.append(rel)
            elif path.is_symlink():  # not followed: judged by what it holds at its top
                try:
                    code = any(is_importable_name(n) for n in os.listdir(path))
                except OSError:
                    code = False
                (importable if code else other).append(rel)
            else:
                keep.append(d)
        dirs[:] = keep
        for name in files:
            rel = prefix + name
            if rel == SUMS_FILE or rel in sums:
                continue
            (importable if is_importable_name(rel) else other).append(rel)
    return {"listed": len(sums), "changed": changed, "missing": missing,
            "unlisted_importable": sorted(importable), "unlisted_other": sorted(other)}


def integrity_problems(report: dict) -> list[dict]:
    """The problems in an inspect_bundle() report that block scoring:
    [{"file", "problem": changed|missing|importable, "message"}]."""
    problems = [{"file": n, "problem": "changed",
                 "message": f"{n} was changed: its sha256 does not match {SUMS_FILE}"}
                for n in report["changed"]]
    problems += [{"file": n, "problem": "missing",
                  "message": f"{n} is listed in {SUMS_FILE} but missing"}
                 for n in report["missing"]]
    problems += [{"file": n, "problem": "importable",
                  "message": f"{n} is not part of the bundle and is Python that could run "
                             f"with it: remove it"}
                 for n in report["unlisted_importable"]]
    return problems


def check_sums(folder: Path) -> list[dict]:
    """Problems that block scoring (see integrity_problems); [] when the bundle is intact.
    Files the bundle did not ship that cannot run are not problems: inspect_bundle lists them."""
    return integrity_problems(inspect_bundle(folder))


def name_some(names: list[str], limit: int = SHOWN) -> str:
    """'a, b, c and 6,795 more': never thousands of names in one message."""
    shown = ", ".join(names[:limit])
    more = len(names) - limit
    return shown + (f" and {more:,} more" if more > 0 else "")


def summarize_problems(problems: list[dict], limit: int = SHOWN) -> str:
    text = "; ".join(p["message"] for p in problems[:limit])
    more = len(problems) - limit
    return text + (f"; and {more:,} more problem{'s' if more > 1 else ''}" if more > 0 else "")


_VERIFIED: set[Path] = set()  # folders whose check passed in this process


def verify_bundle(folder: Path) -> None:
    try:
        problems = check_sums(folder)
    except BundleError as exc:
        raise BundleError(f"bundle integrity check failed, refusing to load it: {exc}") from None
    if problems:
        raise BundleError("bundle integrity check failed, refusing to load it: "
                          + summarize_problems(problems))
    _VERIFIED.add(Path(folder).resolve())


def verified_source(folder: Path, name: str) -> bytes:
    """The bytes of a bundle file to run: only once the folder passed its check, and only if
    what is read now still hashes to SHA256SUMS (a file swapped since the check is refused)."""
    folder = Path(folder).resolve()
    if folder not in _VERIFIED:
        raise BundleError(f"{name} not run: the bundle {folder} was not verified")
    digest = read_sums(folder).get(name)
    if digest is None:
        raise BundleError(f"{name} is not covered by {SUMS_FILE}: refusing to run it")
    data = (folder / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise BundleError(f"{name} changed after the integrity check: refusing to run it")
    return data


class RuntimeLoader:
    """Imports lablift_bundle.<module> from the bundle's own verified files (meta path
    finder and loader in one); the bundle folder itself never goes on sys.path."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        prefix, _, stem = name.partition(".")
        if prefix != BUNDLE_PACKAGE or stem not in RUNTIME_MODULES:
            return None
        from importlib.machinery import ModuleSpec
        return ModuleSpec(name, cls, origin=str(BUNDLE_DIR / f"{stem}.py"))

    @staticmethod
    def create_module(spec):
        return None

    @staticmethod
    def exec_module(module):
        rel = module.__name__.partition(".")[2] + ".py"
        module.__file__ = str(BUNDLE_DIR / rel)
        code = compile(verified_source(BUNDLE_DIR, rel), module.__file__, "exec")
        exec(code, module.__dict__)


def runtime_module(name: str):
    """One of RUNTIME_MODULES: Lablift's own when serve.py is imported from the package, else
    the bundle's, loaded after its integrity check."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    if BUNDLE_PACKAGE not in sys.modules:
        this = sys.modules.get(__name__)
        if this is None or this.__dict__ is not globals():
            raise BundleError("serve.py must run as a script or a registered module")
        package = type(sys)(BUNDLE_PACKAGE)
        package.__path__ = []  # a namespace only RuntimeLoader fills
        sys.modules[BUNDLE_PACKAGE] = package
        sys.modules[f"{BUNDLE_PACKAGE}.serve"] = this
        sys.meta_path.insert(0, RuntimeLoader)
    return importlib.import_module(f"{BUNDLE_PACKAGE}.{name}")


# --------------------------------------------------------------------------- commands
def _output_path(path: str, what: str) -> Path:
    """Where an output or log may go: anywhere, the bundle folder included, except over a file
    the bundle ships or under a name Python could import (that would block the next run)."""
    p = Path(path).resolve()  # symlinks followed: a link to model.pkl is model.pkl
    if p != BUNDLE_DIR and BUNDLE_DIR not in p.parents:
        return p
    rel = p.relative_to(BUNDLE_DIR).as_posix()
    try:
        shipped = set(read_sums(BUNDLE_DIR)) | {SUMS_FILE}
    except BundleError:
        shipped = {SUMS_FILE}
    if rel == "." or rel in shipped or any(rel.startswith(s + "/") for s in shipped):
        raise BundleError(f"{what} {path} would overwrite {rel}, a file of the bundle; "
                          f"choose another name")
    if is_importable_name(rel):
        raise BundleError(f"{what} {path} has a name Python could import ({rel}): inside the "
                          f"bundle folder that counts as tampering; choose another name")
    return p


def cmd_predict(args) -> int:
    out_path = _output_path(args.output, "output") if args.output not in (None, "-") else None
    verify_bundle(BUNDLE_DIR)  # before any other file of the bundle is read
    return runtime_module("batch").predict(args, out_path)


def cmd_serve(args) -> int:
    log_path = _output_path(args.log, "log file") if args.log else None
    verify_bundle(BUNDLE_DIR)
    return runtime_module("http_server").serve(args, log_path)


def cmd_verify(args) -> int:
    report = inspect_bundle(BUNDLE_DIR)
    problems = integrity_problems(report)
    if problems:
        print(f"error: bundle integrity check failed: {summarize_problems(problems)}",
              file=sys.stderr)
        return 1
    print(f"ok: {report['listed']} files match {SUMS_FILE}")
    if report["unlisted_other"]:
        print(f"note: not part of the bundle and not checked (they cannot change what runs): "
              f"{name_some(report['unlisted_other'])}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="serve.py", description="Score with this Lablift bundle "
                                     "(no Lablift needed: only the packages in requirements.txt)."
                                     " A bundle is code: run only bundles from a store you trust.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("predict", help="score a CSV file")
    p.add_argument("input", help="CSV file with the model's input columns ('-' for stdin)")
    p.add_argument("-o", "--output", help="output CSV (default: stdout): prediction and, for "
                   "classifiers, proba_<class> columns")
    p.add_argument("--include-inputs", action="store_true",
                   help="also copy the input columns into the output")
    p.add_argument("--raw-csv", action="store_true",
                   help="write text cells as they are, for machine consumers (by default a "
                   "cell starting with = + - @ tab or CR gets a leading ' so that spreadsheets "
                   "do not run it as a formula)")
    p.set_defaults(func=cmd_predict)
    s = sub.add_parser("serve", help="serve HTTP scoring (MLflow's protocol and the Open "
                       "Inference Protocol, V2); SIGHUP or POST /admin/reload from loopback "
                       "reloads the bundle")
    s.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--log", metavar="FILE.jsonl", help="append one JSON line per scored row "
                   "and one per refused request")
    s.add_argument("--timeout", type=float, default=15.0, metavar="SECONDS",
                   help="longest wait for a client's next bytes; request headers must also "
                   "be complete within it (default 15)")
    s.add_argument("--workers", type=int, default=32, help="connections served at once; "
                   "others wait (default 32)")
    s.add_argument("--access-log", action="store_true", help="print one line per request")
    s.add_argument("--shadow", metavar="OTHER_BUNDLE", help="also score every request with "
                   "this bundle (after the answer, in the background; its integrity is checked "
                   "too); answers come from this bundle, --log lines get a \"shadow\" object")
    s.set_defaults(func=cmd_serve)
    v = sub.add_parser("verify", help="check the bundle against SHA256SUMS")
    v.set_defaults(func=cmd_verify)
    args = parser.parse_args(argv)
    if args.command == "serve" and not (args.timeout > 0 and args.workers > 0):
        parser.error("--timeout and --workers must be positive")
    try:
        return args.func(args)
    except (BundleError, InputError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"error: {exc}: install the packages of the bundle's requirements.txt",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    except Exception as exc:  # one line, never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    if sys.argv[1:2] == ["predict"]:
        # the output is written and renamed: skip tearing down numpy, pandas and onnxruntime
        # (about 0.1 s of a 100k-row batch)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:
            code = code or 1
        os._exit(code)
    sys.exit(code)
