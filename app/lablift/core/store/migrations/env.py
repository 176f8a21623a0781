"""Alembic environment: the connection, already inside the caller's transaction, comes from
core/store/migrate.py, so all revisions of one upgrade commit together or not at all."""

from alembic import context

from lablift.core.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  transaction_per_migration=False,
                  on_version_apply=context.config.attributes.get("on_version_apply"))
with context.begin_transaction():
    context.run_migrations()
