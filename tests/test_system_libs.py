"""Without Qt's X11 libraries, `lablift` names the exact install command instead of Qt
aborting (gui/system_libs.py)."""

from __future__ import annotations

import shutil

import pytest

from lablift.gui import system_libs

LDD_WITH_GAPS = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x00007f47)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f47)
"""
DEBIAN = {"ID": "debian"}


def test_missing_libraries_are_read_from_ldd_and_named_as_debian_packages():
    missing = system_libs.missing_from(LDD_WITH_GAPS)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"]
    assert system_libs.install_command(missing, DEBIAN) == (
        "sudo apt install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0")
    assert system_libs.install_command(["libEGL.so.1"], {"ID": "ubuntu",
                                                         "ID_LIKE": "debian"}) == \
        "sudo apt install libegl1"
    assert system_libs.install_command(["libxcb-icccm.so.4"], {"ID": "fedora"}) == \
        "sudo dnf install 'libxcb-icccm.so.4()(64bit)'"


@pytest.mark.skipif(shutil.which("ldd") is None or system_libs.xcb_plugin() is None,
                    reason="needs ldd and PySide6's xcb plugin")
def test_this_machine_s_plugin_is_checked_for_real():
    # what the real dynamic linker says about the installed plugin (here: nothing missing,
    # since the GUI tests need these libraries too)
    assert system_libs.missing_for_xcb() == []


def test_lablift_says_what_to_install_in_one_line(monkeypatch, capsys):
    from lablift.cli import main
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(system_libs, "missing_for_xcb",
                        lambda: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    monkeypatch.setattr(system_libs, "_os_release", lambda: DEBIAN)
    assert main(["gui"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in err
