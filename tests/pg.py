"""Throwaway PostgreSQL clusters for the test suite, and helpers for tests that use them.

One implementation serves both callers:

    .ci/run     pg_env=$(python3 tests/pg.py start) && eval "$pg_env"   (exports LABLIFT_TEST_PG_*)
                python3 tests/pg.py stop "$LABLIFT_TEST_PG_DIR"          (in its EXIT trap)
    conftest    start_cluster() / stop_cluster() when LABLIFT_TEST_PG_URL is not set

A cluster lives in a fresh temp dir (data/, server.log, the unix socket). Local socket
connections are trusted; TCP on 127.0.0.1 needs a password (scram-sha-256). The superuser
URL is the socket form, postgresql://postgres@/postgres?host=DIR&port=PORT, so it carries no
secret and PGPASSWORD stays free for tests of password auth (tcp_url() gives the TCP form).

Standard library only at import time: .ci/run runs this with the system python3 before the
venv exists. psycopg is imported inside the helpers that connect.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

FIRST_PORT = 54329
OWNER = "postgres"  # OS user that runs the server when we are root (initdb refuses root)
SUPERUSER = "postgres"
MARKER = ".lablift-pg"  # stop_cluster only deletes a dir that holds this file

# Where distributions put the server binaries when they are not on PATH.
BINDIR_GLOBS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # PGDG RPMs
    "/usr/local/pgsql/bin",  # source builds
    "/opt/homebrew/opt/postgresql*/bin",
    "/usr/local/opt/postgresql*/bin",
)


class NoPostgres(RuntimeError):
    """No initdb/pg_ctl/postgres binaries on this machine."""


@dataclass
class Cluster:
    dir: Path
    port: int
    url: str  # superuser, unix socket
    version: str
    seconds: float  # initdb + start


# ---------------------------------------------------------------- finding binaries

def _has_server(d: Path) -> bool:
    return all(os.access(d / b, os.X_OK) for b in ("initdb", "pg_ctl", "postgres"))


def _version_key(path: str):
    return [int(n) for n in re.findall(r"\d+", path)]


def find_bindir() -> Path | None:
    """Directory holding initdb, pg_ctl and postgres: $LABLIFT_PG_BINDIR, PATH, then the
    distributions' places (newest version first)."""
    if os.environ.get("LABLIFT_PG_BINDIR"):
        d = Path(os.environ["LABLIFT_PG_BINDIR"])
        return d if _has_server(d) else None
    on_path = shutil.which("pg_ctl")
    if on_path:
        d = Path(on_path).resolve().parent  # through symlinks, to where postgres lives
        if _has_server(d):
            return d
    for pattern in BINDIR_GLOBS:
        for d in sorted(glob.glob(pattern), key=_version_key, reverse=True):
            if _has_server(Path(d)):
                return Path(d)
    return None


# ---------------------------------------------------------------- running as the owner

