"""Rate limits: one budget per client address for every request, and tighter ones where
credentials can be guessed.

The counting is the `limits` library's sliding-window counter, kept in
{%- if cookiecutter.cache == "redis" %} Redis, so every process
and replica draws on the same budgets. While Redis cannot be reached, requests pass
uncounted (`RATE_LIMIT_FAIL_OPEN=true`, the default) or are refused with 503.
{%- else %} this process's
memory: each worker process counts on its own.
{%- endif %}
"""

{% if cookiecutter.cache == "redis" -%}
import logging
{% endif -%}
import math
import time
{%- if cookiecutter.cache == "redis" %}
from collections.abc import Awaitable, Mapping
{%- else %}
from collections.abc import Mapping
{%- endif %}
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItem, parse
{%- if cookiecutter.cache == "redis" %}
from limits.aio.storage import RedisStorage
{%- else %}
from limits.aio.storage import MemoryStorage
{%- endif %}
from limits.aio.strategies import SlidingWindowCounterRateLimiter
{%- if cookiecutter.cache == "redis" %}
from limits.errors import StorageError
from redis.asyncio import Redis
{%- endif %}
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
{%- if cookiecutter.cache == "redis" %}
from app.core.errors import DomainError, TooManyRequestsError, UnavailableError, problem_response
from app.core.logging import EpisodeLog

logger = logging.getLogger(__name__)
{%- else %}
from app.core.errors import DomainError, TooManyRequestsError, problem_response
{%- endif %}


@dataclass(frozen=True, slots=True)
class Rules:
    """Every limit, parsed once from settings."""

    client: RateLimitItem
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    sign_in_client: RateLimitItem
    sign_in_account: RateLimitItem
    refresh_client: RateLimitItem
    refresh_account: RateLimitItem
    register_client: RateLimitItem
    register_account: RateLimitItem
    reset_client: RateLimitItem
    reset_account: RateLimitItem
    verify_client: RateLimitItem
    verify_account: RateLimitItem
{%- endif %}
{%- if cookiecutter.auth in ["api_key", "jwt_and_api_key"] %}
    key_failures_client: RateLimitItem
{%- endif %}

    @classmethod
    def from_settings(cls, settings: Settings) -> "Rules":
        """Each rule gets its field's name as its namespace, so no two share counters."""
        return cls(
            **{
                name: _named(getattr(settings, f"rate_limit_{name}"), name)
                for name in cls.__dataclass_fields__
            }
        )


def _named(text: str, name: str) -> RateLimitItem:
    limit = parse(text)
    return type(limit)(limit.amount, limit.multiples, namespace=name)


class RateLimiter:
    """Counts requests against the rules; a spent budget raises `TooManyRequestsError`."""

{%- if cookiecutter.cache == "redis" %}

    def __init__(self, rules: Rules, client: Redis, *, fail_open: bool) -> None:
        self.rules = rules
        # The limiter shares the cache's connection pool: one set of connections to Redis.
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            connection_pool=client.connection_pool,  # type: ignore[arg-type]  # typed too narrowly
            key_prefix="{{ cookiecutter.project_slug }}:limits",
            wrap_exceptions=True,
        )
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._fail_open = fail_open
        self._outage = EpisodeLog(logger, logging.WARNING)
{%- else %}

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
{%- endif %}

    async def hit(self, limit: RateLimitItem, *key: str) -> None:
        """Count one request; refuse it when the budget is already spent."""
{%- if cookiecutter.cache == "redis" %}
        if not await self._ask(self._limiter.hit(limit, *key)):
{%- else %}
        if not await self._limiter.hit(limit, *key):
{%- endif %}
            await self._refuse(limit, *key)

    async def check(self, limit: RateLimitItem, *key: str) -> None:
        """Refuse when the budget is spent, without counting (see `count`)."""
{%- if cookiecutter.cache == "redis" %}
        if not await self._ask(self._limiter.test(limit, *key)):
{%- else %}
        if not await self._limiter.test(limit, *key):
{%- endif %}
            await self._refuse(limit, *key)

    async def count(self, limit: RateLimitItem, *key: str) -> None:
        """Count a request that already happened, such as a failed password check."""
{%- if cookiecutter.cache == "redis" %}
        await self._ask(self._limiter.hit(limit, *key))
{%- else %}
        await self._limiter.hit(limit, *key)
{%- endif %}

    async def _refuse(self, limit: RateLimitItem, *key: str) -> None:
{%- if cookiecutter.cache == "redis" %}
        try:
            reset_at = (await self._limiter.get_window_stats(limit, *key)).reset_time
        except StorageError:
            reset_at = time.time() + limit.get_expiry()
{%- else %}
        reset_at = (await self._limiter.get_window_stats(limit, *key)).reset_time
{%- endif %}
        raise TooManyRequestsError(refusal_headers(limit, reset_at))
{%- if cookiecutter.cache == "redis" %}

    async def _ask(self, question: Awaitable[bool]) -> bool:
        """The limiter's answer; without Redis, yes (fail open) or 503 (fail closed)."""
        try:
            return await question
        except StorageError as exc:
            self._outage.record("rate limits unavailable: %r", exc.storage_error)
            if not self._fail_open:
                raise UnavailableError(
                    "Rate limits cannot be checked right now; try again shortly.",
                    headers={"Retry-After": "1"},
                ) from None
            return True
{%- endif %}


def refusal_headers(limit: RateLimitItem, reset_at: float) -> Mapping[str, str]:
    """`Retry-After` and the IETF draft's `RateLimit-*` fields for a refused request."""
    seconds = str(max(1, math.ceil(reset_at - time.time())))
    return {
        "Retry-After": seconds,
        "RateLimit-Limit": str(limit.amount),
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": seconds,
        "RateLimit-Policy": f"{limit.amount};w={limit.get_expiry()}",
    }


class ClientRateLimit:
    """ASGI layer: every request outside `/health/` draws on its client address's budget.

    It runs before routing, so a flood costs a counter update per request, not a request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/health/"):
            limiter: RateLimiter = scope["state"]["rate_limiter"]
            client = scope.get("client")
            try:
                await limiter.hit(limiter.rules.client, client[0] if client else "-")
            except DomainError as error:
                response = problem_response(error.status, error.detail, headers=error.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.state.rate_limiter
    return limiter


Limiter = Annotated[RateLimiter, Depends(get_rate_limiter)]
