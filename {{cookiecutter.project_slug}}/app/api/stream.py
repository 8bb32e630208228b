{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
{%- set keys = cookiecutter.auth in ["api_key", "jwt_and_api_key"] -%}
"""The live event stream (GET /api/v1/events/ws): {% if cookiecutter.auth != "none" %}authenticate, {% endif %}catch up, then follow.

The protocol, its close codes and a client are in the README, "Live events (websocket)".
The stream holds no database connection: it borrows one to {% if cookiecutter.auth != "none" %}check the credential, {% endif %}read
what the client missed{% if cookiecutter.auth != "none" %} and check the credential again, every `WEBSOCKET_RECHECK_SECONDS`{% if jwt %}
and when the access token expires{% endif %}{% endif %}.
"""

import asyncio
import contextlib
import json
{%- if jwt %}
import time
{%- endif %}
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocket, WebSocketDisconnect
{% if cookiecutter.auth != "none" %}
{%- if cookiecutter.auth == "jwt_and_api_key" %}
from app.api.deps import Credential, CredentialKind, stream_caller
{%- else %}
from app.api.deps import Credential, stream_caller
{%- endif %}
from app.core.auth import Principal
{%- endif %}
from app.core.config import Settings
{%- if keys %}
from app.core.errors import GoneError, TooManyRequestsError, UnavailableError
{%- else %}
from app.core.errors import GoneError, UnavailableError
{%- endif %}
{%- if jwt %}
from app.core.tokens import expires_at
{%- endif %}
from app.db.engine import Database
from app.services import events
from app.services.live import Feed, Hub, frame

SUBPROTOCOL = "events"
READY = '{"type":"ready"}'
{%- if cookiecutter.auth != "none" %}
# Credentials offered as a subprotocol beside SUBPROTOCOL, and the fields of the auth message.
{%- if cookiecutter.auth == "jwt" %}
_OFFERED = {"bearer.": "token"}
{%- elif cookiecutter.auth == "api_key" %}
_OFFERED = {"apikey.": "api_key"}
{%- else %}
_OFFERED: dict[str, CredentialKind] = {"bearer.": "token", "apikey.": "api_key"}
{%- endif %}
{%- endif %}
_PAGE = 100  # events read at a time while catching up

# Close codes: 4000 + the HTTP status of the same meaning, and the standard "try again later".
BAD_MESSAGE = 4400
{%- if cookiecutter.auth != "none" %}
NOT_AUTHENTICATED = 4401
FORBIDDEN = 4403
{%- endif %}
NO_PONG = 4408
GONE = 4410
TOO_SLOW = 4413
{%- if keys %}
TOO_MANY_FAILURES = 4429
{%- endif %}
TRY_AGAIN_LATER = 1013
_UNAVAILABLE = "The service is unavailable for a moment; resume from the last event you got."


class StreamEndedError(Exception):
    """Why the server ends a stream, as its close frame tells the client (a reason of 123
    bytes at most)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def serve(websocket: WebSocket, after: uuid.UUID | None) -> None:
    """Run one stream until the client leaves or the server ends it with a close code."""
    settings: Settings = websocket.state.settings
    if not _origin_allowed(websocket, settings):
        await websocket.close()  # before the handshake: the browser sees 403
        return
    offered: list[str] = websocket.scope.get("subprotocols", [])
    await websocket.accept(SUBPROTOCOL if SUBPROTOCOL in offered else None)
    try:
        await _stream(websocket, settings, offered, after)
    except StreamEndedError as closing:
        # A reader that stopped reading gets the close frame only once it reads again.
        with contextlib.suppress(WebSocketDisconnect, TimeoutError):
            async with asyncio.timeout(settings.websocket_pong_seconds):
                await websocket.close(closing.code, closing.reason)
    except WebSocketDisconnect:
        pass  # the client left


def _origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """A browser lets any page open a websocket to anywhere: only pages of CORS_ORIGINS, or
    of this host, may open the stream. Clients that are not browsers send no Origin."""
    origin = websocket.headers.get("origin")
    if origin is None or origin in settings.cors_origins or "*" in settings.cors_origins:
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host")


async def _stream(
    websocket: WebSocket, settings: Settings, offered: list[str], after: uuid.UUID | None
) -> None:
    database: Database = websocket.state.database
    hub: Hub = websocket.state.hub
{%- if cookiecutter.auth != "none" %}
    credential = _offered_credential(offered) or await _auth_message(websocket, settings)
    {% if jwt %}principal = {% endif %}await _authorize(websocket, database, settings, credential)
{%- endif %}
    if not hub.live:
        raise StreamEndedError(TRY_AGAIN_LATER, _UNAVAILABLE)
{%- if jwt %}
    feed = hub.open(principal.user_id)  # before catching up: nothing falls in between
    try:
        replayed = await _catch_up(websocket, database, settings, principal.user_id, after)
{%- else %}
    feed = hub.open()  # before catching up: nothing falls in between
    try:
        replayed = await _catch_up(websocket, database, settings, after)
{%- endif %}
        await websocket.send_text(READY)
        answered = asyncio.Event()
        await _until_one_ends(
            _send(websocket, feed, replayed),
            _hear(websocket, answered),
            _heartbeat(settings, feed, answered),
            _ending(settings, feed),
{%- if cookiecutter.auth != "none" %}
            _watch(websocket, database, settings, credential),
{%- endif %}
        )
    finally:
{%- if jwt %}
        hub.close(principal.user_id, feed)
{%- else %}
        hub.close(feed)
{%- endif %}


async def _receive(websocket: WebSocket) -> str | None:
    """The next message's text (None for a binary one); raises WebSocketDisconnect."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text: str | None = message.get("text")
    return text


def _parsed(text: str | None) -> dict[str, Any]:
    try:
        message = json.loads(text) if text is not None else None
    except ValueError:
        message = None
    return message if isinstance(message, dict) else {}
{%- if cookiecutter.auth != "none" %}


def _offered_credential(offered: list[str]) -> Credential | None:
    for protocol in offered:
{%- if cookiecutter.auth == "jwt_and_api_key" %}
        for prefix, kind in _OFFERED.items():
            if protocol.startswith(prefix) and len(protocol) > len(prefix):
                return kind, protocol.removeprefix(prefix)
{%- else %}
        for prefix in _OFFERED:
            if protocol.startswith(prefix) and len(protocol) > len(prefix):
                return protocol.removeprefix(prefix)
{%- endif %}
    return None


async def _auth_message(websocket: WebSocket, settings: Settings) -> Credential:
    """The credential of the first message, which must come within WEBSOCKET_AUTH_SECONDS."""
    try:
        async with asyncio.timeout(settings.websocket_auth_seconds):
            message = _parsed(await _receive(websocket))
    except TimeoutError:
        raise StreamEndedError(NOT_AUTHENTICATED, "No credential in time.") from None
    if message.get("type") == "auth":
        for kind in _OFFERED.values():
            secret = message.get(kind)
            if isinstance(secret, str) and secret:
{%- if cookiecutter.auth == "jwt_and_api_key" %}
                return kind, secret
{%- else %}
                return secret
{%- endif %}
{%- if cookiecutter.auth == "jwt" %}
    raise StreamEndedError(
        NOT_AUTHENTICATED, 'Authenticate first: {"type": "auth", "token": "<access token>"}.'
    )
{%- elif cookiecutter.auth == "api_key" %}
    raise StreamEndedError(
        NOT_AUTHENTICATED, 'Authenticate first: {"type": "auth", "api_key": "<key>"}.'
    )
{%- else %}
    raise StreamEndedError(
        NOT_AUTHENTICATED, 'Authenticate first: {"type": "auth", "token" or "api_key": "..."}.'
    )
{%- endif %}


async def _authorize(
    websocket: WebSocket, database: Database, settings: Settings, credential: Credential
) -> Principal:
    """The caller, allowed to read items; raises StreamEndedError when the credential is
    not, or no longer, good for that."""
    with _database_trouble():
        async with database.connect() as connection:
{%- if keys %}
            try:
                principal = await stream_caller(websocket, connection, settings, credential)
            except TooManyRequestsError:
                raise StreamEndedError(
                    TOO_MANY_FAILURES, "Too many wrong API keys from your address; try later."
                ) from None
{%- else %}
            principal = await stream_caller(websocket, connection, settings, credential)
{%- endif %}
    if principal is None:
        raise StreamEndedError(NOT_AUTHENTICATED, "The credential is invalid, expired or revoked.")
    if "items:read" not in principal.scopes:
        raise StreamEndedError(FORBIDDEN, "This needs the 'items:read' scope.")
    return principal


async def _watch(
    websocket: WebSocket, database: Database, settings: Settings, credential: Credential
) -> NoReturn:
    """Check the credential again every WEBSOCKET_RECHECK_SECONDS{% if jwt %}, and when the token expires{% endif %}:
    a revoked {% if keys %}key{% endif %}{% if cookiecutter.auth == "jwt_and_api_key" %} or {% endif %}{% if jwt %}sign-in, a deactivated user{% endif %} ends the stream."""
{%- if jwt %}
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    kind, secret = credential
    expires = expires_at(settings, secret) if kind == "token" else None
{%- else %}
    expires = expires_at(settings, credential)
{%- endif %}
{%- endif %}
    while True:
{%- if jwt %}
        delay = settings.websocket_recheck_seconds
        if expires is not None:
            delay = min(delay, expires - time.time())
        await asyncio.sleep(max(delay, 0.0))
{%- else %}
        await asyncio.sleep(settings.websocket_recheck_seconds)
{%- endif %}
        await _authorize(websocket, database, settings, credential)
{%- endif %}


@contextlib.contextmanager
def _database_trouble() -> Iterator[None]:
    """A busy or unreachable database ends the stream with "try again later"."""
    try:
        yield
    except (UnavailableError, SQLAlchemyError, ConnectionError):
        raise StreamEndedError(TRY_AGAIN_LATER, _UNAVAILABLE) from None


async def _catch_up(
    websocket: WebSocket,
    database: Database,
    settings: Settings,
{%- if jwt %}
    owner_id: uuid.UUID,
{%- endif %}
    after: uuid.UUID | None,
) -> set[str]:
    """Send the kept events written after `after`, oldest first, and return their ids: the
    feed, open since before, may bring some of them again."""
    retention = timedelta(hours=settings.event_retention_hours)
    sent: set[str] = set()
    while after is not None:
        with _database_trouble():
            async with database.connect() as connection:
                try:
{%- if jwt %}
                    page = await events.replay(connection, owner_id, after, _PAGE, retention)
{%- else %}
                    page = await events.replay(connection, after, _PAGE, retention)
{%- endif %}
                except GoneError:
                    raise StreamEndedError(
                        GONE, "The event in `after` is not kept; reconnect without it."
                    ) from None
        for body in page:
            await websocket.send_text(frame(body))
            sent.add(str(body["id"]))
        after = page[-1]["id"] if len(page) == _PAGE else None
    return sent


async def _until_one_ends(*parts: Coroutine[Any, Any, NoReturn]) -> NoReturn:
    """Run the parts of a stream together; the first to end (StreamEndedError, or
    WebSocketDisconnect when the client left) ends the others."""
    tasks = [asyncio.create_task(part) for part in parts]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    done.pop().result()
    raise AssertionError("a part of the stream ended without saying why")


async def _send(websocket: WebSocket, feed: Feed, replayed: set[str]) -> NoReturn:
    while True:
        event_id, text = await feed.next()
        if event_id in replayed:
            replayed.discard(event_id)  # sent while catching up; it comes once more at most
        else:
            await websocket.send_text(text)


async def _hear(websocket: WebSocket, answered: asyncio.Event) -> NoReturn:
    while True:
        if _parsed(await _receive(websocket)).get("type") != "pong":
            raise StreamEndedError(BAD_MESSAGE, 'Only {"type": "pong"} is expected now.')
        answered.set()


async def _heartbeat(settings: Settings, feed: Feed, answered: asyncio.Event) -> NoReturn:
    """Ping every WEBSOCKET_PING_SECONDS; a client that does not answer within
    WEBSOCKET_PONG_SECONDS is gone, or stuck."""
    while True:
        await asyncio.sleep(settings.websocket_ping_seconds)
        answered.clear()
        feed.ping()
        try:
            async with asyncio.timeout(settings.websocket_pong_seconds):
                await answered.wait()
        except TimeoutError:
            raise StreamEndedError(NO_PONG, "No pong in time.") from None


async def _ending(settings: Settings, feed: Feed) -> NoReturn:
    if await feed.ended() == "overflow":
        raise StreamEndedError(
            TOO_SLOW,
            f"More than {settings.websocket_send_buffer} events waited for you; resume from "
            "the last one you got.",
        )
    raise StreamEndedError(TRY_AGAIN_LATER, _UNAVAILABLE)
