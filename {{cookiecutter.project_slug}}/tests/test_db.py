"""The database layer: transactions, UTC timestamps, and how many statements a request costs."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.db.engine import create_engine, transaction
from app.models import Item

pytestmark = pytest.mark.anyio


def _row(title: str, created_at: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "title": title,
        "description": None,
        "version": 1,
        "created_at": created_at,
        "updated_at": created_at,
    }


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(Item)) or 0)


async def test_transaction_commits_on_success(
    settings: Settings, clean_tables: AsyncEngine
) -> None:
    engine = create_engine(settings)
    now = datetime.now(UTC)
    async with engine.connect() as connection:
        async with transaction(connection):
            await connection.execute(insert(Item), [_row("a", now), _row("b", now)])
        # Back in autocommit: this write is visible to others without a commit.
        await connection.execute(insert(Item), _row("c", now))
        assert await _count(clean_tables) == 3
    await engine.dispose()


async def test_transaction_rolls_back_on_error(
    settings: Settings, clean_tables: AsyncEngine
) -> None:
    engine = create_engine(settings)
    now = datetime.now(UTC)
    async with engine.connect() as connection:
        await connection.execute(select(Item.id))  # an earlier read in the same request

        async def insert_then_fail() -> None:
            async with transaction(connection):
                await connection.execute(insert(Item), _row("doomed", now))
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await insert_then_fail()
        assert await _count(clean_tables) == 0
        await connection.execute(insert(Item), _row("after", now))
    assert await _count(clean_tables) == 1
    await engine.dispose()


async def test_datetimes_round_trip_as_utc(clean_tables: AsyncEngine) -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    async with clean_tables.connect() as connection:
        await connection.execute(insert(Item), _row("tz", moment))
        await connection.commit()
        stored = await connection.scalar(select(Item.created_at))

    assert stored == moment
    assert stored is not None
    assert stored.utcoffset() == timedelta(0)


async def test_naive_datetimes_are_refused(clean_tables: AsyncEngine) -> None:
    async with clean_tables.connect() as connection:
        with pytest.raises(StatementError, match="naive datetime"):
            await connection.execute(insert(Item), _row("naive", datetime(2026, 1, 1)))


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while the block runs."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def test_each_request_costs_one_statement(client: AsyncClient) -> None:
    with count_statements() as statements:
        created = await client.post("/api/v1/items", json={"title": "counted"})
    assert len(statements) == 1

    for url in (f"/api/v1/items/{created.json()['id']}", "/api/v1/items"):
        with count_statements() as statements:
            await client.get(url)
        assert len(statements) == 1, (url, statements)
