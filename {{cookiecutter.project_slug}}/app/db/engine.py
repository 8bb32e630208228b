{%- set events = cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" -%}
"""The async engine, the fair queue in front of its pool, and the one way to run several
statements as a unit.

The engine runs in autocommit: a read is one round trip with no BEGIN, no COMMIT and no
ROLLBACK when the connection goes back to the pool. Writes that need more than one
statement to be atomic say so with `transaction()`.
"""

import asyncio
import logging
import time
{%- if events %}
from collections.abc import AsyncIterator, Awaitable, Callable
{%- else %}
from collections.abc import AsyncIterator
{%- endif %}
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy import event
{% if cookiecutter.database == "postgresql" -%}
from sqlalchemy.engine.interfaces import DBAPIConnection, ExceptionContext, IsolationLevel
from sqlalchemy.exc import DisconnectionError
{% elif cookiecutter.database == "mysql" -%}
from sqlalchemy.engine.interfaces import ExceptionContext, IsolationLevel
{% else -%}
from sqlalchemy.engine.interfaces import DBAPIConnection, ExceptionContext, IsolationLevel
{% endif -%}
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
{%- if cookiecutter.database == "sqlite" %}
from sqlalchemy.pool import ConnectionPoolEntry
{%- endif %}

from app.core.config import Settings
from app.core.errors import BusyError
from app.core.logging import EpisodeLog

logger = logging.getLogger(__name__)

_WARM_SECONDS = 1.0  # how long a given-back connection waits for the next request

_open_transaction: ContextVar[AsyncConnection | None] = ContextVar("open_transaction", default=None)
{%- if events %}
# What to run once the open transaction has committed (see `after_commit`).
_on_commit: ContextVar[list[Callable[[], Awaitable[None]]]] = ContextVar("on_commit")
{%- endif %}


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
    event.listen(engine.sync_engine, "handle_error", _drop_if_cut_off)
    return engine


def _replace_if_closed(dbapi_connection: DBAPIConnection, *_: object) -> None:
    """A pooled connection that the server or the network closed (a restart, a failover) is
    replaced before a request gets it. asyncpg knows without a round trip to the server."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError  # the pool connects anew


def _closed_by_server(connection: AsyncConnection) -> bool:
    """The same check for a connection handed from one request to the next."""
    return bool(connection.sync_connection.connection.driver_connection.is_closed())  # type: ignore[union-attr]


def _drop_if_cut_off(context: ExceptionContext) -> Exception | None:
    """A statement that timed out or was cancelled leaves the connection waiting on a server
    that may never answer: close it now (SQLAlchemy would wait up to 2 s to close it
    politely). asyncpg reports DATABASE_TIMEOUT as a bare TimeoutError, which SQLAlchemy
    would let pass with the connection pooled again: make it a lost connection."""
    cut_off = context.original_exception
    if not isinstance(cut_off, TimeoutError | asyncio.CancelledError):
        return None
    if context.connection is not None:
        context.connection.connection.driver_connection.terminate()  # type: ignore[union-attr]
    if isinstance(cut_off, asyncio.CancelledError):
        return None  # SQLAlchemy discards the connection itself
    context.is_disconnect = True  # discard it, but not the rest of the pool: closing
    context.invalidate_pool_on_disconnect = False  # those could wait on a silent server
    return ConnectionError("no answer within DATABASE_TIMEOUT")
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

    A connection a request gives back goes straight to the next request, skipping the
    pool's checkout and return (a good share of a fast read). One left unused for
    `_WARM_SECONDS` goes back to the pool, which checks it before it is used again.
    """

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._turns = asyncio.Semaphore(settings.database_pool_size)
        self._patience = settings.database_pool_timeout
        self._busy = EpisodeLog(logger, logging.WARNING)
        self._warm: list[tuple[AsyncConnection, float]] = []  # (connection, given back at)
        self._lost_at = 0.0  # when a connection was last found lost
        event.listen(engine.sync_engine, "handle_error", self._note_lost_connection)
{%- if events %}

    @property
    def engine(self) -> AsyncEngine:
        return self._engine
{%- endif %}

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
            connection = await self._take()
            try:
                yield connection
            finally:
                await self._give_back(connection)
        finally:
            self._turns.release()

    async def _take(self) -> AsyncConnection:
        """The connection given back last if it is still warm, else one from the pool."""
        now = time.monotonic()
        while self._warm:
            connection, given_back_at = self._warm.pop()
            fresh = self._lost_at < given_back_at and now - given_back_at < _WARM_SECONDS
{%- if cookiecutter.database == "postgresql" %}
            if fresh and not _closed_by_server(connection):
{%- else %}
            if fresh:
{%- endif %}
                return connection
            await connection.close()  # the pool checks it before anyone gets it again
        try:
            return await self._engine.connect()
        except TimeoutError as error:  # connecting took longer than DATABASE_TIMEOUT
            raise ConnectionError("no answer within DATABASE_TIMEOUT") from error

    async def _give_back(self, connection: AsyncConnection) -> None:
        task = asyncio.current_task()
        if connection.invalidated or (task is not None and task.cancelling()):
            await connection.close()  # a statement may have been cut off: let the pool decide
            return
        if connection.in_transaction():
            try:
                await connection.rollback()  # end SQLAlchemy's marker; autocommit kept the writes
            except BaseException:
                await connection.close()
                raise
        self._warm.append((connection, time.monotonic()))

    def _note_lost_connection(self, context: ExceptionContext) -> None:
        """A lost connection may mean the server restarted, taking the warm ones with it:
        those go back to the pool, which replaces them as it sees fit."""
        if context.is_disconnect:
            self._lost_at = time.monotonic()

    async def dispose(self) -> None:
        while self._warm:
            await self._warm.pop()[0].close()
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
    await _switch_isolation(connection, connection.dialect.default_isolation_level)
    token = _open_transaction.set(connection)
{%- if events %}
    committed: list[Callable[[], Awaitable[None]]] = []
    on_commit = _on_commit.set(committed)
{%- endif %}
    try:
        async with connection.begin():
{%- if cookiecutter.database == "sqlite" %}
            # pysqlite would only begin before the first write; reads belong inside too.
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
{%- endif %}
            yield connection
    finally:
        _open_transaction.reset(token)
{%- if events %}
        _on_commit.reset(on_commit)
{%- endif %}
        if not connection.invalidated:  # a lost connection is discarded, not switched back
            await _switch_isolation(connection, "AUTOCOMMIT")
{%- if events %}
    for callback in committed:  # reached only once the commit succeeded
        await callback()


def after_commit(connection: AsyncConnection, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` once the `transaction()` open on `connection` has committed; never if
    it rolls back. Only inside such a block: a change outside one commits on its own."""
    if not in_transaction(connection):
        raise RuntimeError("after_commit() needs an open transaction() on this connection")
    _on_commit.get().append(callback)
{%- endif %}


async def _switch_isolation(connection: AsyncConnection, level: IsolationLevel | None) -> None:
    """SQLAlchemy runs the switch (a statement on some databases) outside its error
    handling: a driver error here means the connection is lost."""
    try:
        await connection.execution_options(isolation_level=level)
    except connection.dialect.loaded_dbapi.Error as error:
        await connection.invalidate(error)
        raise ConnectionError(str(error)) from error
