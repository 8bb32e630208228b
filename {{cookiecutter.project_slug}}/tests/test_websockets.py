{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
{%- set keys = cookiecutter.auth in ["api_key", "jwt_and_api_key"] -%}
"""The live event stream, over real sockets to a real server: {% if cookiecutter.auth != "none" %}its ways to authenticate and
be refused, {% endif %}live events in the documented schema, resume without gap or duplicate,
heartbeats, slow readers{% if cookiecutter.auth != "none" %}, revoked credentials{% endif %}{% if cookiecutter.cache == "redis" %} and events from another process{% endif %}."""

import asyncio
{%- if cookiecutter.auth != "none" %}
import json
{%- endif %}
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
{%- if jwt %}
from datetime import UTC, datetime, timedelta
{%- endif %}
from typing import Any

import pytest
import uvicorn
from httpx import AsyncClient
from pydantic import {% if cookiecutter.cache == "redis" %}SecretStr, {% endif %}TypeAdapter
{%- if jwt %}
from sqlalchemy import update
{%- endif %}
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
{%- if cookiecutter.cache == "redis" %}
from websockets.frames import Close
{%- endif %}
from websockets.typing import Origin, Subprotocol

import app.main
from app.api import stream
from app.core.config import Settings
{%- if jwt %}
from app.core.tokens import decode_token, encode_token
{%- endif %}
from app.db.engine import transaction
from app.main import create_app
{%- if jwt %}
from app.models.user import User
{%- endif %}
from app.schemas.event import Event
from app.schemas.item import ItemCreate
{%- if cookiecutter.auth == "jwt" %}
from app.services import events, items, tokens, users
{%- elif cookiecutter.auth == "api_key" %}
from app.services import api_keys, events, items
{%- elif cookiecutter.auth == "jwt_and_api_key" %}
from app.services import api_keys, events, items, tokens, users
{%- else %}
from app.services import events, items
{%- endif %}
from app.services.live import PING
{%- if jwt %}
from tests.conftest import TEST_ORIGIN, sign_in
{%- elif cookiecutter.auth == "api_key" %}
from tests.conftest import TEST_ORIGIN
{%- endif %}
{%- if cookiecutter.cache == "redis" %}
from tests.test_redis import app_process, free_port, redis_server
{%- endif %}

pytestmark = pytest.mark.anyio

STREAM = "/api/v1/events/ws"
ITEMS = "/api/v1/items"
_EVENT = TypeAdapter(Event)
_WAIT = 5.0  # seconds any one expected frame may take
{%- if cookiecutter.auth != "none" %}
Credentials = dict[str, str]
{%- endif %}
Server = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """The test settings, with no heartbeat or recheck getting in the way unless a test asks."""
    return settings.model_copy(
        update={
            "websocket_ping_seconds": 60.0,
            "websocket_pong_seconds": 5.0,
{%- if cookiecutter.auth != "none" %}
            "websocket_auth_seconds": 5.0,
            "websocket_recheck_seconds": 60.0,
{%- endif %}
        }
    )


@pytest.fixture
{%- if cookiecutter.auth != "none" %}
def server(quick: Settings, credentials: Credentials) -> Server:
{%- else %}
def server(quick: Settings, clean_tables: AsyncEngine) -> Server:
{%- endif %}
    """Run the app in uvicorn, in this event loop, on a free loopback port; yields its
    address. Keyword arguments change the settings; `kernel_buffer` bounds the bytes each
    connection's socket holds for sending."""

    @asynccontextmanager
    async def running(kernel_buffer: int | None = None, **changes: Any) -> AsyncIterator[str]:
        config = uvicorn.Config(
            create_app(quick.model_copy(update=changes)),
            log_config=None,
            ws_ping_interval=None,  # the protocol's own pings; the stream has its own
            timeout_graceful_shutdown=1,
        )
        served = uvicorn.Server(config)
        with socket.socket() as listening:
            if kernel_buffer is not None:  # connections inherit it
                listening.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, kernel_buffer)
            listening.bind(("127.0.0.1", 0))
            task = asyncio.create_task(served.serve(sockets=[listening]))
            while not served.started:
                assert not task.done(), "the server did not start"
                await asyncio.sleep(0.01)
            try:
                yield "127.0.0.1:{}".format(*listening.getsockname()[1:])
            finally:
                served.should_exit = True
                await task

    return running
{%- if cookiecutter.auth != "none" %}


