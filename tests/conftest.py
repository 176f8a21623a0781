"""Shared fixtures. Qt runs offscreen; every store lives in a temporary folder."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

from lablift.core.store import Store  # noqa: E402
from lablift.resources import SAMPLE_LOANS  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    # Never touch the real user's store or Qt settings from a test.
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("LABLIFT_STORE", str(home / "store"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("LABLIFT_USER", raising=False)


@pytest.fixture
def store_dir(tmp_path):
    return tmp_path / "store"


@pytest.fixture
def make_store(store_dir):
    """make_store(user) opens the same store folder as `user` (the first opener is admin)."""
    opened = []

    def _make(user: str = "admin") -> Store:
        s = Store(store_dir, user=user)
        opened.append(s)
        return s

    yield _make
    for s in opened:
        s.close()


@pytest.fixture
def store(make_store):
    return make_store("admin")


@pytest.fixture
def sample_csv():
    return SAMPLE_LOANS


@pytest.fixture
def cli(store_dir, capsys):
    """cli(user, *argv) runs `lablift --store STORE --user USER ...`: (exit code, stdout, stderr)."""
    from lablift.cli import main

    def run(user, *argv):
        code = main(["--store", str(store_dir), "--user", user, *argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture(autouse=True)
def _drain_qt_workers():
    """After a GUI test, let its background tasks end before the next test starts.

    A worker still running from an earlier test's (deleted) pane would otherwise emit into
    objects the next test's garbage collection is tearing down.
    """
    yield
    import sys
    if "PySide6.QtWidgets" not in sys.modules:
        return
    from PySide6.QtCore import QThreadPool
    from PySide6.QtWidgets import QApplication
    if QApplication.instance() is None:
        return
    from lablift.gui.workers import cancel_all
    cancel_all(timeout_ms=15000)
    QThreadPool.globalInstance().waitForDone(15000)
    QApplication.processEvents()


# ---------------------------------------------------------------- PostgreSQL (tests/pg.py)

import pg as _pg  # noqa: E402  (tests/ is on sys.path, as for the other helper modules)


def _pg_required() -> bool:
    # CI must not quietly skip the PostgreSQL tests.
    ci = os.environ.get("CI", "").strip().lower()
    return os.environ.get("LABLIFT_REQUIRE_PG") == "1" or ci not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def pg_server():
    """URL of a superuser on a real PostgreSQL server, for the whole session.

    $LABLIFT_TEST_PG_URL when set (.ci/run sets it); otherwise a throwaway cluster this
    fixture starts and stops (tests/pg.py). Without PostgreSQL binaries it skips, unless
    LABLIFT_REQUIRE_PG=1 or CI is set: then it fails.
    """
    url = os.environ.get("LABLIFT_TEST_PG_URL")
    cluster = None
    if url:
        try:
            _pg.check_server(url)
        except Exception as e:
            pytest.fail(f"LABLIFT_TEST_PG_URL={url} does not answer: {e}", pytrace=False)
    else:
        try:
            cluster = _pg.start_cluster()
        except _pg.NoPostgres as e:
            reason = (f"PostgreSQL not available ({e}); install it (Debian: apt-get install "
                      "postgresql) or set LABLIFT_TEST_PG_URL")
            if _pg_required():
                pytest.fail(reason + " -- required here (LABLIFT_REQUIRE_PG=1 or CI)", pytrace=False)
            pytest.skip(reason)
        except RuntimeError as e:
            pytest.fail(f"could not start a throwaway PostgreSQL cluster: {e}", pytrace=False)
        url = cluster.url
    try:
        yield url
    finally:
        _pg.drop_created_roles(url)
        if cluster is not None:
            _pg.stop_cluster(cluster.dir)


@pytest.fixture
def pg_database(pg_server):
    """URL (as the superuser) of a new, empty, uniquely named database, dropped after the test."""
    with _pg.fresh_database(pg_server) as url:
        yield url
