"""The bundle's Dockerfile, run step by step without Docker: its build context is what its
.dockerignore lets in, FROM python:X.Y-slim is a fresh `python -m venv` of this Python X.Y,
each RUN runs as written in that venv (pip install downloads the pinned packages through the
machine's package index: nothing is borrowed from the test environment), then its CMD serves
and its HEALTHCHECK, /ping and an inference are checked over real HTTP.

Three liberties, none in the Dockerfile's commands: the `useradd` RUN step is checked but
not run (it would add a user to this machine), the port 8080 becomes a free one, and pip
installs without compiling .pyc files (PIP_COMPILE=false in the environment): compiling
scikit-learn, SciPy and pandas was most of the install's time, and nothing here depends on
the .pyc files (the serve process compiles what it imports, in memory).
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from bundle_helpers import build_world

from lablift.bundle_runtime import kserve_v2, serve
from lablift.core import bundle_docker


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("docker"))


def instructions(text: str) -> list[tuple[str, str]]:
    """Dockerfile -> [(INSTRUCTION, arguments)], continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = " ".join((pending + line).split())
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest))
    assert not pending, "a Dockerfile line ends with a continuation"
    return out


def build_context(bundle: Path, dest: Path) -> Path:
    """What `docker build` sends: the folder less what .dockerignore excludes (the last
    matching pattern decides; a leading ! lets a path back in)."""
    rules = [line for line in (bundle / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    dest.mkdir()
    for path in sorted(bundle.rglob("*")):
        rel = path.relative_to(bundle).as_posix()
        top = rel.split("/", 1)[0]
        keep = True
        for rule in rules:
            neg = rule.startswith("!")
            if fnmatch.fnmatchcase(top, rule.lstrip("!")):
                keep = neg
        if keep and path.is_file() and not path.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
    return dest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dockerfile_pins_python_runs_as_non_root_and_lists_its_files(world):
    b, run = world["bundle"], world["run"]
    steps = instructions((b / "Dockerfile").read_text())
    words = [w for w, _ in steps]
    minor = ".".join(run["environment"]["python"].split(".")[:2])
    assert steps[0] == ("FROM", f"python:{minor}-slim")
    assert ("RUN", "pip install --no-cache-dir -r requirements.txt") in steps or \
        ("RUN", "pip install --no-cache-dir -r requirements-onnx.txt") in steps
    user = dict(steps)["USER"]
    assert user not in ("root", "0") and words.index("USER") > max(
        i for i, w in enumerate(words) if w == "RUN")  # nothing runs as root after it
    useradd = next(a for w, a in steps if w == "RUN" and a.startswith("useradd"))
    assert shlex.split(useradd.split("&&")[0])[-1] == user and "--uid 10001" in useradd
    health = dict(steps)["HEALTHCHECK"]
    assert "CMD [" in health and "/ping" in health and "curl" not in health
    assert json.loads(dict(steps)["CMD"]) == ["python", "-I", "serve.py", "serve", "--host",
                                              "0.0.0.0", "--port", "8080"]
    # every file is in SHA256SUMS, the Docker files too; .dockerignore lets exactly them in
    sums = serve.read_sums(b)
    assert {"Dockerfile", ".dockerignore", "README.md"} <= set(sums)
    assert serve.check_sums(b) == []
    allowed = {line[1:] for line in (b / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    assert allowed == set(sums) | {"SHA256SUMS"}


def test_bundle_readme_shows_docker_beside_the_venv(world):
    text = (world["bundle"] / "README.md").read_text()
    tag = "lablift-loans:1"
    assert "python -m venv .venv && .venv/bin/pip install -r requirements.txt" in text
    assert ".venv/bin/python -I serve.py serve --port 8080" in text
    assert f"docker build -t {tag} ." in text
    assert f"docker run --rm -p 8080:8080 {tag}\n" in text
    assert "/v2/models/loans/infer" in text and "A bundle is code" in text
    assert f"# Lablift bundle loans:1: docker build -t {tag} ." in \
        (world["bundle"] / "Dockerfile").read_text()


def test_the_dockerfile_steps_build_a_scorer_that_answers(world, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(world["bundle"], bundle)
    # what ops leave in the folder stays out of the image
    (bundle / "batch.csv").write_text("a\n1\n")
    (bundle / "predictions.jsonl").write_text("{}\n")
    (bundle / ".venv").mkdir()
    (bundle / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    context = build_context(bundle, tmp_path / "context")
    assert not {"batch.csv", "predictions.jsonl", ".venv"} & {p.name for p in context.iterdir()}

    steps = instructions((context / "Dockerfile").read_text())
    image = tmp_path / "image"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PIP_COMPILE"] = "false"  # the third liberty (docstring)
    workdir, health, cmd, user = image, None, None, None
    for word, args in steps:
        if word == "FROM":
            minor = args.removeprefix("python:").removesuffix("-slim")
            assert minor == "{}.{}".format(*sys.version_info[:2]), "needs that Python here"
            py = Path(getattr(sys, "_base_executable", sys.executable))
            subprocess.run([str(py), "-m", "venv", str(image / "python")], check=True,
                           capture_output=True, timeout=300)
            env["PATH"] = f"{image / 'python' / 'bin'}{os.pathsep}{env['PATH']}"
        elif word == "ENV":
            env.update(kv.split("=", 1) for kv in shlex.split(args))
        elif word == "WORKDIR":
            workdir = image / args.lstrip("/")
            workdir.mkdir(parents=True)
        elif word == "COPY":
            src, dest = shlex.split(args)
            assert dest == "./"
            for path in sorted(context.glob(src)) if src != "." else [context]:
                if path.is_dir():
                    shutil.copytree(path, workdir, dirs_exist_ok=True)
                else:
                    shutil.copy2(path, workdir / path.name)
        elif word == "RUN":
            if args.startswith("useradd"):
                continue  # checked above; not run on this machine
            proc = subprocess.run(["bash", "-c", args], cwd=workdir, env=env,
                                  capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, f"RUN {args}\n{proc.stdout[-3000:]}\n{proc.stderr}"
        elif word == "USER":
            user = args
        elif word == "HEALTHCHECK":
            health = json.loads(args.split(" CMD ", 1)[1])
        elif word == "CMD":
            cmd = json.loads(args)
    assert user and health and cmd
    # the venv has the pinned packages (installed, not borrowed from the test environment)
    pinned = (workdir / "requirements.txt").read_text().split()
    show = subprocess.run(["pip", "freeze"], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=120).stdout.split()
    assert set(pinned) <= set(show)
    assert subprocess.run([*health[:3], "import lablift"], cwd=workdir, env=env,
                          capture_output=True).returncode != 0

    port = _free_port()

    def at_port(argv):
        return [a.replace("8080", str(port)) for a in argv]
    assert subprocess.run(at_port(health), cwd=workdir, env=env, capture_output=True,
                          timeout=30).returncode != 0  # nothing serves yet: unhealthy
    proc = subprocess.Popen(at_port(cmd), cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert f"on http://0.0.0.0:{port}" in line and "scorer)" in line, \
            line + proc.stderr.read()
        assert subprocess.run(at_port(health), cwd=workdir, env=env, capture_output=True,
                              timeout=30).returncode == 0
        frame, pipeline = world["frame"], world["pipeline"]
        features = world["run"]["spec"]["features"]
        rows = frame[features].head(5)
        schema = json.loads((workdir / "schema.json").read_text())
        tensors = []
        for spec in schema["inputs"]:
            values = [None if v != v else v for v in rows[spec["name"]].tolist()]
            tensors.append({"name": spec["name"], "shape": [5],
                            "datatype": kserve_v2.v2_datatype(spec), "data": values})
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/loans/infer",
                                     data=json.dumps({"inputs": tensors}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            doc = json.loads(resp.read())
        assert doc["outputs"][0]["data"] == pipeline.predict(rows).tolist()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=30) as resp:
            assert resp.status == 200
        # the README's two curl examples, as written (their -d body, to this port)
        curls = [shlex.split(x) for x in (workdir / "README.md").read_text().splitlines()
                 if x.startswith("curl ")]
        assert [a[2] for a in curls] == ["localhost:8080/invocations",
                                         "localhost:8080/v2/models/loans/infer"]
        for args in curls:
            req = urllib.request.Request(
                "http://127.0.0.1:" + args[2].replace("localhost:8080", str(port)),
                data=args[args.index("-d") + 1].encode(),
                headers=dict([args[args.index("-H") + 1].split(": ", 1)]))
            with urllib.request.urlopen(req, timeout=60) as resp:
                assert resp.status == 200
        # `docker stop` sends SIGTERM to PID 1: the server ends cleanly on it
        t0 = time.monotonic()
        proc.terminate()
        assert proc.wait(timeout=15) == 0 and time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err = proc.stderr.read()
        proc.stderr.close()
        proc.stdout.close()
    assert "Traceback" not in err
    assert not list(workdir.rglob("__pycache__"))  # nothing written into the bundle


def test_docker_files_are_derived_from_the_manifest():
    manifest = {"model": {"name": "Credit Risk", "version": 4, "ref": "Credit Risk:4"},
                "environment": {"python": "3.12.4"}}
    text = bundle_docker.dockerfile(manifest)
    assert instructions(text)[0] == ("FROM", "python:3.12-slim")
    assert bundle_docker.image_tag(manifest) == "lablift-credit-risk:4"
    ignore = bundle_docker.dockerignore(["model.pkl", "serve.py"]).splitlines()
    assert ignore[1:] == ["*", "!SHA256SUMS", "!model.pkl", "!serve.py"]
