"""README "The bundle, for ops", word for word, on a real exported bundle.

The commands are read from README.md's section, so this fails when the README drifts from
what works. Two test-only liberties, neither in the commands themselves: the new venv gets a
.pth file pointing at the test interpreter's packages (so `pip install -r requirements.txt`
finds every pinned version already there and downloads nothing), and the port is a free one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from bundle_helpers import build_world

from lablift.bundle_runtime import serve
from lablift.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def ops_commands() -> list[str]:
    """The shell commands of the section's first code block, continuation lines joined and
    trailing comments dropped."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## The bundle, for ops\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 2)[1]
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if line:
            commands.append(" ".join(line.split()))
    return commands


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sh(command: str, cwd: Path, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def test_readme_commands_use_isolated_mode_and_say_a_bundle_is_code():
    commands = ops_commands()
    runs = [c for c in commands if "serve.py" in c]
    assert len(runs) == 2 and all(" -I serve.py " in c for c in runs)
    section = README.read_text().split("## The bundle, for ops\n", 1)[1].split("\n## ", 1)[0]
    assert "A bundle is code" in section and "store you trust" in section
    assert "--raw-csv" in section
    doc = serve.__doc__
    assert "A bundle is code" in doc and "python -I" in doc and "--raw-csv" in doc


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("handoff"))


def test_ops_handoff_word_for_word(world):
    tmp_path = world["root"]
    bundle, frame, pipeline = world["bundle"], world["frame"], world["pipeline"]
    features = world["run"]["spec"]["features"]
    setup, predict, serve_cmd, curl = ops_commands()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(var, None)

    # 1. cd DIR && python -m venv .venv && .venv/bin/pip install -r requirements.txt
    assert setup.startswith("cd DIR && ")
    steps = setup.split(" && ")
    assert steps[1] == "python -m venv .venv" and steps[2].startswith(".venv/bin/pip install")
    _sh(steps[1], bundle, env)
    site = bundle / ".venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" \
        / "site-packages"
    (site / "_lablift_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    t0 = time.monotonic()
    pip = _sh(steps[2], bundle, env)
    assert "Requirement already satisfied: scikit-learn==" in pip.stdout
    assert time.monotonic() - t0 < 30

    # 2. predict into the folder itself
    frame.to_csv(bundle / "batch.csv", index=False)
    assert "-o scored.csv" in predict
    _sh(predict, bundle, env)
    scored = pd.read_csv(bundle / "scored.csv")
    assert scored["prediction"].tolist() == pipeline.predict(frame[features]).tolist()

    # 3. serve with the log beside serve.py, 4. one real request
    port = _free_port()
    assert "--port 8080" in serve_cmd and "--log predictions.jsonl" in serve_cmd
    proc = subprocess.Popen(["bash", "-c", "exec " + serve_cmd.replace("--port 8080",
                                                                        f"--port {port}")],
                            cwd=bundle, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert f"http://127.0.0.1:{port}" in line, line + proc.stderr.read()
        args = shlex.split(curl)
        assert args[0] == "curl" and args[2] == "localhost:8080/invocations"
        assert args[args.index("-H") + 1] == "Content-Type: application/json"
        assert '"dataframe_records"' in args[args.index("-d") + 1]
        shown = re.findall(r'"(\w+)":', args[args.index("-d") + 1])[1:]
        assert set(shown) <= set(features)  # the README's example names real columns
        rows = json.loads(frame[features].head(3).to_json(orient="records"))
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                     data=json.dumps({"dataframe_records": rows}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            doc = json.loads(resp.read())
        assert doc["predictions"] == pipeline.predict(frame[features].head(3)).tolist()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert "Traceback" not in err
    logged = [json.loads(x) for x in (bundle / "predictions.jsonl").read_text().splitlines()]
    assert len(logged) == 3 and logged[0]["model"] == "loans:1"

    # 5. the folder ops worked in still verifies; what they added is listed in a note
    assert not (bundle / "__pycache__").exists()
    code = main(["--store", str(tmp_path / "store"), "bundle", "verify", str(bundle)])
    assert code == 0
    result = serve.inspect_bundle(bundle)
    assert result["unlisted_other"] == [".venv/", "batch.csv", "predictions.jsonl",
                                        "scored.csv"]
    assert serve.check_sums(bundle) == []


def test_cli_verify_output_names_the_unlisted_files(world, tmp_path, capsys):
    bundle = tmp_path / "copy"  # of the bundle as exported, whatever ops did to the original
    shutil.copytree(world["bundle"], bundle,
                    ignore=lambda d, names: [n for n in names if n not in
                                             serve.read_sums(world["bundle"])
                                             and n != "SHA256SUMS"])
    (bundle / "scored.csv").write_text("prediction\n1\n")
    (bundle / ".venv").mkdir()
    (bundle / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    store = str(world["root"] / "store")
    assert main(["--store", store, "bundle", "verify", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and "lineage matches the store" in out
    assert "note: 2 items" in out and ".venv/, scored.csv" in out
    (bundle / "helper.py").write_text("")
    assert main(["--store", store, "bundle", "verify", str(bundle)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "helper.py" in err and err.count("\n") == 1
