"""SQLAlchemy Core statements compiled once per engine and run on the raw driver connection.

Repositories (core/store/*.py) write their SQL as Core constructs over schema.py, so one
statement serves SQLite and PostgreSQL. Executing through SQLAlchemy's Connection costs
~20-40 µs a statement in Python, more than the statement itself on SQLite, and recording a
run takes a dozen statements: so a Statement compiles its construct once per dialect (SQL
text, parameter order, defaults) and then hands that text straight to sqlite3 or psycopg.

Importing SQLAlchemy and building the constructs takes about a second, longer than most
commands: so core modules reach statements through `repository(name)`, whose statements
on SQLite read their compiled text from compiled_sqlite.py (generated from the constructs:
`python -m lablift.core.store.sql`; tests/test_store_sql.py fails when it is stale), and
import the repository module and SQLAlchemy only for PostgreSQL.
"""

from __future__ import annotations

import importlib
from typing import Any

_DIALECTS: dict[str, Any] = {}


def _dialect(engine: str):
    if not _DIALECTS:
        from sqlalchemy.dialects import postgresql, sqlite
        _DIALECTS.update(sqlite=sqlite.dialect(paramstyle="qmark"),
                         postgresql=postgresql.psycopg.dialect())
    return _DIALECTS[engine]


class Statement:
    """One Core construct; `.sql(engine)` compiles it for that engine once."""

    __slots__ = ("construct", "_compiled")

    def __init__(self, construct):
        self.construct = construct
        self._compiled: dict[str, tuple[str, tuple[str, ...], dict[str, Any], bool]] = {}

    def sql(self, engine: str) -> tuple[str, tuple[str, ...], dict[str, Any], bool]:
        """(SQL text, parameter names, default values, positional?)."""
        compiled = self._compiled.get(engine)
        if compiled is None:
            c = self.construct.compile(dialect=_dialect(engine),
                                       compile_kwargs={"render_postcompile": True})
            # positional: the parameter order; named: every name (a missing value is NULL)
            order = tuple(c.positiontup) if c.positional else tuple(c.params)
            defaults = {k: v for k, v in c.params.items() if v is not None}
            compiled = self._compiled[engine] = (c.string, order, defaults, c.positional)
        return compiled

    def execute(self, conn, engine: str, params: dict[str, Any] | None = None):
        """Run on a raw DBAPI connection (sqlite3 or psycopg); returns the cursor."""
        text, names, defaults, positional = self.sql(engine)
        values = {**defaults, **params} if params else defaults
        if positional:
            return conn.execute(text, tuple(values.get(k) for k in names))
        return conn.execute(text, {k: values.get(k) for k in names})


def inserted_id(cursor, engine: str) -> int:
    """The new row's key: SQLite's rowid, or the RETURNING column PostgreSQL's insert has."""
    return cursor.lastrowid if engine == "sqlite" else cursor.fetchone()[0]


Compiled = tuple  # (SQL text, parameter names, defaults, positional?)


class LazyStatement(Statement):
    """A repository statement named by (module, name[, key]), built only when needed."""

    __slots__ = ("module", "name", "key")

    def __init__(self, module: str, name: str, key: Any = None):
        super().__init__(None)
        self.module, self.name, self.key = module, name, key

    @property
    def qualified(self) -> str:
        return qualified_name(self.module, self.name, self.key)

    def sql(self, engine: str) -> Compiled:
        compiled = self._compiled.get(engine)
        if compiled is None:
            if engine == "sqlite":
                from .compiled_sqlite import SQL
                compiled = SQL.get(self.qualified)
            if compiled is None:
                compiled = self._real().sql(engine)
            self._compiled[engine] = compiled
        return compiled

    def _real(self) -> Statement:
        value = getattr(importlib.import_module(f"lablift.core.store.{self.module}"), self.name)
        return value[self.key] if self.key is not None else value


def qualified_name(module: str, name: str, key: Any = None) -> str:
    return f"{module}.{name}" + ("" if key is None else f"[{key!r}]")


class _Family:
    """A dict of statements in a repository module (e.g. runs.LISTING), looked up lazily."""

    def __init__(self, module: str, name: str):
        self._module, self._name = module, name
        self._items: dict = {}

    def __getitem__(self, key) -> LazyStatement:
        found = self._items.get(key)
        if found is None:
            found = self._items[key] = LazyStatement(self._module, self._name, key)
        return found


class repository:  # noqa: N801  (reads like a module: dataset_sql = repository("datasets"))
    """Lazy stand-in for a repository module: `.NAME` is its statement NAME, `.FAMILY[key]`
    one statement of a dict of them (names of dicts are listed in FAMILIES)."""

    FAMILIES = {"runs": ("LISTING",), "registry": ("VERSIONS",)}

    def __init__(self, module: str):
        self._module = module
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        found = self._cache.get(name)
        if found is None:
            if name in self.FAMILIES.get(self._module, ()):
                found = _Family(self._module, name)
            else:
                found = LazyStatement(self._module, name)
            self._cache[name] = found
        return found


def compile_all(engine: str = "sqlite") -> dict[str, Compiled]:
    """Every repository statement's compiled form, by qualified name."""
    import pkgutil

    from . import __path__ as package_path
    out: dict[str, Compiled] = {}
    for info in sorted(pkgutil.iter_modules(package_path), key=lambda i: i.name):
        if info.name in ("sql", "schema", "migrate", "team", "compiled_sqlite", "migrations"):
            continue
        module = importlib.import_module(f"lablift.core.store.{info.name}")
        for name, value in sorted(vars(module).items()):
            if isinstance(value, Statement):
                out[qualified_name(info.name, name)] = value.sql(engine)
            elif isinstance(value, dict) and value and all(
                    isinstance(v, Statement) for v in value.values()):
                for key, statement in sorted(value.items(), key=lambda kv: repr(kv[0])):
                    out[qualified_name(info.name, name, key)] = statement.sql(engine)
    return out


def render_compiled_sqlite() -> str:
    lines = ['"""Generated by `python -m lablift.core.store.sql`: the SQLite text of every',
             'repository statement (core/store/sql.py says why). Do not edit."""', "",
             "SQL = {"]
    for name, compiled in compile_all("sqlite").items():
        lines.append(f"    {name!r}: {compiled!r},")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    # the package's own module, not this __main__ copy (whose Statement class is another)
    from lablift.core.store import sql as package_sql
    target = Path(__file__).with_name("compiled_sqlite.py")
    target.write_text(package_sql.render_compiled_sqlite(), encoding="utf-8")
    print(f"wrote {target}")
