"""packaging/: the desktop entry and AppStream metadata validate, and the PyInstaller spec
builds a one-folder app that runs (the build takes minutes: only with LABLIFT_TEST_PACKAGING=1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
APP_ID = "io.lablift.Lablift"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"
ICON = PACKAGING / f"{APP_ID}.svg"
SPEC = PACKAGING / "lablift.spec"
MIGRATIONS = ROOT / "app" / "lablift" / "core" / "store" / "migrations"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def tool(name: str, debian_package: str) -> str:
    """The tool's path; without it, skip here but fail in CI (.ci/run installs it)."""
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} not found (Debian: apt-get install {debian_package})"
    if in_ci():
        pytest.fail(f"{reason}: CI must have it (.ci/run's SYSTEM_PACKAGES)", pytrace=False)
    pytest.skip(reason)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)


def desktop_entry() -> dict[str, str]:
    entries = {}
    for line in DESKTOP.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            entries[key.strip()] = value.strip()
    return entries


# -- metadata --------------------------------------------------------------------------------
def test_desktop_entry_validates():
    result = run([tool("desktop-file-validate", "desktop-file-utils"), str(DESKTOP)])
    # it exits 0 on hints; errors and warnings are what must not be there
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "error:" in line or "warning:" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def test_metainfo_validates():
    result = run([tool("appstreamcli", "appstream"), "validate", "--no-net", str(METAINFO)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_desktop_entry_and_metainfo_agree():
    entry = desktop_entry()
    meta = ET.parse(METAINFO).getroot()
    assert meta.findtext("id") == APP_ID
    assert meta.find("launchable[@type='desktop-id']").text == DESKTOP.name
    assert entry["Icon"] == APP_ID == meta.findtext("icon[@type='stock']")
    assert ICON.is_file() and ET.parse(ICON).getroot().tag.endswith("svg")
    assert entry["Exec"].split()[0] == meta.findtext("provides/binary") == "lablift"
    versions = [r.get("version") for r in meta.iter("release")]
    from lablift import __version__
    assert versions and versions[0] == __version__, "the newest <release> is this version"


# -- the frozen app ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_pyinstaller_build_runs(tmp_path):
    """Build with the documented command, then run the frozen app: a GUI screenshot and the
    command line on a fresh store (its Alembic migrations run from the bundle)."""
    if os.environ.get("LABLIFT_TEST_PACKAGING") != "1":
        pytest.skip("a PyInstaller build takes minutes: set LABLIFT_TEST_PACKAGING=1 to run it")
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        pytest.fail("PyInstaller is not installed: pip install '.[package]'", pytrace=False)
    dist, work = tmp_path / "dist", tmp_path / "work"
    build = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--distpath", str(dist),
         "--workpath", str(work), str(SPEC)],
        cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert build.returncode == 0, build.stderr[-5000:]
    exe = dist / "lablift" / "lablift"
    assert exe.is_file() and os.access(exe, os.X_OK)

    internal = dist / "lablift" / "_internal"
    bundled = internal / "lablift" / "core" / "store" / "migrations"
    wanted = sorted(p.relative_to(MIGRATIONS).as_posix() for p in MIGRATIONS.rglob("*")
                    if p.suffix in (".py", ".mako") and "__pycache__" not in p.parts)
    assert sorted(p.relative_to(bundled).as_posix() for p in bundled.rglob("*")
                  if p.is_file()) == wanted
    assert (internal / "lablift" / "bundle_runtime" / "serve.py").is_file()
    assert (internal / "lablift" / "resources" / "sample_loans.csv").is_file()
    qt_modules = {p.name.split(".")[0] for p in (internal / "PySide6").glob("Qt*.so")}
    assert qt_modules == {"QtCore", "QtGui", "QtWidgets", "QtSvg"}, qt_modules

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LABLIFT_STORE": str(tmp_path / "s")}
    env.pop("MPLBACKEND", None)  # the app chooses its own backend, as for a user
    listed = subprocess.run([str(exe), "dataset", "list"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "no datasets yet" in listed.stdout.lower()
    assert (tmp_path / "s" / "lineage.db").is_file()

    png = tmp_path / "window.png"
    shot = subprocess.run([str(exe), "gui", "--screenshot", str(png), "--pane", "datasets"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0, shot.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 640 and height >= 400, (width, height)
    shutil.rmtree(dist)  # ~0.5 GB each; kept when the test fails, to look at
    shutil.rmtree(work)
