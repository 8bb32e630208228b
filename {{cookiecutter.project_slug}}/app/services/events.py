{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
"""The event source: changes become events in their own transaction, then reach listeners.

`emit` writes the event beside the change, inside the caller's `transaction()`, so a change
that rolls back leaves no event. Once the transaction commits, the event is handed to the
listeners registered for that engine (the live stream's hub, the webhook dispatcher); one
that fails is logged and the others still run. Events stay readable for
`EVENT_RETENTION_HOURS`, for clients that missed some (`replay`).
{%- if cookiecutter.webhooks == "yes" %}

The webhook deliveries an event calls for are written with it, in the same transaction.
{%- endif %}
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.config import Settings
from app.core.errors import GoneError
from app.db.engine import Database, after_commit
from app.models.event import Event
{%- if cookiecutter.webhooks == "yes" %}
from app.services import webhooks
{%- endif %}

logger = logging.getLogger(__name__)

_INSERT = insert(Event)
_COLUMNS = (Event.id, Event.type, Event.occurred_at, Event.data)
{%- if jwt %}
_MINE = Event.owner_id == bindparam("owner_id")
_SEQ_OF = select(Event.seq).where(
    Event.id == bindparam("after"), _MINE, Event.occurred_at > bindparam("kept_since")
)
_PAGE = select(*_COLUMNS).where(
    _MINE, Event.seq > bindparam("seq"), Event.occurred_at > bindparam("kept_since")
)
{%- else %}
_SEQ_OF = select(Event.seq).where(
    Event.id == bindparam("after"), Event.occurred_at > bindparam("kept_since")
)
_PAGE = select(*_COLUMNS).where(
    Event.seq > bindparam("seq"), Event.occurred_at > bindparam("kept_since")
)
{%- endif %}
_PAGE = _PAGE.order_by(Event.seq).limit(bindparam("limit"))
_PURGE = delete(Event).where(Event.occurred_at < bindparam("before"))

_PRUNE_SECONDS = 3600.0
_GONE = "No event with this id is kept (too old, or never yours); read from the oldest instead."


@dataclass(frozen=True, slots=True)
class Message:
    """A committed event on its way to listeners: `body` is the JSON the clients get."""
{% if jwt %}
    owner_id: uuid.UUID
{%- endif %}
    body: dict[str, Any]


Listener = Callable[[Message], Awaitable[None]]
_listeners: WeakKeyDictionary[Engine, list[Listener]] = WeakKeyDictionary()


def listen(engine: AsyncEngine, listener: Listener) -> Callable[[], None]:
    """Hand every event that commits on `engine` to `listener`; returns how to stop."""
    registered = _listeners.setdefault(engine.sync_engine, [])
    registered.append(listener)
    return partial(registered.remove, listener)
{% if jwt %}

async def emit(
    connection: AsyncConnection, type_: str, data: dict[str, Any], owner_id: uuid.UUID
) -> None:
{%- else %}

async def emit(connection: AsyncConnection, type_: str, data: dict[str, Any]) -> None:
{%- endif %}
    """Write an event of `type_` about `data` (JSON-ready) in the open transaction."""
    now = datetime.now(UTC)
    event_id = uuid.uuid4()
    await connection.execute(
        _INSERT,
{%- if jwt %}
        {"id": event_id, "type": type_, "owner_id": owner_id, "occurred_at": now, "data": data},
{%- else %}
        {"id": event_id, "type": type_, "occurred_at": now, "data": data},
{%- endif %}
    )
    body = {"id": str(event_id), "type": type_, "timestamp": now.isoformat(), "data": data}
{%- if cookiecutter.webhooks == "yes" and jwt %}
    await webhooks.fan_out(connection, body, owner_id)
{%- elif cookiecutter.webhooks == "yes" %}
    await webhooks.fan_out(connection, body)
{%- endif %}
{%- if jwt %}
    message = Message(owner_id=owner_id, body=body)
{%- else %}
    message = Message(body=body)
{%- endif %}
    after_commit(connection, partial(_hand_over, connection.engine.sync_engine, message))


async def _hand_over(engine: Engine, message: Message) -> None:
    for listener in list(_listeners.get(engine, ())):
        try:
            await listener(message)
        except Exception:  # the change is committed: a listener's trouble is its own
            logger.exception("event %s not handed to %r", message.body["id"], listener)
{% if jwt %}

async def replay(
    connection: AsyncConnection,
    owner_id: uuid.UUID,
    after: uuid.UUID | None,
    limit: int,
    retention: timedelta,
) -> list[dict[str, Any]]:
    """`owner_id`'s events written after the event `after` (None: the oldest kept), in
    order; raises GoneError when `after` is not one of theirs that is still kept."""
    params: dict[str, Any] = {"owner_id": owner_id}
{%- else %}

async def replay(
    connection: AsyncConnection, after: uuid.UUID | None, limit: int, retention: timedelta
) -> list[dict[str, Any]]:
    """The events written after the event `after` (None: the oldest kept), in order; raises
    GoneError when `after` is not an event that is still kept."""
    params: dict[str, Any] = {}
{%- endif %}
    kept_since = datetime.now(UTC) - retention
    seq = 0
    if after is not None:
        found = await connection.scalar(
            _SEQ_OF, {**params, "after": after, "kept_since": kept_since}
        )
        if found is None:
            raise GoneError(_GONE)
        seq = found
    rows = await connection.execute(
        _PAGE, {**params, "seq": seq, "kept_since": kept_since, "limit": limit}
    )
    return [
        {"id": row.id, "type": row.type, "timestamp": row.occurred_at, "data": row.data}
        for row in rows
    ]


async def purge(connection: AsyncConnection, before: datetime) -> int:
    """Delete the events written before `before`; return how many there were."""
    return (await connection.execute(_PURGE, {"before": before})).rowcount


async def keep_pruning(database: Database, settings: Settings) -> None:
{%- if cookiecutter.webhooks == "yes" %}
    """Delete the events, and the record of settled webhook deliveries, past their retention
    every hour, until cancelled. Nothing is lost by waiting: `replay` never serves an event
    past its retention anyway."""
{%- else %}
    """Delete the events past their retention every hour, until cancelled. Nothing is lost
    by waiting: `replay` never serves an event past its retention anyway."""
{%- endif %}
    retention = timedelta(hours=settings.event_retention_hours)
    while True:
        await asyncio.sleep(_PRUNE_SECONDS)
        try:
            async with database.connect() as connection:
                await purge(connection, datetime.now(UTC) - retention)
{%- if cookiecutter.webhooks == "yes" %}
                await webhooks.purge(connection, datetime.now(UTC) - retention)
{%- endif %}
        except Exception as error:  # the next round tries again
            logger.warning("cannot delete old events: %r", error)