def _owner() -> pwd.struct_passwd | None:
    """The OS user the server runs as: None means ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(OWNER)
    except KeyError:
        # Debian's package creates it; binaries from elsewhere may not have.
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", OWNER], check=True)
        return pwd.getpwnam(OWNER)


def _as_owner(cmd: list[str], owner) -> list[str]:
    if owner is None:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", owner.pw_name, "--", *cmd]
    return ["su", "-s", "/bin/sh", owner.pw_name, "-c", " ".join(map(_shq, cmd))]


def _shq(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def _run(cmd: list[str], owner, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    # C locale: initdb and the server must not depend on which locales are installed.
    env = dict(os.environ, LC_ALL="C", LANG="C")
    return subprocess.run(_as_owner(cmd, owner), cwd=cwd, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(start: int):
    port = start
    while port < 65535:
        if _port_free(port):
            yield port
        port += 1


# ---------------------------------------------------------------- start / stop

def start_cluster() -> Cluster:
    """initdb a throwaway cluster in a fresh temp dir and start it; raises NoPostgres when
    there are no server binaries, RuntimeError (with the log) when it will not start."""
    bindir = find_bindir()
    if bindir is None:
        raise NoPostgres("no initdb/pg_ctl/postgres on PATH or under "
                         + ", ".join(BINDIR_GLOBS))
    t0 = time.monotonic()
    owner = _owner()
    # Short path under /tmp: a unix socket path must fit in ~107 bytes.
    base = Path(tempfile.mkdtemp(prefix="lablift-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        (base / MARKER).write_text(f"{bindir}\n")
        if owner is not None:
            os.chown(base, owner.pw_uid, owner.pw_gid)
        data = base / "data"
        # -N: no fsync of the new files (throwaway). C collation orders text by bytes,
        # as SQLite does, so both engines sort alike.
        r = _run([str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-E", "UTF8",
                  "--locale=C", "-N", "--auth-local=trust", "--auth-host=scram-sha-256"],
                 owner, base, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed ({r.returncode}):\n{r.stdout}")
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# lablift test cluster: loopback and its own socket dir only; no durability\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{base}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "password_encryption = 'scram-sha-256'\n"  # PG 13 still defaults to md5
                # GUI tests hold several connections a store (workers, the change feed) while
                # subprocess tests run beside them: more headroom than the default 100
                "max_connections = 300\n"
            )
        log = base / "server.log"
        for attempt, port in enumerate(_free_ports(FIRST_PORT)):
            r = _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                      "-o", f"-p {port}", "start"], owner, base, timeout=90)
            if r.returncode == 0:
                break
            text = log.read_text(errors="replace") if log.exists() else ""
            # Another process took the port between our probe and the bind: try the next.
            if "could not bind" in text or "could not create any TCP/IP sockets" in text:
                if attempt < 20:
                    log.unlink(missing_ok=True)
                    continue
            raise RuntimeError(f"pg_ctl start failed ({r.returncode}):\n{r.stdout}\n{text}")
        version = _run([str(bindir / "postgres"), "--version"], owner, base, timeout=30).stdout.strip()
        url = (f"postgresql://{SUPERUSER}@/postgres?"
               + urlencode({"host": str(base), "port": str(port)}, safe="/"))
        return Cluster(base, port, url, version, time.monotonic() - t0)
    except BaseException:
        stop_cluster(base)
        raise


def stop_cluster(base) -> None:
    """Stop the cluster in `base` (if it runs) and delete `base`. Safe to call twice."""
    base = Path(base)
    if not base.exists():
        return
    if not (base / MARKER).exists():
        raise RuntimeError(f"{base} is not a lablift test cluster (no {MARKER}); not deleting it")
    data = base / "data"
    pidfile = data / "postmaster.pid"
    if pidfile.exists():
        recorded = (base / MARKER).read_text().strip()
        bindir = Path(recorded) if recorded else find_bindir()
        owner = _owner()
        stopped = False
        for mode in ("fast", "immediate") if bindir else ():
            try:
                r = _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "-t", "20",
                          "stop"], owner, base, timeout=40)
                stopped = r.returncode == 0 or not pidfile.exists()
            except (OSError, subprocess.TimeoutExpired):
                stopped = False
            if stopped:
                break
        if not stopped:
            _kill_postmaster(pidfile)
    shutil.rmtree(base, ignore_errors=True)


def _kill_postmaster(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().split()[0])
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return
    if comm in ("postgres", "postmaster"):  # not some process that reused the pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- URLs

def _parts(url: str) -> dict:
    u = urlsplit(url)
    query = dict(parse_qsl(u.query))
    host = query.pop("host", None) or (unquote(u.hostname) if u.hostname else None)
    port = query.pop("port", None) or (str(u.port) if u.port else None)
    return {"scheme": u.scheme, "user": unquote(u.username) if u.username else None,
            "password": unquote(u.password) if u.password else None,
            "host": host, "port": port, "dbname": unquote(u.path.lstrip("/")) or None,
            "query": query}


def _build(p: dict) -> str:
    auth = ""
    if p["user"]:
        auth = quote(p["user"], safe="")
        if p["password"]:
            auth += ":" + quote(p["password"], safe="")
        auth += "@"
    query = dict(p["query"])
    netloc = auth
    if p["host"] and p["host"].startswith("/"):  # socket dir: libpq takes it as a parameter
        query["host"] = p["host"]
        if p["port"]:
            query["port"] = p["port"]
    elif p["host"]:
        netloc += p["host"] + (f":{p['port']}" if p["port"] else "")
    url = f"{p['scheme']}://{netloc}/{quote(p['dbname'] or '', safe='')}"
    return url + ("?" + urlencode(query, safe="/") if query else "")


def with_database(url: str, dbname: str) -> str:
    return _build({**_parts(url), "dbname": dbname})


def with_user(url: str, user: str, password: str | None = None) -> str:
    return _build({**_parts(url), "user": user, "password": password})


def tcp_url(url: str, user: str | None = None, password: str | None = None) -> str:
    """The same server and database over TCP (127.0.0.1 for a socket URL), where the
    throwaway cluster asks for a scram-sha-256 password."""
    p = _parts(url)
    if not p["host"] or p["host"].startswith("/"):
        p["host"] = "127.0.0.1"
    if user is not None:
        p["user"], p["password"] = user, password
    elif password is not None:
        p["password"] = password
    return _build(p)


def dbname_of(url: str) -> str | None:
    return _parts(url)["dbname"]


def unique_name(prefix: str = "t") -> str:
    """A lower-case identifier no other test in this cluster uses (databases and roles
    are cluster-wide)."""
    return f"{prefix}_{secrets.token_hex(5)}"


# ---------------------------------------------------------------- databases and roles

def connect_admin(server_url: str):
    import psycopg
    return psycopg.connect(server_url, autocommit=True, connect_timeout=10)


def check_server(server_url: str) -> str:
    """Connect once; returns `SELECT version()` (raises psycopg.OperationalError)."""
    with connect_admin(server_url) as conn:
        return conn.execute("SELECT version()").fetchone()[0]


def create_database(server_url: str, name: str, template: str = "template0") -> str:
    """A new UTF8 database; from template0 (guaranteed empty, whatever someone added to
    template1) unless `template` names another."""
    from psycopg import sql
    with connect_admin(server_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} ENCODING 'UTF8'")
                     .format(sql.Identifier(name), sql.Identifier(template)))
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    from psycopg import sql
    with connect_admin(server_url) as conn:
        # Connections a test leaked (pools, engines not disposed) would block the drop.
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def fresh_database(server_url: str, prefix: str = "lablift_test"):
    """A new empty database for the duration of the block; yields its URL (as the
    superuser of server_url). The pg_database fixture is this."""
    name = unique_name(prefix)
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        drop_database(server_url, name)


# Roles pg_role made, per server, dropped by drop_created_roles at the end of the session.
_created_roles: dict[tuple, list[str]] = {}


def _server_key(url: str) -> tuple:
    p = _parts(url)
    return (p["host"], p["port"])


def pg_role(url: str, name: str, password: str | None = None, login: bool = True) -> str:
    """Create role `name` (LOGIN unless login=False, with `password` if given) on the
    server of `url`; returns `url` with that role as the user (and password, if any).

    Roles are cluster-wide: pass a unique name (unique_name("analyst")). The pg_server
    fixture drops every role made here when the session ends."""
    from psycopg import sql
    stmt = sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(name),
                                             sql.SQL("LOGIN" if login else "NOLOGIN"))
    if password is not None:
        # Utility statements take no bound parameters: a client-side literal.
        stmt = sql.SQL("{} PASSWORD {}").format(stmt, sql.Literal(password))
    with connect_admin(url) as conn:
        conn.execute(stmt)
    _created_roles.setdefault(_server_key(url), []).append(name)
    return with_user(url, name, password)


def ensure_login_role(url: str, name: str) -> None:
    """A login role `name` (no Lablift role yet) unless the cluster has one: a person who
    can connect but is nobody in the store, as an unregistered user of an embedded store.
    Dropped at the end of the session like pg_role's."""
    from psycopg import sql
    with connect_admin(url) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
            return
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    _created_roles.setdefault(_server_key(url), []).append(name)


