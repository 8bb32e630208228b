{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
"""Events: what changed, for clients that catch up instead of, or after, listening live."""

{% if cookiecutter.websockets == "yes" -%}
import uuid
{% endif -%}
from datetime import timedelta
from typing import Annotated, Any

{% if cookiecutter.websockets == "yes" -%}
from fastapi import APIRouter, Query, WebSocket
{%- else -%}
from fastapi import APIRouter, Query
{%- endif %}
{% if cookiecutter.websockets == "yes" %}
from app.api import stream
{%- endif %}
{%- if cookiecutter.auth != "none" %}
from app.api.deps import ItemsReader
{%- endif %}
from app.core.deps import AppSettings, Connection
from app.schemas.event import EventPage, EventQuery
from app.services import events

router = APIRouter(prefix="/events", tags=["events"])


@router.get(
    "",
    response_model=EventPage,
    summary="List events",
    responses={410: {"description": "The event named in `after` is not kept, or not yours."}},
)
async def list_events(
    query: Annotated[EventQuery, Query()],
{%- if jwt %}
    principal: ItemsReader,
{%- elif cookiecutter.auth == "api_key" %}
    _: ItemsReader,
{%- endif %}
    connection: Connection,
    settings: AppSettings,
) -> dict[str, Any]:
{%- if jwt %}
    """Your events in the order they were written, oldest kept first, or those after the
    event `after`. Events are kept for `EVENT_RETENTION_HOURS`."""
{%- else %}
    """Events in the order they were written, oldest kept first, or those after the event
    `after`. Events are kept for `EVENT_RETENTION_HOURS`."""
{%- endif %}
    retention = timedelta(hours=settings.event_retention_hours)
{%- if jwt %}
    page = await events.replay(connection, principal.user_id, query.after, query.limit, retention)
{%- else %}
    page = await events.replay(connection, query.after, query.limit, retention)
{%- endif %}
    return {"items": page}

{%- if cookiecutter.websockets == "yes" %}


@router.websocket("/ws", name="stream_events")
async def stream_events(websocket: WebSocket, after: uuid.UUID | None = None) -> None:
    """Events as they are written, after those missed since the event `after`; the README's
    "Live events (websocket)" describes the protocol."""
    await stream.serve(websocket, after)
{%- endif %}
