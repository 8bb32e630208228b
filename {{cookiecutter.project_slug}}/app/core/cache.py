{%- if cookiecutter.cache == "memory" -%}
"""The response cache: ready-made response bodies kept in this process's memory.

Entries live in scopes (one per owner of items, say); invalidating a scope retires all of
its entries at once. A value computed while its scope was invalidated is never stored, so
a reader racing a writer cannot put back what the writer just replaced. Other processes
keep their own copies: they may serve an entry for up to `CACHE_TTL` seconds after a
write elsewhere, which is why a deployment of more than one process wants Redis.
"""

import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol

from cachetools import TTLCache
from fastapi import Depends, Request

_PRUNE_ABOVE = 1024  # remembered generations that trigger a sweep of the expired ones
{%- else -%}
"""The response cache: ready-made response bodies kept in Redis, shared by every process.

Entries live in scopes (one per owner of items, say), each a Redis hash; invalidating a
scope replaces the hash's generation, so every process stops serving its entries at once.
A value computed while its scope was invalidated is never stored, so a reader racing a
writer cannot put back what the writer just replaced. While Redis cannot be reached,
requests go to the database as if nothing were cached, and caching resumes by itself.
"""

import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Protocol

from fastapi import Depends, Request
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.core.config import Settings
from app.core.logging import EpisodeLog

logger = logging.getLogger(__name__)

_REST_SECONDS = 1.0  # after a Redis error, how long requests skip the cache
_PREFIX = "{{ cookiecutter.project_slug }}:cache:"
{%- endif %}

Loader = Callable[[], Awaitable[bytes]]


class Cache(Protocol):
    """What the API needs of a cache; the one implementation below is this variant's."""

    async def fetch(self, scope: str, key: str, load: Loader) -> bytes:
        """The entry `key` of `scope`, made by `load` (and kept) when it is missing."""
        ...

    async def invalidate(self, *scopes: str) -> None:
        """Forget every entry of `scopes`; later fetches, in any process, load afresh."""
        ...
{%- if cookiecutter.cache == "memory" %}


class MemoryCache:
    """Entries in a map bounded by size and age, each tagged with its scope's generation.

    Invalidating a scope gives it a new generation, so its older entries stop matching at
    once. A loader that finishes after an invalidation finds the generation changed and
    keeps its value to itself. A generation is remembered for `ttl` seconds, as long as
    any entry made before it can live.
    """

    def __init__(self, *, ttl: float, max_bytes: int) -> None:
        self._ttl = ttl
        self._entries: TTLCache[tuple[str, str], tuple[int, bytes]] = TTLCache(
            maxsize=max_bytes, ttl=ttl, getsizeof=lambda entry: len(entry[1])
        )
        self._generations: dict[str, tuple[int, float]] = {}  # scope: (generation, since)
        self._next_generation = itertools.count(1).__next__
        self._prune_above = _PRUNE_ABOVE

    async def fetch(self, scope: str, key: str, load: Loader) -> bytes:
        generation = self._generation(scope)
        entry = self._entries.get((scope, key))
        if entry is not None and entry[0] == generation:
            return entry[1]
        value = await load()
        if self._generation(scope) == generation and len(value) <= self._entries.maxsize:
            self._entries[scope, key] = (generation, value)
        return value

    async def invalidate(self, *scopes: str) -> None:
        now = time.monotonic()
        for scope in scopes:
            self._generations[scope] = (self._next_generation(), now)
        if len(self._generations) > self._prune_above:
            self._prune(now)

    def _generation(self, scope: str) -> int:
        record = self._generations.get(scope)
        return 0 if record is None else record[0]

    def _prune(self, now: float) -> None:
        """Forget generations older than any entry can be: those entries have expired."""
        self._generations = {
            scope: record
            for scope, record in self._generations.items()
            if now - record[1] <= self._ttl
        }
        self._prune_above = max(_PRUNE_ABOVE, 2 * len(self._generations))
{%- else %}


# Stores an entry only while the scope still has the generation the reader saw ("" when the
# scope had none yet), and starts the scope's clock when it is new.
_STORE_IF_CURRENT = """
local generation = redis.call('HGET', KEYS[1], '~generation') or ''
if generation ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return 1
"""
_GENERATION = "~generation"


def connect_redis(settings: Settings) -> Redis:
    """A client whose calls give up after `REDIS_TIMEOUT`, without retrying: the cache and
    the rate limiter each know what to do without Redis, and a request must not wait."""
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        retry=Retry(NoBackoff(), 0),
    )


class RedisCache:
    """Each scope is a hash: one field per entry, plus the scope's current generation.

    A read is one round trip (HMGET of the generation and the entry); a store checks the
    generation inside Redis; an invalidation swaps the hash for an empty one with a fresh
    random generation. After a Redis error the cache rests for a second and
    requests go straight to the database, so an outage costs no time per request. An
    invalidation that failed is retried before this process reads from Redis again.
    """

    def __init__(self, client: Redis, *, ttl: int) -> None:
        self._client = client
        self._ttl = ttl
        self._store = client.register_script(_STORE_IF_CURRENT)
        self._resting_until = 0.0
        self._undone: set[str] = set()
        self._outage = EpisodeLog(logger, logging.WARNING)

    async def fetch(self, scope: str, key: str, load: Loader) -> bytes:
        if not await self._usable():
            return await load()
        name = _PREFIX + scope
        try:
            generation, value = await self._client.hmget(name, [_GENERATION, key])
        except RedisError as exc:
            self._rest(exc)
            return await load()
        if isinstance(value, bytes):  # a hit
            return value
        value = await load()
        try:
            await self._store(keys=[name], args=[generation or b"", key, value, self._ttl])
        except RedisError as exc:
            self._rest(exc)
        return value

    async def invalidate(self, *scopes: str) -> None:
        try:
            await self._drop(scopes)
        except RedisError as exc:
            self._undone.update(scopes)
            self._rest(exc)

    async def _drop(self, scopes: Iterable[str]) -> None:
        async with self._client.pipeline(transaction=True) as pipeline:
            for scope in scopes:
                name = _PREFIX + scope
                pipeline.delete(name)
                pipeline.hset(name, _GENERATION, os.urandom(8).hex())
                pipeline.expire(name, self._ttl)
            await pipeline.execute()

    async def _usable(self) -> bool:
        """False while resting after an error, or until failed invalidations went through."""
        if time.monotonic() < self._resting_until:
            return False
        if self._undone:
            try:
                await self._drop(self._undone)
            except RedisError as exc:
                self._rest(exc)
                return False
            self._undone.clear()
        return True

    def _rest(self, exc: RedisError) -> None:
        self._resting_until = time.monotonic() + _REST_SECONDS
        self._outage.record("cache unavailable, serving from the database: %r", exc)
{%- endif %}


async def get_cache(request: Request) -> Cache:
    cache: Cache = request.state.cache
    return cache


ResponseCache = Annotated[Cache, Depends(get_cache)]
