"""Team store on PostgreSQL: prepare an empty database (`init`) and describe one (`info`).

`init` runs the Alembic migrations (migrations/, the same revisions as the embedded store;
0004 adds the server-side governance) in one transaction, then records the initialising
user (the session user) as the store's admin: membership of lablift_admin, a `users` row and
the first audit entry, `store.create`, appended through lablift_audit().

Connections go through libpq (psycopg) with the URL as given, so ~/.pgpass, PGPASSWORD,
PGSSLMODE, service files, peer and certificate authentication all work; a password in the
URL is never repeated in a message or a return value (mask_url).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import LabliftError
from . import migrate as migrate_mod

ROLES = ("admin", "reviewer", "ops", "analyst")  # strongest first, for `info`
INIT_LOCK = 4242000000  # pg_advisory_xact_lock key: two inits of one database wait in turn


# -- URLs and secrets ----------------------------------------------------------------------------
def _check_url(url: str) -> None:
    if not isinstance(url, str) or not re.match(r"^postgres(ql)?://", url):
        raise LabliftError(f"a team store URL is postgresql://[user@]host[:port]/dbname, not "
                           f"{mask_url(str(url))!r}")


def _secrets(url: str) -> list[str]:
    """Every spelling of a password the URL carries (raw and percent-decoded)."""
    out: list[str] = []
    try:
        parts = urlsplit(url)
        raw_userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
        if ":" in raw_userinfo:
            raw = raw_userinfo.split(":", 1)[1]
            out += [raw, unquote(raw)]
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key.lower() == "password" and value:
                out.append(value)
        for piece in parts.query.split("&"):
            key, _, value = piece.partition("=")
            if key.lower() == "password" and value:
                out += [value, unquote(value)]
    except ValueError:
        pass
    return sorted({s for s in out if s}, key=len, reverse=True)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***: safe to show, log or remember."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that cannot be parsed>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = "&".join(
        (f"{p.partition('=')[0]}=***" if p.partition("=")[0].lower() == "password" else p)
        for p in parts.query.split("&")) if parts.query else ""
    out = f"{parts.scheme}://{netloc}{parts.path}"
    out += f"?{query}" if query else ""
    out += f"#{parts.fragment}" if parts.fragment else ""
    for secret in _secrets(url):  # whatever urlsplit did not see (a malformed URL)
        out = out.replace(secret, "***")
    return out


def _scrub(text: str, url: str) -> str:
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return " ".join(text.split())  # libpq's messages span lines: a user gets one


def _connect(url: str):
    import psycopg
    _check_url(url)
    try:
        return psycopg.connect(url, connect_timeout=10)
    except (psycopg.Error, ValueError) as exc:  # ValueError: psycopg's own URL parsing
        raise LabliftError(f"cannot connect to {mask_url(url)}: {_scrub(str(exc), url)}"
                           ) from None


# -- init ----------------------------------------------------------------------------------------
def init(url: str, artifacts_dir: str | None = None) -> dict[str, Any]:
    """Prepare the EMPTY database at `url` as a team store; returns `info(url)`.
    Artifacts are kept in the database unless `artifacts_dir` names a shared folder."""
    _in_transaction(url, "store init", lambda conn: _init(conn, url, artifacts_dir))
    return info(url)


def migrate(url: str) -> dict[str, Any]:
    """Bring the team store at `url` to this release's schema (its owner runs it);
    returns {"from": N, "to": HEAD}."""
    return _in_transaction(url, "store migrate", lambda conn: _migrate(conn, url))


def _in_transaction(url: str, what: str, work):
    import psycopg
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool
    _check_url(url)
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: _connect(url),
                              poolclass=NullPool)
    try:
        with engine.begin() as conn:
            return work(conn)
    except (sa.exc.DBAPIError, psycopg.Error) as exc:  # raw: the migration's own statements
        raise LabliftError(f"{what} on {mask_url(url)} failed: "
                           f"{_scrub(str(getattr(exc, 'orig', None) or exc), url)}") from None
    finally:
        engine.dispose()


def _upgrade(conn, to: int) -> None:
    """Alembic's upgrade on `conn` (inside its transaction), each revision also numbered
    in schema_version (as on SQLite: an older Lablift refuses a newer store by number)."""
    from alembic import command
    from alembic.config import Config

    from . import schema, utcnow

    def applied(ctx, step, heads, run_args) -> None:
        schema.schema_version.create(conn, checkfirst=True)
        conn.execute(schema.schema_version.insert().values(
            version=int(step.up_revision_id), applied_at=utcnow()))

    config = Config()
    config.set_main_option("script_location", str(migrate_mod.MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    config.attributes["on_version_apply"] = applied
    command.upgrade(config, f"{to:04d}")


def _migrate(conn, url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    from .. import audit
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(INIT_LOCK)))
    database, user = conn.execute(sa.text("SELECT current_database(), session_user")).one()
    where = f"database {database!r} on {mask_url(url)}"
    found = None
    if conn.execute(sa.text("SELECT to_regclass('public.alembic_version')")).scalar():
        found = conn.execute(sa.text("SELECT version_num FROM public.alembic_version")).scalar()
    if not found or not str(found).isdigit():
        raise LabliftError(f"{where} is not a Lablift team store: `lablift store init URL` "
                           f"prepares an empty database")
    current = int(found)
    if current > migrate_mod.HEAD:
        raise LabliftError(f"{where} has schema {current}, newer than this Lablift "
                           f"understands ({migrate_mod.HEAD}): upgrade Lablift")
    if current == migrate_mod.HEAD:
        return {"from": current, "to": current}
    owner = conn.execute(sa.text(
        "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'public.runs'::regclass"
    )).scalar()
    superuser = conn.execute(sa.text(
        "SELECT rolsuper FROM pg_roles WHERE rolname = session_user")).scalar()
    if user != owner and not superuser:
        raise LabliftError(f"{user!r} cannot migrate {where}: its tables belong to {owner!r}, "
                           f"who (or a superuser) runs `lablift store migrate`")
    _upgrade(conn, migrate_mod.HEAD)
    details = audit._details_json({"from": current, "to": migrate_mod.HEAD})
    conn.execute(sa.select(sa.func.lablift_audit("store.migrate", f"store:{database}",
                                                 details)))
    return {"from": current, "to": migrate_mod.HEAD}


def prepare_empty(conn, url: str, what: str) -> tuple[str, str]:
    """Check the database is empty, UTF8 and ours to prepare, then build the schema (all
    revisions) in the caller's transaction; returns (database, session user)."""
    import sqlalchemy as sa
    raw = conn.connection.driver_connection  # the same session and transaction
    database, user, superuser, createrole, encoding = conn.execute(sa.text(
        "SELECT current_database(), session_user, r.rolsuper, r.rolcreaterole, "
        "current_setting('server_encoding') FROM pg_roles r WHERE r.rolname = session_user"
    )).one()
    where = f"database {database!r} on {mask_url(url)}"
    if encoding != "UTF8":
        raise LabliftError(f"{where} has encoding {encoding}: a team store needs UTF8 "
                           f"(CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)")
    if not (superuser or createrole):
        raise LabliftError(f"{user!r} cannot initialise {where}: it needs a role with "
                           f"CREATEROLE (or a superuser) to create Lablift's group roles and "
                           f"its users' login roles")
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(INIT_LOCK)))
    tables = conn.execute(sa.text(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON "
        "n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname "
        "NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
        "ORDER BY 1")).scalars().all()
    if tables:
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5
                                         else "")
        raise LabliftError(f"{where} is not empty ({len(tables)} table"
                           f"{'s' if len(tables) != 1 else ''}: {shown}): `{what}` "
                           f"needs an empty database; create one with CREATE DATABASE")

    _upgrade(conn, migrate_mod.HEAD)
    # schema_version was made after the grants of 0004 ran: readable like the rest
    raw.execute("GRANT SELECT ON schema_version TO PUBLIC")

    return database, user


