{%- if cookiecutter.database == "postgresql" -%}
"""Running Core statements: the one seam between the services and the database driver.

Each statement is compiled by SQLAlchemy once, then run straight on the pooled asyncpg
connection: on a fast read, SQLAlchemy's per-statement work (execution context, result
wrapping, the hop through a greenlet) costs as much as the query. Bind values go to the
driver as they are, so they must already be its types (aware datetimes, UUIDs), as every
service makes them. Rows come back as asyncpg records, read by column name.

Inside `transaction()` statements take SQLAlchemy's path, which begins the transaction on
the driver before its first statement.
"""

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import ClauseElement, Executable

from app.db.engine import in_transaction

Row = Mapping[Any, Any]
Params = Mapping[str, Any]

# (statement, parameter names) -> SQL text, the names in positional order, the statement
# itself (kept so that its id, part of the key, is never reused)
_compiled: dict[tuple[int, tuple[str, ...]], tuple[str, tuple[str, ...], Executable]] = {}


def _driver_call(
    connection: AsyncConnection, statement: Executable, params: Params
) -> tuple[Any, str, list[Any]]:
    key = (id(statement), tuple(params))
    entry = _compiled.get(key)
    if entry is None:
        dialect = connection.dialect
        compiled = dialect.statement_compiler(  # every Core statement is a ClauseElement
            dialect, cast("ClauseElement", statement), column_keys=list(params)
        )
        entry = _compiled[key] = (str(compiled), tuple(compiled.positiontup or ()), statement)
    sql, names, _ = entry
    driver = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
    return driver, sql, [params[name] for name in names]


async def _run(
    connection: AsyncConnection, method: str, statement: Executable, params: Params
) -> Any:
    """Call the driver's `method` with the statement.

    A timeout, or a failure that leaves the connection closed (the server went away),
    discards the connection and is raised as ConnectionError, answered 503, as on
    SQLAlchemy's path.
    """
    driver, sql, args = _driver_call(connection, statement, params)
    try:
        return await getattr(driver, method)(sql, *args)
    except TimeoutError as error:  # DATABASE_TIMEOUT passed: the server stopped answering
        driver.terminate()
        await connection.invalidate(error)
        raise ConnectionError("no answer within DATABASE_TIMEOUT") from error
    except Exception as error:
        if not driver.is_closed():
            raise
        await connection.invalidate(error)
        raise ConnectionError(str(error)) from error


async def fetch_one(
    connection: AsyncConnection, statement: Executable, params: Params
) -> Row | None:
    """The first row, or None."""
    if in_transaction(connection):
        return (await connection.execute(statement, params)).mappings().first()
    row: Row | None = await _run(connection, "fetchrow", statement, params)
    return row


async def fetch_all(
    connection: AsyncConnection, statement: Executable, params: Params
) -> Sequence[Row]:
    """Every row."""
    if in_transaction(connection):
        return (await connection.execute(statement, params)).mappings().all()
    rows: Sequence[Row] = await _run(connection, "fetch", statement, params)
    return rows


async def execute(connection: AsyncConnection, statement: Executable, params: Params) -> int:
    """Run a write; the number of rows it matched."""
    if in_transaction(connection):
        return (await connection.execute(statement, params)).rowcount
    status: str = await _run(connection, "execute", statement, params)  # e.g. "UPDATE 1"
    return int(status.rpartition(" ")[2])
{%- else -%}
"""Running Core statements: the one seam between the services and the database driver.

Services call these instead of `connection.execute` on their request paths, so that a
faster way to run a statement (as the PostgreSQL variant of this template has) changes
this module only.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable

Row = Mapping[Any, Any]
Params = Mapping[str, Any]


async def fetch_one(
    connection: AsyncConnection, statement: Executable, params: Params
) -> Row | None:
    """The first row, or None."""
    return (await connection.execute(statement, params)).mappings().first()


async def fetch_all(
    connection: AsyncConnection, statement: Executable, params: Params
) -> Sequence[Row]:
    """Every row."""
    return (await connection.execute(statement, params)).mappings().all()


async def execute(connection: AsyncConnection, statement: Executable, params: Params) -> int:
    """Run a write; the number of rows it matched."""
    return (await connection.execute(statement, params)).rowcount
{%- endif %}
