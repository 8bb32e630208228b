"""Alembic environment: runs migrations over the application's async engine and settings."""

import asyncio
from logging.config import fileConfig
from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import app.models  # noqa: F401 - registers every table on Base.metadata
from app.core.config import get_settings
from app.db.base import Base
from app.db.types import UTCDateTime

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name)


def _render_item(kind: str, obj: object, autogen: AutogenContext) -> str | Literal[False]:
    """Write the app's column types as plain SQLAlchemy ones, so revisions never import app."""
    if kind == "type" and isinstance(obj, UTCDateTime):
{%- if cookiecutter.database == "mysql" %}
        autogen.imports.add("from sqlalchemy.dialects import mysql")
        return "mysql.DATETIME(fsp=6)"
{%- else %}
        return "sa.DateTime(timezone=True)"
{%- endif %}
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        render_item=_render_item,
{%- if cookiecutter.database == "sqlite" %}
        render_as_batch=True,  # SQLite can alter a table only by copying it
{%- endif %}
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(get_settings().database_url.get_secret_value())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=get_settings().database_url.get_secret_value(),
        target_metadata=Base.metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    asyncio.run(_run_online())