@pytest.fixture
async def http(credentials: Credentials) -> Callable[[str], AsyncClient]:
    """An HTTP client for a running server, with the test's credentials."""

    def client(address: str) -> AsyncClient:
        return AsyncClient(base_url=f"http://{address}", headers=credentials)

    return client
{%- else %}


@pytest.fixture
def http() -> Callable[[str], AsyncClient]:
    """An HTTP client for a running server."""

    def client(address: str) -> AsyncClient:
        return AsyncClient(base_url=f"http://{address}")

    return client
{%- endif %}
{%- if jwt %}


def _secret(credentials: Credentials) -> str:
    return credentials["Authorization"].removeprefix("Bearer ")


def _auth(secret: str) -> str:
    return json.dumps({"type": "auth", "token": secret})


def _offer(secret: str) -> list[Subprotocol]:
    return [Subprotocol("events"), Subprotocol(f"bearer.{secret}")]
{%- elif cookiecutter.auth == "api_key" %}


def _secret(credentials: Credentials) -> str:
    return credentials["X-API-Key"]


def _auth(secret: str) -> str:
    return json.dumps({"type": "auth", "api_key": secret})


def _offer(secret: str) -> list[Subprotocol]:
    return [Subprotocol("events"), Subprotocol(f"apikey.{secret}")]
{%- endif %}


async def _connect(
    address: str, after: str | None = None, offer: list[Subprotocol] | None = None, **options: Any
) -> ClientConnection:
    query = "" if after is None else f"?after={after}"
    return await connect(
        f"ws://{address}{STREAM}{query}", subprotocols=offer, ping_interval=None, **options
    )


async def _frame(websocket: ClientConnection) -> dict[str, Any]:
    received = await asyncio.wait_for(websocket.recv(), _WAIT)
    assert isinstance(received, str)
    frame: dict[str, Any] = _EVENT.validate_json(received).model_dump(mode="json")
    return frame


def _title(text: str) -> str:
    title: str = _EVENT.validate_json(text).model_dump()["data"]["title"]
    return title


async def _ready(websocket: ClientConnection) -> list[str]:
    """The frames before `ready`, raw: what a resumed stream sends while catching up."""
    before: list[str] = []
    while (received := await asyncio.wait_for(websocket.recv(), _WAIT)) != stream.READY:
        assert isinstance(received, str)
        before.append(received)
    return before


async def _until_closed(websocket: ClientConnection) -> tuple[int, str, int]:
    """The close code and reason, and how many frames came first."""
    frames = 0
    try:
        while True:
            await asyncio.wait_for(websocket.recv(), _WAIT)
            frames += 1
    except ConnectionClosed as closed:
        ending = closed.rcvd
    assert ending is not None
    return ending.code, ending.reason, frames


async def _closed(websocket: ClientConnection) -> tuple[int, str]:
    code, reason, _ = await _until_closed(websocket)
    return code, reason
{%- if cookiecutter.auth != "none" %}


async def _open(address: str, secret: str, after: str | None = None) -> ClientConnection:
    """A stream authenticated by its first message, once the server said it is ready."""
    websocket = await _connect(address, after)
    await websocket.send(_auth(secret))
    await _ready(websocket)
    return websocket
{%- else %}


async def _open(address: str, after: str | None = None) -> ClientConnection:
    """A stream, once the server said it is ready."""
    websocket = await _connect(address, after)
    await _ready(websocket)
    return websocket
{%- endif %}


{%- if cookiecutter.auth != "none" %}


async def test_events_arrive_live_exactly_as_the_api_lists_them(
    server: Server, http: Callable[[str], AsyncClient], credentials: Credentials
) -> None:
    async with server() as address, http(address) as client:
        websocket = await _open(address, _secret(credentials))
{%- else %}


