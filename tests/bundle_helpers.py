"""Helpers for the bundle tests: run a bundle's serve.py the way ops would, without Lablift.

`python -I` ignores PYTHONPATH and the user site, but the test venv's editable install of
Lablift is still on sys.path, so the boot code also blocks any `lablift` import: serve.py
must work with nothing but the packages of requirements.txt. pyarrow is blocked too: it is in
the test venv but not in a bundle's requirements (pandas then uses its pure-Python strings).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path

BOOT = r"""
import importlib.abc, runpy, sys
class _NoLablift(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("lablift", "pyarrow"):
            raise ImportError(f"{name} is not installed here (bundle isolation)")
sys.meta_path.insert(0, _NoLablift())
for m in [m for m in sys.modules if m.split(".")[0] in ("lablift", "pyarrow")]:
    del sys.modules[m]
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def serve_cmd(*args: str) -> list[str]:
    return [sys.executable, "-I", "-c", BOOT, "serve.py", *args]


def run_serve(bundle: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(serve_cmd(*args), cwd=bundle, capture_output=True, text=True,
                          timeout=timeout)


def start_server(bundle: Path, *extra: str, timeout: float = 60):
    """Start `serve.py serve --port 0` in the bundle; returns (process, port)."""
    proc = subprocess.Popen(serve_cmd("serve", "--port", "0", *extra), cwd=bundle,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "http://" in line:
            port = int(line.rsplit(":", 1)[1].split()[0].strip("/"))
            return proc, port
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve.py did not start: {line}{proc.stderr.read()}")


def stop_server(proc) -> str:
    """Stop it; returns what it wrote on stderr that start_server did not read."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    err = proc.stderr.read() if proc.stderr else ""
    for f in (proc.stdout, proc.stderr):
        if f:
            f.close()
    return err


def request(conn: http.client.HTTPConnection, method: str, path: str, body=None,
            ctype: str = "application/json"):
    """-> (status, headers dict, decoded JSON or text). Keeps the connection alive."""
    headers = {}
    if body is not None:
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        headers["Content-Type"] = ctype
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    try:
        data = json.loads(raw)
    except ValueError:
        data = raw.decode("utf-8", "replace")
    return resp.status, dict(resp.getheaders()), data


def copy_runtime(folder: Path) -> list[str]:
    """Copy serve.py and the runtime modules it loads after its check, as export does."""
    import shutil

    from lablift.bundle_runtime import serve
    source = Path(serve.__file__).parent
    for name in serve.RUNTIME_FILES:
        shutil.copyfile(source / name, folder / name)
    return list(serve.RUNTIME_FILES)


def make_bundle(folder: Path, model, schema: dict, name: str = "toy",
                version=1) -> Path:
    """A hand-built bundle (model.pkl, schema.json, lablift.json, the runtime, SHA256SUMS)."""
    import pickle

    from lablift.bundle_runtime import serve
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    (folder / "schema.json").write_text(json.dumps(schema))
    (folder / "lablift.json").write_text(json.dumps({"model": {"name": name,
                                                                "version": version}}))
    copy_runtime(folder)
    serve.write_sums(folder)
    return folder


def raw_exchange(port: int, data: bytes, timeout: float = 10) -> tuple[int, dict, bytes, bool]:
    """Send raw bytes, read one response and then until the server closes.
    -> (status, headers with lower-case names and "_raw": the head as sent, body,
    closed_cleanly: EOF, not a reset)."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_raw_response(sock)


def read_raw_response(sock) -> tuple[int, dict, bytes, bool]:
    buf, closed = b"", False
    try:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1]) if lines and lines[0] else 0
        headers = {"_raw": head.decode("latin-1")}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        want = int(headers.get("content-length", 0))
        while len(body) < want and not closed:
            chunk = sock.recv(65536)
            closed = not chunk
            body += chunk
        if headers.get("connection") == "close" and not closed:
            closed = sock.recv(65536) == b""
    except ConnectionResetError:
        return 0, {}, b"", False
    return status, headers, body, closed


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def build_world(root: Path, algorithm: str = "logistic_regression", params=None) -> dict:
    """A store with an approved (loans:1) and a pending (loans:2) version, and loans:1 exported
    by an ops user to root/bundle. Registered by an analyst, approved by a reviewer."""
    from lablift.core import bundles, datasets, registry, training
    from lablift.core.store import Store
    from lablift.resources import SAMPLE_LOANS
    admin = Store(root / "store", user="admin")
    for name, role in (("ana", "analyst"), ("rita", "reviewer"), ("oscar", "ops")):
        admin.add_user(name, role)
    ana = Store(root / "store", user="ana")
    datasets.import_dataset(ana, SAMPLE_LOANS, name="loans")
    run = training.train(ana, {"dataset": "loans", "target": "approved",
                               "algorithm": algorithm, "params": params or {}, "cv": 2})
    registry.register(ana, run["id"], "loans")
    registry.approve(Store(root / "store", user="rita"), "loans:1", comment="fine by me")
    run2 = training.train(ana, {"dataset": "loans", "target": "approved",
                                "algorithm": "decision_tree", "cv": 2})
    registry.register(ana, run2["id"], "loans")
    oscar = Store(root / "store", user="oscar")
    out = root / "bundle"
    exported = bundles.export(oscar, "loans:1", out)
    frame = datasets.load_frame(admin, datasets.resolve(admin, "loans"))
    return {"root": root, "store": admin, "oscar": oscar, "ana": ana, "run": run,
            "bundle": out, "exported": exported, "frame": frame,
            "pipeline": training.load_pipeline(admin, run)}
