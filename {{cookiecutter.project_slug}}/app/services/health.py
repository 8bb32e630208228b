"""Readiness: can the service reach its database right now?"""

import asyncio
import logging

from sqlalchemy import text

from app.core.errors import UnavailableError
from app.db.engine import Database

logger = logging.getLogger(__name__)

_PING = text("SELECT 1")


async def check_database(database: Database, seconds: float) -> None:
    """Raise `UnavailableError` unless a trivial query answers within `seconds`."""
    try:
        async with asyncio.timeout(seconds), database.connect() as connection:
            await connection.execute(_PING)
    except Exception as exc:  # any failure, driver or timeout, means "not ready"
        logger.warning("readiness check failed: %r", exc)
        raise UnavailableError("The database did not answer in time.") from None
