"""Local sweep workers end with the process that started them.

A SIGKILLed sweep runs no clean-up, and joblib's loky workers would otherwise compute on for
nobody (and keep its resource trackers alive). The watcher starts as the worker's
initializer, before the first task is unpickled: unpickling imports scikit-learn, which on a
loaded machine can take many seconds. Kept free of heavy imports for the same reason.
"""

from __future__ import annotations

import os
import threading
import time

_watching: int | None = None


def watch(parent: int, every: float = 0.2) -> None:
    """In a worker process: exit as soon as `parent` is no longer its parent."""
    global _watching
    if _watching == parent or os.getpid() == parent:
        return
    _watching = parent
    if os.getppid() != parent:  # the parent died before this worker got here
        os._exit(1)

    def poll() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=poll, name="lablift-parent-watch", daemon=True).start()
