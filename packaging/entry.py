"""PyInstaller entry point (a script cannot use the package's relative imports).

A frozen app has no separate Python interpreter: the worker processes of a local sweep
(joblib's loky backend) are started as this executable with Python's own arguments. Those
two command lines, and only those, run the worker code here instead of Lablift's command
line; multiprocessing's own helpers are handled by freeze_support().
"""

import multiprocessing
import re
import sys

LOKY_WORKER = "joblib.externals.loky.backend.popen_loky_posix"
# loky/backend/resource_tracker.py: [exe, *interpreter flags, "-c", "from ... import main; main(FD, VERBOSE)"]
LOKY_TRACKER = re.compile(r"from joblib\.externals\.loky\.backend\.resource_tracker import main; "
                          r"main\((\d+), (True|False|0|1)\)")


def loky_child(argv: list[str]) -> bool:
    """Run a loky worker or resource tracker if argv starts one; False if it does not."""
    if len(argv) >= 3 and argv[1] == "-m" and argv[2] == LOKY_WORKER:
        import runpy
        sys.argv = [argv[2]] + argv[3:]
        runpy.run_module(LOKY_WORKER, run_name="__main__", alter_sys=True)  # exits itself
        return True
    if "-c" in argv:
        at = argv.index("-c")
        found = LOKY_TRACKER.fullmatch(argv[at + 1]) if at + 1 < len(argv) else None
        if found and all(a.startswith("-") for a in argv[1:at]):
            from joblib.externals.loky.backend.resource_tracker import main
            main(int(found.group(1)), found.group(2) in ("True", "1"))
            return True
    return False


if __name__ == "__main__":
    multiprocessing.freeze_support()
    if getattr(sys, "frozen", False) and loky_child(sys.argv):
        sys.exit(0)
    from lablift.cli import main

    sys.exit(main())
