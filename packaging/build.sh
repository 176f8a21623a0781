#!/usr/bin/env bash
# Build the one-folder app and prove that it runs: the command line on a fresh store (its
# Alembic migrations run from inside the bundle) and the GUI rendered to a PNG.
#   packaging/build.sh [VENV]     (VENV: a venv with '.[package]' installed; default .venv)
# Makes build/dist/lablift/ (about 510 MB); takes about 2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
"$venv/bin/pyinstaller" --noconfirm --log-level WARN --distpath build/dist \
  --workpath build/work packaging/lablift.spec
exe=build/dist/lablift/lablift
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
export QT_QPA_PLATFORM=offscreen LABLIFT_STORE="$check/store"
unset MPLBACKEND  # the app chooses its own backend, as it does for a user
"$exe" dataset list | grep -qi "no datasets yet"
test -f "$check/store/lineage.db"
"$exe" gui --screenshot "$check/window.png" --pane datasets --size 1024x640
python3 - "$check/window.png" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, "not a real screenshot"
size = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
assert size == (1024, 640), size
print(f"packaged app build/dist/lablift: `lablift dataset list` and a "
      f"1024x640 screenshot ({len(data)} bytes) from the frozen app: ok")
PY
