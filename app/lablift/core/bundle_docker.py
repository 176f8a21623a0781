"""The parts of a bundle for running it where ops deploy: Dockerfile, .dockerignore, README.md.

Written by bundles.export after every other file and before SHA256SUMS, so that they are
listed there like every file, and the .dockerignore lets exactly the shipped files into the
image (a .venv/, batches or prediction logs in the folder stay out; serve.py in the image then
finds every file SHA256SUMS lists).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from ..bundle_runtime import kserve_v2
from ..bundle_runtime import serve as runtime

DOCKER_FILES = ("Dockerfile", ".dockerignore", "README.md")
PORT = 8080
USER = "scorer"
UID = 10001
# python -I: the same isolated start as every documented command; urllib, as slim has no curl.
HEALTH_CMD = ["python", "-I", "-c", "import urllib.request; urllib.request.urlopen("
              f"'http://127.0.0.1:{PORT}/ping', timeout=4)"]
SERVE_CMD = ["python", "-I", "serve.py", "serve", "--host", "0.0.0.0", "--port", str(PORT)]


def python_minor(manifest: dict[str, Any]) -> str:
    """The Python the model was trained and pickled with (its packages are pinned for it)."""
    recorded = str((manifest.get("environment") or {}).get("python") or "")
    m = re.match(r"(\d+)\.(\d+)", recorded)
    return f"{m.group(1)}.{m.group(2)}" if m else "{}.{}".format(*sys.version_info[:2])


def image_tag(manifest: dict[str, Any]) -> str:
    model = manifest.get("model") or {}
    name = re.sub(r"[^a-z0-9._-]+", "-", str(model.get("name") or "model").lower()).strip("-.")
    return f"lablift-{name or 'model'}:{model.get('version') or 'latest'}"


def dockerfile(manifest: dict[str, Any], requirements: str = "requirements.txt") -> str:
    ref = (manifest.get("model") or {}).get("ref") or image_tag(manifest)
    tag = image_tag(manifest)
    return "\n".join([
        f"# Lablift bundle {ref}: docker build -t {tag} . && docker run -p {PORT}:{PORT} {tag}",
        f"FROM python:{python_minor(manifest)}-slim",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        f"RUN useradd --system --uid {UID} --no-create-home --shell /usr/sbin/nologin {USER} \\",
        f"    && mkdir -p /logs && chown {USER} /logs",
        "WORKDIR /bundle",
        "COPY requirements*.txt ./",
        f"RUN pip install --no-cache-dir -r {requirements}",
        "# The bundle's files stay root's: the scorer can read them, not change them.",
        "COPY . ./",
        f"USER {USER}",
        f"EXPOSE {PORT}",
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\",
        f"    CMD {json.dumps(HEALTH_CMD)}",
        f"CMD {json.dumps(SERVE_CMD)}",
    ]) + "\n"


def dockerignore(shipped: list[str]) -> str:
    lines = ["# Only the files the bundle ships go into the image (written at export).", "*"]
    lines += [f"!{name}" for name in sorted(set(shipped) | {runtime.SUMS_FILE})]
    return "\n".join(lines) + "\n"


def readme(manifest: dict[str, Any], example: dict[str, Any] | None,
           schema: dict[str, Any] | None) -> str:
    model = manifest.get("model") or {}
    name, ref, tag = model.get("name") or "model", model.get("ref") or "", image_tag(manifest)
    row = {}
    if example and example.get("data"):
        row = dict(zip(example["columns"], example["data"][0]))
    types = {c["name"]: kserve_v2.v2_datatype(c) for c in (schema or {}).get("inputs", [])}
    records = _sh(json.dumps({"dataframe_records": [row]}, ensure_ascii=False))
    v2 = _sh(json.dumps({"inputs": [{"name": k, "shape": [1], "datatype": types.get(k, "BYTES"),
                                     "data": [v]} for k, v in row.items()]}, ensure_ascii=False))
    return f"""# Lablift bundle {ref}

A model exported by Lablift with everything needed to score it, and nothing else: no Lablift.
A bundle is code: `model.pkl` is a pickle and `serve.py` a script, so run only bundles that
come from a store you trust. `serve.py` checks every file listed in `SHA256SUMS` before it
unpickles anything (`python -I serve.py verify` runs the check alone).

## In a virtual environment

```
python -m venv .venv && .venv/bin/pip install -r requirements.txt
.venv/bin/python -I serve.py predict batch.csv -o scored.csv
.venv/bin/python -I serve.py serve --port {PORT} --log predictions.jsonl
```

## With Docker

```
docker build -t {tag} .
docker run --rm -p {PORT}:{PORT} {tag}
docker run --rm -p {PORT}:{PORT} -v lablift-logs:/logs {tag} \\
    {" ".join(SERVE_CMD)} --log /logs/predictions.jsonl
```

The image runs `{" ".join(SERVE_CMD)}` as the non-root user `{USER}`
(uid {UID}), with a `HEALTHCHECK` on `/ping`; only the files listed in `.dockerignore` (the
bundle's own) go into it. `docker kill --signal=HUP CONTAINER` reloads the bundle without
dropping requests.

## Calling it

MLflow's scoring protocol:

```
curl -s localhost:{PORT}/invocations -H 'Content-Type: application/json' -d '{records}'
```

The Open Inference Protocol (KServe V2), for KServe, Seldon or any V2 client: one tensor per
input column (`GET /v2/models/{name}` lists them with their datatypes):

```
curl -s localhost:{PORT}/v2/models/{name}/infer -H 'Content-Type: application/json' -d '{v2}'
```

`serve.py --help` and the top of `serve.py` describe the rest: `--log`, `--shadow
OTHER_BUNDLE` (score every request with a challenger too and log both), and reloading a new
bundle with `SIGHUP` or `POST /admin/reload` from loopback.
"""


def _sh(text: str) -> str:
    """Text to put between single quotes in a shell command."""
    return text.replace("'", "'\\''")


def write(folder: Path, manifest: dict[str, Any]) -> None:
    """Write the three files into a bundle folder that holds every other shipped file."""
    def load(name: str):
        try:
            return json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    onnx = (folder / "requirements-onnx.txt").is_file()  # it includes requirements.txt
    texts = {"Dockerfile": dockerfile(manifest, "requirements-onnx.txt" if onnx
                                      else "requirements.txt"),
             "README.md": readme(manifest, load("input_example.json"), load("schema.json"))}
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8", newline="\n")
    shipped = runtime.bundle_files(folder) + [".dockerignore"]
    (folder / ".dockerignore").write_text(dockerignore(shipped), encoding="utf-8", newline="\n")