async def test_events_arrive_live_exactly_as_the_api_lists_them(
    server: Server, http: Callable[[str], AsyncClient]
) -> None:
    async with server() as address, http(address) as client:
        websocket = await _open(address)
{%- endif %}
        created = (await client.post(ITEMS, json={"title": "draft"})).json()
        await client.patch(f"{ITEMS}/{created['id']}", json={"title": "final"})
        await client.delete(f"{ITEMS}/{created['id']}")

        live = [await _frame(websocket) for _ in range(3)]
        listed = (await client.get("/api/v1/events")).json()["items"]
        await websocket.close()

    assert [event["type"] for event in live] == ["item.created", "item.updated", "item.deleted"]
    assert live == listed
{%- if cookiecutter.auth != "none" %}


async def test_a_credential_offered_as_a_subprotocol_is_never_echoed(
    server: Server, http: Callable[[str], AsyncClient], credentials: Credentials
) -> None:
    async with server() as address, http(address) as client:
        websocket = await _connect(address, offer=_offer(_secret(credentials)))
        assert websocket.subprotocol == "events"
        await _ready(websocket)
        await client.post(ITEMS, json={"title": "seen"})
        assert (await _frame(websocket))["data"]["title"] == "seen"
        await websocket.close()


async def test_no_credential_in_time_is_refused_with_4401(server: Server) -> None:
    async with server(websocket_auth_seconds=0.2) as address:
        websocket = await _connect(address)
        assert await _closed(websocket) == (4401, "No credential in time.")


@pytest.mark.parametrize(
    "message",
    [
        '{"type": "auth"}',
        '{"type": "auth", "token": "not-a-token", "api_key": "sk_000000000000_nope"}',
        '{"type": "pong"}',
        "not json",
    ],
)
async def test_a_missing_or_invalid_credential_is_refused_with_4401(
    server: Server, message: str
) -> None:
    async with server() as address:
        websocket = await _connect(address)
        await websocket.send(message)
        code, reason = await _closed(websocket)
    assert code == 4401
    assert reason


async def test_an_invalid_credential_offered_as_a_subprotocol_is_refused(server: Server) -> None:
    async with server() as address:
        websocket = await _connect(address, offer=_offer("sk_000000000000_wrong"))
        code, _ = await _closed(websocket)
    assert code == 4401
{%- endif %}
{%- if keys %}
{%- if cookiecutter.auth == "jwt_and_api_key" %}


async def _new_key(
    settings: Settings, engine: AsyncEngine, credentials: Credentials, scopes: set[str]
) -> dict[str, Any]:
    """A new API key of the signed-in user, holding `scopes`."""
    async with engine.connect() as connection:
        owner = decode_token(settings, _secret(credentials), "access")
        assert owner is not None
        return await api_keys.create_key(
            connection, settings, "stream", scopes, None, TEST_ORIGIN, owner.user_id
        )
{%- else %}


async def _new_key(settings: Settings, engine: AsyncEngine, scopes: set[str]) -> dict[str, Any]:
    """A new API key holding `scopes`."""
    async with engine.connect() as connection:
        return await api_keys.create_key(connection, settings, "stream", scopes, None, TEST_ORIGIN)
{%- endif %}


async def test_a_key_without_the_read_scope_is_refused_with_4403(
    server: Server, settings: Settings, clean_tables: AsyncEngine, credentials: Credentials
) -> None:
    created = await _new_key(settings, clean_tables{{ ", credentials" if jwt }}, {"items:write"})
    async with server() as address:
        websocket = await _connect(
            address, offer=[Subprotocol("events"), Subprotocol(f"apikey.{created['key']}")]
        )
        assert await _closed(websocket) == (4403, "This needs the 'items:read' scope.")
{%- endif %}


async def test_a_page_of_another_site_may_not_open_the_stream(server: Server) -> None:
    async with server(cors_origins=["https://app.example.com"]) as address:
        with pytest.raises(InvalidStatus) as refused:
            await _connect(address, origin=Origin("https://evil.example.com"))
        assert refused.value.response.status_code == 403
        for allowed in ("https://app.example.com", f"http://{address}"):  # listed, or this host
            await (await _connect(address, origin=Origin(allowed))).close()
{%- if jwt %}


