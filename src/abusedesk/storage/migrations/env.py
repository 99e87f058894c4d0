"""Alembic environment: runs migrations on the connection abusedesk hands it."""

from alembic import context
from sqlalchemy import Connection

from abusedesk.storage.db import is_sqlite, make_engine
from abusedesk.storage.search import include_in_schema_comparison


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=context.config.attributes.get("target_metadata"),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_in_schema_comparison,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url or pass a connection")
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    del is_sqlite
