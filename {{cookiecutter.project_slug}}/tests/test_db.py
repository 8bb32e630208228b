"""The database layer: transactions, UTC timestamps, and how many statements a request costs."""

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import Column, MetaData, Table, Uuid, event, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, StatementError
{%- if cookiecutter.database == "postgresql" %}
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import Executable
{%- else %}
from sqlalchemy.ext.asyncio import AsyncEngine
{%- endif %}

from app.core.config import Settings
{%- if cookiecutter.database == "postgresql" %}
from app.db import queries
{%- endif %}
from app.db.engine import create_engine, transaction
from app.db.types import UTCDateTime

pytestmark = pytest.mark.anyio


# A table of the tests' own, so the database layer is tested apart from the app's models.
_probes = Table(
    "db_layer_probes",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
)


@pytest.fixture
async def probes(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    async with engine.begin() as connection:
        await connection.run_sync(_probes.create)
    yield engine
    async with engine.begin() as connection:
        await connection.run_sync(_probes.drop)


def _probe(at: datetime) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "at": at}


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(_probes)) or 0)


async def test_transaction_commits_on_success(settings: Settings, probes: AsyncEngine) -> None:
    engine = create_engine(settings)
    now = datetime.now(UTC)
    async with engine.connect() as connection:
        async with transaction(connection):
            await connection.execute(insert(_probes), [_probe(now), _probe(now)])
        # Back in autocommit: this write is visible to others without a commit.
        await connection.execute(insert(_probes), _probe(now))
        assert await _count(probes) == 3
    await engine.dispose()


async def test_transaction_rolls_back_on_error(settings: Settings, probes: AsyncEngine) -> None:
    engine = create_engine(settings)
    now = datetime.now(UTC)
    async with engine.connect() as connection:
        await connection.execute(select(_probes.c.id))  # an earlier read in the same request

        async def insert_then_fail() -> None:
            async with transaction(connection):
                await connection.execute(insert(_probes), _probe(now))
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await insert_then_fail()
        assert await _count(probes) == 0
        await connection.execute(insert(_probes), _probe(now))
    assert await _count(probes) == 1
    await engine.dispose()


async def test_nested_transactions_join_the_outer_one(
    settings: Settings, probes: AsyncEngine
) -> None:
    engine = create_engine(settings)
    now = datetime.now(UTC)
    async with engine.connect() as connection:

        async def outer_fails_after_inner_succeeds() -> None:
            async with transaction(connection):
                await connection.execute(insert(_probes), _probe(now))
                async with transaction(connection):
                    await connection.execute(insert(_probes), _probe(now))
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await outer_fails_after_inner_succeeds()
    await engine.dispose()

    assert await _count(probes) == 0


async def test_reads_inside_a_transaction_see_one_snapshot_of_own_writes(
    settings: Settings, probes: AsyncEngine
) -> None:
    engine = create_engine(settings)
    now = datetime.now(UTC)
    async with engine.connect() as connection, transaction(connection):
        await connection.execute(insert(_probes), _probe(now))
        inside = await connection.scalar(select(func.count()).select_from(_probes))
        outside = await _count(probes)  # another connection does not see it yet
    await engine.dispose()

    assert (inside, outside) == (1, 0)
    assert await _count(probes) == 1


async def test_datetimes_round_trip_as_utc(probes: AsyncEngine) -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    async with probes.connect() as connection:
        await connection.execute(insert(_probes), _probe(moment))
        await connection.commit()
        stored = await connection.scalar(select(_probes.c.at))

    assert stored == moment
    assert stored is not None
    assert stored.utcoffset() == timedelta(0)


async def test_naive_datetimes_are_refused(probes: AsyncEngine) -> None:
    async with probes.connect() as connection:
        with pytest.raises(StatementError, match="naive datetime"):
            await connection.execute(insert(_probes), _probe(datetime(2026, 1, 1)))


async def test_database_errors_never_carry_the_values_of_their_statement(
    probes: AsyncEngine,
) -> None:
    """Errors are logged with their message: it names the statement, never user data."""
    with pytest.raises(DBAPIError) as failure:
        async with probes.connect() as connection:
            await connection.execute(
                text("INSERT INTO no_such_table (secret) VALUES (:secret)"),
                {"secret": "hunter2-of-a-user"},
            )

    assert "no_such_table" in str(failure.value)
    assert "hunter2-of-a-user" not in str(failure.value)


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while the block runs."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])
{%- if cookiecutter.database == "postgresql" %}

    # The fast path runs statements on the driver, past SQLAlchemy's events.
    to_driver = queries._driver_call

    def record_driver_call(
        connection: AsyncConnection, statement: Executable, params: queries.Params
    ) -> tuple[Any, str, list[Any]]:
        call = to_driver(connection, statement, params)
        statements.append(call[1])
        return call

    queries._driver_call = record_driver_call
{%- endif %}

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)
{%- if cookiecutter.database == "postgresql" %}
        queries._driver_call = to_driver
{%- endif %}
{%- if cookiecutter.auth == "none" %}


async def test_each_request_costs_one_statement(client: AsyncClient) -> None:
    expected = 1
{%- else %}


async def test_each_request_costs_one_statement_plus_one_to_authorize(
    client: AsyncClient,
) -> None:
    expected = 2
    await client.get("/api/v1/items")  # first use of the credentials may record it
{%- endif %}
    with count_statements() as statements:
        created = await client.post("/api/v1/items", json={"title": "counted"})
{%- if cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" %}
    # In one transaction: the item, its event{% if cookiecutter.webhooks == "yes" %}, the webhook endpoints that want it{% endif %}
    written = [statement for statement in statements if not statement.startswith("BEGIN")]
    assert len(written) == expected + {{ 2 if cookiecutter.webhooks == "yes" else 1 }}, statements
{%- else %}
    assert len(statements) == expected, statements
{%- endif %}

    for url in (f"/api/v1/items/{created.json()['id']}", "/api/v1/items"):
        with count_statements() as statements:
            await client.get(url)
        assert len(statements) == expected, (url, statements)