async def test_a_user_hears_only_of_their_own_changes(
    server: Server,
    http: Callable[[str], AsyncClient],
    settings: Settings,
    clean_tables: AsyncEngine,
    credentials: Credentials,
) -> None:
    async with clean_tables.connect() as connection:
        other = await users.create_user(
            connection, "other@example.com", "another password", TEST_ORIGIN
        )
        pair = await tokens.issue_pair(connection, settings, other["id"], version=0)
    async with server() as address, http(address) as client:
        mine = await _open(address, _secret(credentials))
        theirs = await _open(address, pair["access_token"])
        client.headers["Authorization"] = f"Bearer {pair['access_token']}"
        await client.post(ITEMS, json={"title": "theirs"})
        client.headers.update(credentials)
        await client.post(ITEMS, json={"title": "mine"})

        assert (await _frame(mine))["data"]["title"] == "mine"
        assert (await _frame(theirs))["data"]["title"] == "theirs"
        await mine.close()
        await theirs.close()
{%- endif %}


{%- if cookiecutter.auth != "none" %}


async def test_a_client_resumes_after_the_last_event_it_saw_without_gap_or_duplicate(
    server: Server, http: Callable[[str], AsyncClient], credentials: Credentials
) -> None:
    secret = _secret(credentials)
    async with server() as address, http(address) as client:
        websocket = await _open(address, secret)
{%- else %}


async def test_a_client_resumes_after_the_last_event_it_saw_without_gap_or_duplicate(
    server: Server, http: Callable[[str], AsyncClient]
) -> None:
    async with server() as address, http(address) as client:
        websocket = await _open(address)
{%- endif %}
        await client.post(ITEMS, json={"title": "one"})
        seen = await _frame(websocket)
        await websocket.close()
        for title in ("two", "three"):
            await client.post(ITEMS, json={"title": title})

{%- if cookiecutter.auth != "none" %}
        resumed = await _connect(address, after=seen["id"])
        await resumed.send(_auth(secret))
{%- else %}
        resumed = await _connect(address, after=seen["id"])
{%- endif %}
        missed = [
            _EVENT.validate_json(text).model_dump(mode="json") for text in await _ready(resumed)
        ]
        await client.post(ITEMS, json={"title": "four"})
        live = await _frame(resumed)
        listed = (await client.get("/api/v1/events")).json()["items"]
        await resumed.close()

    assert [event["data"]["title"] for event in missed] == ["two", "three"]
    assert live["data"]["title"] == "four"
    assert [seen, *missed, live] == listed
{%- if cookiecutter.auth != "none" %}


async def test_resuming_from_an_event_not_kept_is_refused_with_4410(
    server: Server, credentials: Credentials
) -> None:
    async with server() as address:
        websocket = await _connect(address, after=str(uuid.uuid4()))
        await websocket.send(_auth(_secret(credentials)))
{%- else %}


async def test_resuming_from_an_event_not_kept_is_refused_with_4410(server: Server) -> None:
    async with server() as address:
        websocket = await _connect(address, after=str(uuid.uuid4()))
{%- endif %}
        code, reason = await _closed(websocket)
    assert code == 4410
    assert "not kept" in reason


async def test_an_after_that_is_not_an_event_id_is_refused_at_the_handshake(
    server: Server,
) -> None:
    async with server() as address:
        with pytest.raises(InvalidStatus) as refused:
            await _connect(address, after="yesterday")
    assert refused.value.response.status_code == 403


async def test_events_committed_while_catching_up_come_once(
    server: Server,
    http: Callable[[str], AsyncClient],
    monkeypatch: pytest.MonkeyPatch,
{%- if cookiecutter.auth != "none" %}
    credentials: Credentials,
{%- endif %}
) -> None:
    """The feed opens before the catch-up reads: an event written in between is in both,
    and is sent once."""
    replay = events.replay
    async with server() as address, http(address) as client:

        async def replay_then_write(*args: Any) -> list[dict[str, Any]]:
            page = await replay(*args)
            await client.post(ITEMS, json={"title": "meanwhile"})  # committed, heard live
            return [*page, *(await replay(*args))[len(page) :]]
{%- if cookiecutter.auth != "none" %}

        websocket = await _open(address, _secret(credentials))
{%- else %}

        websocket = await _open(address)
{%- endif %}
        await client.post(ITEMS, json={"title": "first"})
        first = await _frame(websocket)
        await websocket.close()
        monkeypatch.setattr(events, "replay", replay_then_write)
        resumed = await _connect(address, after=first["id"])
{%- if cookiecutter.auth != "none" %}
        await resumed.send(_auth(_secret(credentials)))
{%- endif %}
        missed = await _ready(resumed)
        monkeypatch.setattr(events, "replay", replay)
        await client.post(ITEMS, json={"title": "after"})
        following = await _frame(resumed)
        await resumed.close()

    assert [_title(text) for text in missed] == ["meanwhile"]
    assert following["data"]["title"] == "after"  # "meanwhile" was not sent twice
{%- if cookiecutter.auth != "none" %}


