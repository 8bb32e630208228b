{%- set events = cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" -%}
{%- set dispatched = cookiecutter.webhooks == "yes" and cookiecutter.jobs == "none" -%}
{%- set relayed = cookiecutter.websockets == "yes" and cookiecutter.cache == "redis" -%}
"""Application factory: wires settings, lifespan, middleware, routers and error handling.

Run it with `uvicorn app.main:create_app --factory`. Importing this module does nothing.
"""

{% if events -%}
import asyncio
import contextlib
{% endif -%}
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
{%- if cookiecutter.cache == "redis" %}
from redis.asyncio import Redis
{%- endif %}
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import __version__
from app.api import health, v1
from app.api.openapi import install_problem_openapi
{%- if cookiecutter.cache == "redis" %}
from app.core.cache import Cache, RedisCache, connect_redis
{%- elif cookiecutter.cache == "memory" %}
from app.core.cache import Cache, MemoryCache
{%- endif %}
from app.core.config import Settings, get_settings
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.middleware import EdgeMiddleware, ProblemCORSMiddleware
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from app.core.passwords import ShedPasswordChecks, configure_hashing
{%- endif %}
from app.core.ratelimit import ClientRateLimit, RateLimiter, Rules
from app.db.engine import Database, create_engine
{%- if cookiecutter.websockets == "yes" %}
from app.services import events, live
{%- elif events %}
from app.services import events
{%- endif %}
{%- if cookiecutter.webhooks == "yes" and cookiecutter.jobs == "none" %}
from app.services.deliveries import Dispatcher
{%- endif %}

# What a browser page on an allowed origin may send, and may read of the answer.
CORS_REQUEST_HEADERS = [
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    "Authorization",
{%- endif %}
    "Content-Type",
    "If-Match",
    "If-None-Match",
{%- if cookiecutter.auth in ["api_key", "jwt_and_api_key"] %}
    "X-API-Key",
{%- endif %}
    "X-Request-ID",
]
CORS_RESPONSE_HEADERS = [
    "ETag",
    "Location",
    "RateLimit-Limit",
    "RateLimit-Policy",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
{%- if cookiecutter.auth != "none" %}
    "WWW-Authenticate",
{%- endif %}
    "X-Request-ID",
]
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}

# The endpoints (all POST) that check a password: refused at the door while hashing is full.
PASSWORD_CHECKS = frozenset(
    {
        "/api/v1/auth/token",
        "/api/v1/auth/register",
        "/api/v1/auth/password-reset/confirm",
        "/api/v1/users/me/password",
        "/api/v1/users/me/email",
{%- if cookiecutter.auth == "jwt_and_api_key" %}
        "/api/v1/api-keys",
{%- endif %}
    }
)
{%- endif %}


class State(TypedDict):
    """What the lifespan hands to every request as `request.state`."""

    database: Database
    settings: Settings
{%- if cookiecutter.cache != "none" %}
    cache: Cache
{%- endif %}
{%- if cookiecutter.cache == "redis" %}
    redis: Redis
{%- endif %}
    rate_limiter: RateLimiter
{%- if cookiecutter.websockets == "yes" %}
    hub: live.Hub
{%- endif %}
{%- if events %}