def drop_created_roles(server_url: str) -> list[str]:
    """Drop the roles pg_role made on this server; returns the names it could not drop."""
    from psycopg import errors, sql
    left = []
    names = _created_roles.pop(_server_key(server_url), [])
    if not names:
        return left
    with connect_admin(server_url) as conn:
        for name in names:
            role = sql.Identifier(name)
            try:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE usename = %s", [name])
                conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
                conn.execute(sql.SQL("DROP ROLE {}").format(role))
            except errors.UndefinedObject:
                pass  # a test dropped it itself
            except errors.DatabaseError:
                left.append(name)  # still owns objects in a database that outlived its test
    return left


# ---------------------------------------------------------------- command line

def main(argv: list[str]) -> int:
    usage = "usage: pg.py start | stop DIR | bindir"
    if argv[:1] == ["bindir"]:
        d = find_bindir()
        if d is None:
            return 1
        print(d)
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        try:
            stop_cluster(argv[1])
        except RuntimeError as e:
            print(f"pg.py: {e}", file=sys.stderr)
            return 1
        return 0
    if argv == ["start"]:
        # SIGTERM mid-start unwinds through start_cluster's cleanup instead of leaking a server.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            c = start_cluster()
        except NoPostgres as e:
            print(f"pg.py: {e}", file=sys.stderr)
            return 2
        except RuntimeError as e:
            print(f"pg.py: {e}", file=sys.stderr)
            return 1
        print(f"pg.py: {c.version} on 127.0.0.1:{c.port} and {c.dir} "
              f"(started in {c.seconds:.1f} s)", file=sys.stderr)
        print(f"export LABLIFT_TEST_PG_DIR={_shq(str(c.dir))}")
        print(f"export LABLIFT_TEST_PG_URL={_shq(c.url)}")
        return 0
    print(usage, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