async def test_the_server_pings_and_closes_a_client_that_stops_answering(
    server: Server, credentials: Credentials
) -> None:
{%- else %}


async def test_the_server_pings_and_closes_a_client_that_stops_answering(server: Server) -> None:
{%- endif %}
    async with server(websocket_ping_seconds=0.1, websocket_pong_seconds=0.3) as address:
{%- if cookiecutter.auth != "none" %}
        websocket = await _open(address, _secret(credentials))
{%- else %}
        websocket = await _open(address)
{%- endif %}
        for _ in range(5):  # answered pings keep the stream open
            assert await asyncio.wait_for(websocket.recv(), _WAIT) == PING
            await websocket.send('{"type": "pong"}')
        code, reason = await _closed(websocket)  # pings go on, unanswered
    assert code == 4408
    assert reason == "No pong in time."


async def test_a_client_that_stops_reading_is_closed_not_buffered_without_end(
    server: Server,
    http: Callable[[str], AsyncClient],
{%- if cookiecutter.auth != "none" %}
    credentials: Credentials,
{%- endif %}
) -> None:
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, soon full
    async with (
        server(kernel_buffer=4096, websocket_send_buffer=4) as address,
        http(address) as client,
    ):
        host, port = address.split(":")
        slow.connect((host, int(port)))
        slow.setblocking(False)
        # Frames as they are, uncompressed, and a client that takes one in at a time.
        websocket = await _connect(address, sock=slow, max_queue=1, compression=None)
{%- if cookiecutter.auth != "none" %}
        await websocket.send(_auth(_secret(credentials)))
{%- endif %}
        await _ready(websocket)
        # Stop reading while events worth far more than the socket buffers are written.
        for batch in range(8):
            await asyncio.gather(
                *(
                    client.post(ITEMS, json={"title": f"{batch}.{n}", "description": "x" * 2000})
                    for n in range(10)
                )
            )
        code, reason, received = await _until_closed(websocket)
    assert code == 4413
    assert reason.startswith("More than 4 events waited for you")
    assert received < 80
{%- if jwt %}


async def test_a_stream_ends_when_its_sign_in_is_logged_out(
    server: Server, http: Callable[[str], AsyncClient]
) -> None:
    async with server(websocket_recheck_seconds=0.1) as address, http(address) as client:
        pair = await sign_in(client)
        websocket = await _open(address, pair["access_token"])
        ended = await client.post(
            "/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}
        )
        assert ended.status_code == 204, ended.text
        code, reason = await _closed(websocket)
    assert code == 4401
    assert reason == "The credential is invalid, expired or revoked."


async def test_a_stream_ends_when_its_user_is_deactivated(
    server: Server, clean_tables: AsyncEngine, credentials: Credentials
) -> None:
    async with server(websocket_recheck_seconds=0.1) as address:
        websocket = await _open(address, _secret(credentials))
        async with clean_tables.connect() as connection:
            await connection.execute(update(User).values(is_active=False))
        code, _ = await _closed(websocket)
    assert code == 4401


async def test_a_stream_ends_when_its_access_token_expires(
    server: Server, settings: Settings, credentials: Credentials
) -> None:
    claims = decode_token(settings, _secret(credentials), "access")
    assert claims is not None
    now = datetime.now(UTC)
    short_lived = encode_token(
        settings,
        kind="access",
        user_id=claims.user_id,
        version=claims.version,
        token_id=uuid.uuid4(),
        issued_at=now,
        expires_at=now + timedelta(seconds=3),  # whole seconds: 2 to 3 from now
        family_id=claims.family_id,
    )
    async with server() as address:  # rechecks a minute apart: only the expiry can end it
        websocket = await _open(address, short_lived)
        code, _ = await _closed(websocket)
    assert code == 4401
{%- endif %}
{%- if keys %}