def _init(conn, url: str, artifacts_dir: str | None = None) -> None:
    import json

    import sqlalchemy as sa
    from psycopg import sql

    from .. import audit
    from . import schema, utcnow

    raw = conn.connection.driver_connection  # the same session and transaction
    database, user = prepare_empty(conn, url, "store init")

    # The initialising user is the store's admin (as in an embedded store).
    raw.execute(sql.SQL("GRANT lablift_admin TO {}").format(sql.Identifier(user)))
    conn.execute(schema.users.insert().values(name=user, role="admin", created_at=utcnow(),
                                              created_by=user))
    if artifacts_dir:
        from .blobs import ARTIFACTS_SETTING
        conn.execute(schema.settings.insert().values(key=ARTIFACTS_SETTING,
                                                     value=json.dumps(str(artifacts_dir))))
    details = audit._details_json({"admin": user, "engine": "postgresql",
                                   "schema": migrate_mod.HEAD,
                                   "artifacts": str(artifacts_dir) if artifacts_dir
                                   else "database"})
    conn.execute(sa.select(sa.func.lablift_audit("store.create", f"store:{database}", details)))


# -- info ----------------------------------------------------------------------------------------
def info(url: str) -> dict[str, Any]:
    """engine, server_version, database, schema_version (0: not a team store), user (the
    authenticated session user) and role (their Lablift role, or None)."""
    import psycopg
    with _connect(url) as conn:
        try:
            server_version = conn.execute("SHOW server_version").fetchone()[0]
            database, user = conn.execute("SELECT current_database(), session_user").fetchone()
            schema_version = 0
            if conn.execute("SELECT has_table_privilege(to_regclass('public.alembic_version'), "
                            "'SELECT') IS TRUE").fetchone()[0]:
                row = conn.execute("SELECT version_num FROM public.alembic_version").fetchone()
                if row and str(row[0]).isdigit():
                    schema_version = int(row[0])
            role = None
            if conn.execute("SELECT has_table_privilege(to_regclass('public.users'), 'SELECT') "
                            "IS TRUE").fetchone()[0]:
                row = conn.execute("SELECT role FROM public.users WHERE name = session_user"
                                   ).fetchone()
                role = row[0] if row else None
            if role is None:  # a member the users table does not mirror (granted by hand)
                for name in ROLES:
                    if conn.execute("SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE "
                                    "rolname = %s) THEN pg_has_role(session_user, %s, "
                                    "'MEMBER') ELSE false END",
                                    (f"lablift_{name}", f"lablift_{name}")).fetchone()[0]:
                        role = name
                        break
        except psycopg.Error as exc:
            raise LabliftError(f"cannot read the store at {mask_url(url)}: "
                               f"{_scrub(str(exc), url)}") from None
    return {"engine": "postgresql", "server_version": server_version, "database": database,
            "schema_version": schema_version, "user": user, "role": role}
