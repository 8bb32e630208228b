{%- if cookiecutter.cache == "redis" -%}
"""Readiness: can the service reach its database (needed) and Redis (wanted) right now?"""
{%- else -%}
"""Readiness: can the service reach its database right now?"""
{%- endif %}

import asyncio
import logging
{% if cookiecutter.cache == "redis" %}
from redis.asyncio import Redis
from redis.exceptions import RedisError
{%- endif %}
from sqlalchemy import text

from app.core.errors import RETRY_OUTAGE, UnavailableError
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
        raise UnavailableError(
            "The database did not answer in time.", headers={"Retry-After": RETRY_OUTAGE}
        ) from None
{%- if cookiecutter.cache == "redis" %}


async def redis_answers(client: Redis, seconds: float) -> bool:
    """Whether Redis answers a PING within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            await client.ping()
    except (RedisError, TimeoutError) as exc:
        logger.warning("readiness: the cache is unreachable: %r", exc)
        return False
    return True
{%- endif %}