async def test_a_stream_ends_when_its_api_key_is_revoked(
    server: Server, settings: Settings, clean_tables: AsyncEngine, credentials: Credentials
) -> None:
    created = await _new_key(settings, clean_tables{{ ", credentials" if jwt }}, {"items:read"})
    async with server(websocket_recheck_seconds=0.1) as address:
        websocket = await _connect(address)
        await websocket.send(json.dumps({"type": "auth", "api_key": created["key"]}))
        await _ready(websocket)
        async with clean_tables.connect() as connection:
{%- if cookiecutter.auth == "jwt_and_api_key" %}
            await api_keys.revoke_key(connection, created["id"], TEST_ORIGIN, None)
{%- else %}
            await api_keys.revoke_key(connection, created["id"], TEST_ORIGIN)
{%- endif %}
        code, _ = await _closed(websocket)
    assert code == 4401
{%- endif %}


async def _create_then_fail(connection: AsyncConnection{% if jwt %}, owner: uuid.UUID{% endif %}) -> None:
    async with transaction(connection):
        await items.create_item(connection, ItemCreate(title="lost"){% if jwt %}, owner{% endif %})
        raise RuntimeError("the request failed after the change")


async def test_a_change_rolled_back_sends_nothing(
    server: Server,
    clean_tables: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
{%- if jwt %}
    settings: Settings,
{%- endif %}
{%- if cookiecutter.auth != "none" %}
    credentials: Credentials,
{%- endif %}
) -> None:
    monkeypatch.setattr(app.main, "create_engine", lambda _: clean_tables)  # the test's changes
{%- if jwt %}
    claims = decode_token(settings, _secret(credentials), "access")
    assert claims is not None
{%- endif %}
    async with server() as address:
{%- if cookiecutter.auth != "none" %}
        websocket = await _open(address, _secret(credentials))
{%- else %}
        websocket = await _open(address)
{%- endif %}
        async with clean_tables.connect() as connection:
            with pytest.raises(RuntimeError):
                await _create_then_fail(connection{% if jwt %}, claims.user_id{% endif %})
            await items.create_item(connection, ItemCreate(title="kept"){% if jwt %}, claims.user_id{% endif %})
        assert (await _frame(websocket))["data"]["title"] == "kept"
        await websocket.close()
{%- if cookiecutter.cache == "redis" %}


async def test_an_event_committed_in_one_process_reaches_a_stream_held_by_another(
    settings: Settings,
{%- if cookiecutter.auth != "none" %}
    credentials: Credentials,
{%- else %}
    clean_tables: AsyncEngine,
{%- endif %}
) -> None:
    async with app_process(settings) as first, app_process(settings) as second:
{%- if cookiecutter.auth != "none" %}
        websocket = await _open(second.removeprefix("http://"), _secret(credentials))
        async with AsyncClient(base_url=first, headers=credentials) as client:
{%- else %}
        websocket = await _open(second.removeprefix("http://"))
        async with AsyncClient(base_url=first) as client:
{%- endif %}
            created = (await client.post(ITEMS, json={"title": "across"})).json()
        heard = await _frame(websocket)
        await websocket.close()
    assert heard["data"] == created


async def test_streams_end_when_redis_is_lost_so_clients_resume_rather_than_miss_events(
    server: Server{% if cookiecutter.auth != "none" %}, credentials: Credentials{% else %},{% endif %}
) -> None:
    port = free_port()
    async with server(redis_url=SecretStr(f"redis://127.0.0.1:{port}/0")) as address:
        with redis_server(port):
            refusals: list[Close | None] = []
            for _ in range(100):  # refused until the server's subscription is up
{%- if cookiecutter.auth != "none" %}
                websocket = await _connect(address, offer=_offer(_secret(credentials)))
{%- else %}
                websocket = await _connect(address)
{%- endif %}
                try:
                    await _ready(websocket)
                    break
                except ConnectionClosed as refused:
                    refusals.append(refused.rcvd)
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the stream never became ready")
            assert {refusal.code for refusal in refusals if refusal} <= {1013}
        code, _ = await _closed(websocket)  # Redis is gone
    assert code == 1013
{%- endif %}
