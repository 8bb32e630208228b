"""The async engine, the fair queue in front of its pool, and the one way to run several
statements as a unit.

The engine runs in autocommit: a read is one round trip with no BEGIN, no COMMIT and no
ROLLBACK when the connection goes back to the pool. Writes that need more than one
statement to be atomic say so with `transaction()`.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

{% if cookiecutter.database != "mysql" -%}
from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
{% endif -%}
{% if cookiecutter.database == "postgresql" -%}
from sqlalchemy.exc import DisconnectionError
{% endif -%}
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
{%- if cookiecutter.database == "sqlite" %}
from sqlalchemy.pool import ConnectionPoolEntry
{%- endif %}

from app.core.config import Settings
from app.core.errors import BusyError
from app.core.logging import EpisodeLog

logger = logging.getLogger(__name__)

_open_transaction: ContextVar[AsyncConnection | None] = ContextVar("open_transaction", default=None)


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the engine; no connection is opened until the first statement."""
{%- if cookiecutter.database == "mysql" %}
    return create_async_engine(
{%- else %}
    engine = create_async_engine(
{%- endif %}
        settings.database_url.get_secret_value(),
        echo=settings.database_echo,
        hide_parameters=True,  # errors and logs name statements, never the values in them
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        skip_autocommit_rollback=True,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=settings.database_pool_timeout,
{%- if cookiecutter.database == "postgresql" %}
        # A server that stops answering costs a request this long, not forever.
        connect_args={
            "timeout": settings.database_timeout,  # to connect
            "command_timeout": settings.database_timeout,  # for each statement
        },
{%- elif cookiecutter.database == "mysql" %}
        pool_recycle=3600,  # below the server's wait_timeout, which drops idle connections
        # A server that stops answering costs a request this long, not forever.
        connect_args={
            "connect_timeout": settings.database_timeout,
            "read_timeout": settings.database_timeout,  # for each answer to a statement
        },
{%- endif %}
    )
{%- if cookiecutter.database == "postgresql" %}
    event.listen(engine.sync_engine, "checkout", _replace_if_closed)
    return engine


def _replace_if_closed(dbapi_connection: DBAPIConnection, *_: object) -> None:
    """A pooled connection that the server or the network closed (a restart, a failover) is
    replaced before a request gets it. asyncpg knows without a round trip to the server."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError  # the pool connects anew
{%- elif cookiecutter.database == "sqlite" %}
    event.listen(engine.sync_engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    """Per connection: enforce foreign keys, let readers run beside a writer, wait on locks."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.close()
{%- endif %}


class Database:
    """The engine behind a first-come, first-served queue for its pooled connections.

    SQLAlchemy's pool hands a freed connection to whichever task asks next, so under a
    burst larger than the pool some requests would wait far longer than others. Here the
    waiting happens in a FIFO queue sized to the pool: every request waits its turn, for at
    most `database_pool_timeout` seconds, and only then is answered 503 "busy", which is
    told apart from a database that cannot be reached.
    """

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._turns = asyncio.Semaphore(settings.database_pool_size)
        self._patience = settings.database_pool_timeout
        self._busy = EpisodeLog(logger, logging.WARNING)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection, held until the block ends; wait your turn for one."""
        if not self._turns.locked():  # a connection is free: no queue, no timer
            await self._turns.acquire()
        else:
            try:
                async with asyncio.timeout(self._patience):
                    await self._turns.acquire()
            except TimeoutError:
                self._busy.record("no database connection free within %ss", self._patience)
                raise BusyError from None
        try:
            async with self._engine.connect() as connection:
{%- if cookiecutter.database == "postgresql" %}
                try:
                    yield connection
                except (TimeoutError, ConnectionError) as lost:
                    # asyncpg's timeouts, and connections lost on the fast path, arrive here
                    # past SQLAlchemy, which would pool the connection again: discard it.
                    await connection.invalidate(lost)
                    raise
        except TimeoutError:  # connecting, or a statement, outlived DATABASE_TIMEOUT
            raise ConnectionError("no answer within DATABASE_TIMEOUT") from None
{%- else %}
                yield connection
{%- endif %}
        finally:
            self._turns.release()

    async def dispose(self) -> None:
        await self._engine.dispose()


def in_transaction(connection: AsyncConnection) -> bool:
    """Whether `connection` is inside a `transaction()` block."""
    return _open_transaction.get() is connection


@asynccontextmanager
async def transaction(connection: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """Run the block in one database transaction: all of it commits, or none of it.

    The connection leaves autocommit for the block and returns to it afterwards, so the
    reads before and after stay single round trips. A block inside another block on the
    same connection joins the outer transaction.
    """
    if in_transaction(connection):
        yield connection
        return
    if connection.in_transaction():
        await connection.commit()  # close SQLAlchemy's autobegun marker; autocommit did the rest
    await connection.execution_options(
        isolation_level=connection.dialect.default_isolation_level,
    )
    token = _open_transaction.set(connection)
    try:
        async with connection.begin():
{%- if cookiecutter.database == "sqlite" %}
            # pysqlite would only begin before the first write; reads belong inside too.
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
{%- endif %}
            yield connection
    finally:
        _open_transaction.reset(token)
        await connection.execution_options(isolation_level="AUTOCOMMIT")