class EventWork:
    """The events' background work: pruning{{ ", webhook sending" if dispatched }}{{ ", live streams" if cookiecutter.websockets == "yes" }}."""

    def __init__(self, database: Database, settings: Settings{{ ", redis: Redis" if relayed }}) -> None:
        self._database = database
        self._settings = settings
{%- if cookiecutter.websockets == "yes" %}
        self.hub = live.Hub(settings.websocket_send_buffer)
{%- endif %}
{%- if relayed %}
        self._subscriber = live.connect_subscriber(settings)
        self._relay = live.Relay(self.hub, redis, self._subscriber)
{%- endif %}
{%- if dispatched %}
        self._dispatcher = Dispatcher(database, settings)
{%- endif %}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the background work{{ "; return once the relay listens to Redis" if relayed }}."""
{%- if relayed %}
        self._tasks.append(asyncio.create_task(self._relay.run()))
        await self._relay.ready(self._settings.redis_timeout)
        self._stop_listening = events.listen(self._database.engine, self._relay.publish)
{%- elif cookiecutter.websockets == "yes" %}
        self._stop_listening = events.listen(self._database.engine, self.hub.hear)
{%- endif %}
        self._tasks.append(asyncio.create_task(events.keep_pruning(self._database, self._settings)))
{%- if dispatched %}
        self._dispatching = asyncio.create_task(self._dispatcher.run())
{%- endif %}

    async def stop(self) -> None:
        """{{ "Let deliveries in flight finish, then stop" if dispatched else "Stop" }} the rest{{ " and close the Redis subscriber" if relayed }}."""
{%- if cookiecutter.websockets == "yes" %}
        self._stop_listening()
{%- endif %}
{%- if dispatched %}
        self._dispatcher.stop()
        await self._dispatching
{%- endif %}
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
{%- if relayed %}
        await self._subscriber.aclose()
{%- endif %}
{%- endif %}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; connections and logging start in the lifespan, not here."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        configure_logging(settings.log_level, json_lines=settings.log_json)
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
        hasher = configure_hashing(settings.password_hash_threads, settings.password_hash_backlog)
{%- endif %}
        database = Database(create_engine(settings), settings)
{%- if cookiecutter.cache == "redis" %}
        redis = connect_redis(settings)
        cache = RedisCache(redis, ttl=settings.cache_ttl)
        rate_limiter = RateLimiter(
            Rules.from_settings(settings), redis, fail_open=settings.rate_limit_fail_open
        )
{%- elif cookiecutter.cache == "memory" %}
        cache = MemoryCache(ttl=settings.cache_ttl, max_bytes=settings.cache_max_bytes)
        rate_limiter = RateLimiter(Rules.from_settings(settings))
{%- else %}
        rate_limiter = RateLimiter(Rules.from_settings(settings))
{%- endif %}
{%- if events %}
        background = EventWork(database, settings{{ ", redis" if relayed }})
        await background.start()
{%- endif %}
        # Everything built so far lives as long as the process: keep the collector off it,
        # and collect young objects less often than the default of every 700 allocations.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        try:
            yield {
                "database": database,
                "settings": settings,
{%- if cookiecutter.cache != "none" %}
                "cache": cache,
{%- endif %}
{%- if cookiecutter.cache == "redis" %}
                "redis": redis,
{%- endif %}
                "rate_limiter": rate_limiter,
{%- if cookiecutter.websockets == "yes" %}
                "hub": background.hub,
{%- endif %}
            }
        finally:
{%- if events %}
            await background.stop()
{%- endif %}
            await database.dispose()
{%- if cookiecutter.cache == "redis" %}
            await redis.aclose()
{%- endif %}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
            hasher.shutdown()
{%- endif %}

    app = FastAPI(
        title={{ cookiecutter.project_name | python_string }},
        description={{ cookiecutter.description | python_string }},
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,  # a redirect would echo the Host header; 404 is the answer
        openapi_url="/openapi.json" if settings.serve_docs else None,
        # No OpenTelemetry here: FastAPI's native telemetry would check for providers on
        # every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    install_problem_openapi(app)
    app.include_router(health.router)
    for router in v1.ROUTERS:
        app.include_router(router, prefix=v1.PREFIX)
{%- if cookiecutter.webhooks == "yes" %}
    app.webhooks.include_router(v1.webhooks.RECEIVERS)
{%- endif %}

    # Added innermost first: each add_middleware call wraps everything added before it.
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    app.add_middleware(ShedPasswordChecks, paths=PASSWORD_CHECKS)
{%- endif %}
    app.add_middleware(ClientRateLimit)
    if settings.cors_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
        )
    if settings.trusted_proxies:
        app.add_middleware(
            ProxyHeadersMiddleware, trusted_hosts=[str(proxy) for proxy in settings.trusted_proxies]
        )
    app.add_middleware(
        EdgeMiddleware,
        allowed_hosts=settings.trusted_hosts,
        max_body_bytes=settings.max_body_bytes,
        constant_answers={"/health/live": health.ALIVE},
    )
    return app
