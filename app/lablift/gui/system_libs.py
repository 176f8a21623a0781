"""Before Qt opens an X11 window: are the system libraries its xcb plugin needs there?

Without them Qt prints a message naming the wrong package and aborts with a core dump. So
`lablift` asks the dynamic linker first (`ldd` on the plugin, which follows its Qt library's
dependencies too) and, for what is missing, prints the one install command for this
distribution: Debian and Ubuntu name a library's package after its soname
(libxcb-icccm.so.4 -> libxcb-icccm4), Fedora and RHEL install by soname. No Qt import here:
this runs before Qt is loaded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.M)
_SONAME = re.compile(r"^(lib.+?)\.so\.(\d+)")
# Debian packages that do not follow the soname rule
_DEBIAN_EXCEPTIONS = {"libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
                      "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1",
                      "libOpenGL.so.0": "libopengl0"}


def xcb_plugin() -> Path | None:
    """Qt's X11 platform plugin inside the installed PySide6, without importing it."""
    import importlib.util
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        plugin = Path(base) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.exists():
            return plugin
    return None


def missing_from(ldd_output: str) -> list[str]:
    return sorted(set(_NOT_FOUND.findall(ldd_output)))


def missing_for_xcb() -> list[str]:
    """Sonames the xcb plugin needs that the dynamic linker cannot find ([] if unknown)."""
    plugin, ldd = xcb_plugin(), shutil.which("ldd")
    if plugin is None or ldd is None:
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return missing_from(out.stdout)


def debian_package(soname: str) -> str:
    """libxcb-icccm.so.4 -> libxcb-icccm4; libxkbcommon-x11.so.0 -> libxkbcommon-x11-0."""
    if soname in _DEBIAN_EXCEPTIONS:
        return _DEBIAN_EXCEPTIONS[soname]
    found = _SONAME.match(soname)
    if not found:
        return soname
    name, version = found.group(1).lower(), found.group(2)
    return f"{name}{'-' if name[-1].isdigit() else ''}{version}"


def _os_release() -> dict[str, str]:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return {}
    return {k: v.strip('"') for k, _, v in (line.partition("=") for line in text.splitlines())
            if k}


def install_command(missing: list[str], os_release: dict[str, str] | None = None) -> str:
    info = _os_release() if os_release is None else os_release
    family = {info.get("ID", "")} | set(info.get("ID_LIKE", "").split())
    if family & {"debian", "ubuntu"}:
        packages = sorted({debian_package(s) for s in missing})
        return "sudo apt install " + " ".join(packages)
    if family & {"fedora", "rhel", "centos"}:
        return "sudo dnf install " + " ".join(f"'{s}()(64bit)'" for s in missing)
    return "install the packages that provide " + ", ".join(missing)


def message(missing: list[str], os_release: dict[str, str] | None = None) -> str:
    return (f"the desktop window needs system libraries that are missing here "
            f"({', '.join(missing)}); install them with: "
            f"{install_command(missing, os_release)} (the command line works without them)")
