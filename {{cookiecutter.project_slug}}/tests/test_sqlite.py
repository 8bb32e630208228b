"""SQLite connections are set up for a web service: foreign keys, WAL, and a lock timeout."""

import pytest
from sqlalchemy import text

from app.core.config import Settings
from app.db.engine import create_engine

pytestmark = pytest.mark.anyio


async def test_connection_pragmas(settings: Settings) -> None:
    engine = create_engine(settings)
    async with engine.connect() as connection:
        foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
        journal_mode = await connection.scalar(text("PRAGMA journal_mode"))
        busy_timeout = await connection.scalar(text("PRAGMA busy_timeout"))
    await engine.dispose()

    assert (foreign_keys, journal_mode, busy_timeout) == (1, "wal", 5000)
