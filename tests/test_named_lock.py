"""store/named_lock.py on both engines, with real processes: a second holder waits (and is
told so), a different name does not, and a holder that is killed lets go."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lablift.core.store import named_lock

APP = Path(__file__).resolve().parents[1] / "app"
HOLDER = """
import sys, time
from lablift.core.store import Store, named_lock
store = Store(sys.argv[1], user=sys.argv[2])
with named_lock.hold(store, sys.argv[3]):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(where: str, user: str, name: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, where, user, name],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(APP)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_waits_until_the_first_dies(store, store_arg):
    holder = _holder(store_arg("admin"), "admin", "pipeline-train A")
    try:
        with named_lock.hold(store, "pipeline-train B"):  # another name: no wait
            pass
        waited, got = [], threading.Event()

        def take():
            with named_lock.hold(store, "pipeline-train A", on_wait=lambda: waited.append(1)):
                got.set()

        t = threading.Thread(target=take, daemon=True)
        t.start()
        time.sleep(1.0)
        assert waited == [1] and not got.is_set()  # told once, still waiting
        holder.send_signal(signal.SIGKILL)  # a crash: the OS or the server lets go
        assert got.wait(30), "the lock of a killed process was not released"
        t.join(10)
    finally:
        holder.kill()
        holder.wait()
    with named_lock.hold(store, "pipeline-train A", on_wait=lambda: waited.append(2)):
        pass
    assert waited == [1]  # free again: no wait
