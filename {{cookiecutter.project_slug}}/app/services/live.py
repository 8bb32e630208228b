{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
"""The live feed: committed events handed to the streams open in this process{% if cookiecutter.cache == "redis" %}, and through
Redis to those of every other process{% endif %}.

Each stream has a `Feed`, a queue of ready-made frames bounded by `WEBSOCKET_SEND_BUFFER`: an
event is serialized once, however many streams get it, and a stream whose reader falls that
far behind is ended instead of growing without limit.
{%- if cookiecutter.cache == "redis" %}

Every process publishes the events its requests commit to one Redis channel and delivers
what it hears there to its own streams. While its subscription is down it takes no new
streams and ends the open ones, so a client never misses an event silently: it reconnects
and resumes after the last event it saw.
{%- else %}

Only this process hears its events: run one process, or choose the Redis cache, which also
carries the events from every process to every other.
{%- endif %}
"""

import asyncio
{%- if cookiecutter.cache == "redis" %}
import contextlib
import json
import logging
{%- endif %}
{%- if jwt %}
import uuid
{%- endif %}
from typing import Any, Literal

from pydantic import TypeAdapter
{%- if cookiecutter.cache == "redis" %}
from redis.asyncio import Redis
from redis.exceptions import RedisError
{%- endif %}
{% if cookiecutter.cache == "redis" %}
from app.core.config import Settings
{%- endif %}
from app.schemas.event import Event
from app.services.events import Message

{%- if cookiecutter.cache == "redis" %}

logger = logging.getLogger(__name__)

CHANNEL = "{{ cookiecutter.project_slug }}:events"
_POLL_SECONDS = 1.0  # how often a quiet subscription checks that Redis is still there
_RETRY_SECONDS = 1.0  # the wait before subscribing again after losing Redis
{%- endif %}

PING = '{"type":"ping"}'
_EVENT = TypeAdapter(Event)

Ending = Literal["overflow", "lost"]


def frame(body: dict[str, Any]) -> str:
    """An event as the JSON text clients get: the `Event` schema's form, exactly what
    GET /api/v1/events lists."""
    return _EVENT.dump_json(_EVENT.validate_python(body)).decode()


class Feed:
    """What one stream has still to send: (event id, frame) pairs, oldest first.

    Pings (id None) wait in the same line, so a client that reads too slowly for its events
    also answers them late; they are never refused, being at most one per heartbeat.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._frames: asyncio.Queue[tuple[str | None, str]] = asyncio.Queue()
        self._ending: asyncio.Future[Ending] = asyncio.get_running_loop().create_future()

    def offer(self, event_id: str, text: str) -> None:
        """Queue an event's frame, or end the feed when its reader is too far behind."""
        if self._frames.qsize() >= self._capacity:
            self.end("overflow")
        elif not self._ending.done():
            self._frames.put_nowait((event_id, text))

    def ping(self) -> None:
        self._frames.put_nowait((None, PING))

    async def next(self) -> tuple[str | None, str]:
        return await self._frames.get()

    def end(self, why: Ending) -> None:
        if not self._ending.done():
            self._ending.set_result(why)

    async def ended(self) -> Ending:
        """Wait until the feed ends, and say why."""
        return await asyncio.shield(self._ending)


class Hub:
{%- if jwt %}
    """The feeds open in this process, by the user whose events they carry."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._feeds: dict[uuid.UUID, set[Feed]] = {}
{%- else %}
    """The feeds open in this process; every one gets every event."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._feeds: set[Feed] = set()
{%- endif %}
{%- if cookiecutter.cache == "redis" %}
        self.live = False  # whether events from every process reach this one
{%- else %}
        self.live = True  # this process hears every event there is
{%- endif %}
{%- if jwt %}

    def open(self, owner_id: uuid.UUID) -> Feed:
        """A new feed of `owner_id`'s events, from now on."""
        feed = Feed(self._capacity)
        self._feeds.setdefault(owner_id, set()).add(feed)
        return feed

    def close(self, owner_id: uuid.UUID, feed: Feed) -> None:
        feeds = self._feeds.get(owner_id, set())
        feeds.discard(feed)
        if not feeds:
            self._feeds.pop(owner_id, None)

    def deliver(self, owner_id: uuid.UUID, event_id: str, text: str) -> None:
        for feed in list(self._feeds.get(owner_id, ())):
            feed.offer(event_id, text)

    def end_all(self, why: Ending) -> None:
        for feeds in self._feeds.values():
            for feed in feeds:
                feed.end(why)
{%- else %}

    def open(self) -> Feed:
        """A new feed of every event, from now on."""
        feed = Feed(self._capacity)
        self._feeds.add(feed)
        return feed

    def close(self, feed: Feed) -> None:
        self._feeds.discard(feed)

    def deliver(self, event_id: str, text: str) -> None:
        for feed in list(self._feeds):
            feed.offer(event_id, text)

    def end_all(self, why: Ending) -> None:
        for feed in self._feeds:
            feed.end(why)
{%- endif %}
{%- if cookiecutter.cache != "redis" %}

    async def hear(self, message: Message) -> None:
        """The listener on the event source: a committed event, to this process's feeds."""
{%- if jwt %}
        self.deliver(message.owner_id, message.body["id"], frame(message.body))
{%- else %}
        self.deliver(message.body["id"], frame(message.body))
{%- endif %}
{%- else %}


class Relay:
    """Carries events between processes through one Redis channel.

    `publish` is the listener on the event source; `run` keeps this process subscribed and
    hands what arrives to its hub. Publishing uses the service's Redis client, whose calls
    give up quickly; the subscription has a connection of its own that waits for messages.
    """

    def __init__(self, hub: Hub, publisher: Redis, subscriber: Redis) -> None:
        self._hub = hub
        self._publisher = publisher
        self._subscriber = subscriber
        self._subscribed = asyncio.Event()

    async def publish(self, message: Message) -> None:
        payload = {
{%- if jwt %}
            "owner_id": str(message.owner_id),
{%- endif %}
            "id": message.body["id"],
            "frame": frame(message.body),
        }
        await self._publisher.publish(CHANNEL, json.dumps(payload))

    async def ready(self, patience: float) -> None:
        """Wait up to `patience` seconds for the subscription, so that a process just started
        takes streams at once; without Redis it starts anyway, and takes them once it is back."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(patience):
                await self._subscribed.wait()

    async def run(self) -> None:
        """Stay subscribed until cancelled; after losing Redis, end every open stream (their
        clients resume from their last event) and subscribe again."""
        while True:
            try:
                await self._listen()
            except (RedisError, OSError) as error:
                logger.warning("live events cannot reach Redis: %r", error)
            self._subscribed.clear()
            self._hub.live = False
            self._hub.end_all("lost")
            await asyncio.sleep(_RETRY_SECONDS)

    async def _listen(self) -> None:
        async with self._subscriber.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            while True:
                message = await pubsub.get_message(timeout=_POLL_SECONDS)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    self._hub.live = True  # from now on every published event arrives
                    self._subscribed.set()
                elif message["type"] == "message":
                    self._deliver(json.loads(message["data"]))

    def _deliver(self, payload: dict[str, str]) -> None:
{%- if jwt %}
        self._hub.deliver(uuid.UUID(payload["owner_id"]), payload["id"], payload["frame"])
{%- else %}
        self._hub.deliver(payload["id"], payload["frame"])
{%- endif %}


def connect_subscriber(settings: Settings) -> Redis:
    """A Redis client for the subscription: it waits for messages as long as it takes, and
    pings Redis when quiet, so a lost connection is noticed."""
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_connect_timeout=settings.redis_timeout,
        health_check_interval=_POLL_SECONDS,
    )
{%- endif %}
