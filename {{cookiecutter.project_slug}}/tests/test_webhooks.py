{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
{%- set queue = cookiecutter.jobs == "queue" -%}
"""Webhooks end to end: the registry, then deliveries to a real HTTP server on loopback
{%- if queue %}, sent by
real worker processes{% else %}, sent
by the app's in-process dispatcher{% endif %}: signed, retried, bounded, refused where they must be."""

import asyncio
import base64
import contextlib
import hashlib
import hmac
{%- if queue %}
import json
{%- endif %}
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from app.core.config import Settings
{%- if queue %}
from app.db.engine import Database, create_engine
{%- endif %}
from app.main import create_app
{%- if cookiecutter.auth != "none" %}
from app.models.audit_event import AuditEvent
{%- endif %}
{%- if queue %}
from app.models.task import Task
{%- endif %}
from app.models.webhook import WebhookDelivery
from app.schemas.event import Event
from app.schemas.item import ItemCreate
from app.schemas.webhook import EVENT_TYPES, TEST_EVENT, WebhookTest
{%- if cookiecutter.auth == "api_key" %}
from app.services import api_keys, deliveries, items, webhooks
{%- elif cookiecutter.auth == "jwt_and_api_key" %}
from app.services import api_keys, deliveries, items, tokens, users, webhooks
{%- elif cookiecutter.auth == "jwt" %}
from app.services import deliveries, items, tokens, users, webhooks
{%- else %}
from app.services import deliveries, items, webhooks
{%- endif %}
{%- if queue %}
from tests import test_worker
{%- endif %}
{%- if jwt %}
from tests.conftest import TEST_ORIGIN, USER_PASSWORD, Serve
{%- elif cookiecutter.auth == "api_key" %}
from tests.conftest import TEST_ORIGIN, Serve
{%- else %}
from tests.conftest import Serve
{%- endif %}
from tests.test_events import _create_then_fail

pytestmark = pytest.mark.anyio

HOOKS = "/api/v1/webhooks"
ITEMS = "/api/v1/items"
PATIENCE = 30.0  # seconds any one expected outcome may take on a busy machine
_EVENT = TypeAdapter(Event)
Running = Callable[[Settings], AbstractAsyncContextManager[AsyncClient]]
{%- if queue %}

# The worker processes and their queue, from the worker's tests.
queue_settings = test_worker.queue_settings
new_worker = test_worker.new_worker
{%- endif %}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"thanks"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    target: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A real HTTP server on a free loopback port. It answers with `replies` in turn (the
    last one again and again) and keeps every request it got."""

    def __init__(self) -> None:
        self.replies = [Reply()]
        self.received: list[Received] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            reply = self.replies[min(len(self.received), len(self.replies) - 1)]
            self.received.append(Received(head[0], headers, body, time.monotonic()))
            await asyncio.sleep(reply.delay)
            extra = "".join(f"{name}: {value}\r\n" for name, value in reply.headers.items())
            writer.write(
                f"HTTP/1.1 {reply.status} Whatever\r\nContent-Length: {len(reply.body)}\r\n"
                f"Connection: close\r\n{extra}\r\n".encode()
                + reply.body
            )
            await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = Receiver()
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    """Quick retries, and the test's own receiver on loopback allowed."""
    return settings.model_copy(
        update={
            "webhook_allowed_hosts": ["127.0.0.1"],
            "webhook_retry_base": 0.2,
            "webhook_retry_cap": 0.4,
            "webhook_max_attempts": 3,
            "webhook_timeout": 1.0,
            "webhook_max_response_bytes": 16,
            "webhook_disable_after": 2,
{%- if not queue %}
            "webhook_poll_interval": 0.05,
{%- endif %}
        }
    )
{%- if queue %}


def _worker_environment(settings: Settings) -> dict[str, str]:
    return {
        "WEBHOOK_ALLOWED_HOSTS": json.dumps(settings.webhook_allowed_hosts),
        "WEBHOOK_RETRY_BASE": str(settings.webhook_retry_base),
        "WEBHOOK_RETRY_CAP": str(settings.webhook_retry_cap),
        "WEBHOOK_MAX_ATTEMPTS": str(settings.webhook_max_attempts),
        "WEBHOOK_TIMEOUT": str(settings.webhook_timeout),
        "WEBHOOK_MAX_RESPONSE_BYTES": str(settings.webhook_max_response_bytes),
        "WEBHOOK_DISABLE_AFTER": str(settings.webhook_disable_after),
    }


@pytest.fixture
def running(serve: Serve, new_worker: test_worker.NewWorker) -> Running:
    """The app with `settings`, and a worker process that sends with the same."""

    @asynccontextmanager
    async def run(settings: Settings) -> AsyncIterator[AsyncClient]:
        new_worker(**_worker_environment(settings)).start()
        async with serve(create_app(settings)) as http:
            yield http

    return run
{%- else %}


@pytest.fixture
def running(serve: Serve) -> Running:
    """The app with `settings`; its lifespan runs the dispatcher that sends."""

    @asynccontextmanager
    async def run(settings: Settings) -> AsyncIterator[AsyncClient]:
        async with serve(create_app(settings)) as http:
            yield http

    return run
{%- endif %}


@pytest.fixture
async def api(running: Running, hook_settings: Settings) -> AsyncIterator[AsyncClient]:
    async with running(hook_settings) as http:
        yield http


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {PATIENCE:.0f} s: {what}")
        await asyncio.sleep(0.05)


async def register(http: AsyncClient, url: str, *types: str) -> dict[str, Any]:
    response = await http.post(HOOKS, json={"url": url, "event_types": list(types or EVENT_TYPES)})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def attempts(http: AsyncClient, endpoint_id: str, count: int) -> list[dict[str, Any]]:
    """The endpoint's attempts, newest first, once there are `count` of them."""
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        nonlocal found
        response = await http.get(f"{HOOKS}/{endpoint_id}/deliveries")
        assert response.status_code == 200, response.text
        found = response.json()["items"]
        return len(found) >= count and found[0]["state"] != "sending"

    await until(enough, f"{count} attempt(s) recorded")
    return found


async def test_an_endpoint_is_created_read_changed_and_deleted_and_its_secret_shown_once(
    client: AsyncClient, clean_tables: AsyncEngine
) -> None:
    created = await register(client, "https://hooks.example.com/a", "item.created")
    secret = created.pop("secret")
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert created["event_types"] == ["item.created"]
    assert created["enabled"] is True
    assert created["failures"] == 0

    url = f"{HOOKS}/{created['id']}"
    read = await client.get(url)
    assert read.json() == created
    listed = await client.get(HOOKS)
    assert listed.json()["items"] == [created]
    assert "secret" not in str(listed.json()) + read.text

    changed = await client.patch(
        url, json={"event_types": ["item.deleted", "item.updated"], "description": "mine"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["item.deleted", "item.updated"]
    assert changed.json()["description"] == "mine"
    off = await client.patch(url, json={"enabled": False})
    assert off.json()["enabled"] is False

    assert (await client.delete(url)).status_code == 204
    gone = await client.get(url)
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    assert (await client.delete(url)).status_code == 404
{%- if cookiecutter.auth != "none" %}
    async with clean_tables.connect() as connection:
        actions = await connection.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target == f"webhook:{created['id']}")
            .order_by(AuditEvent.occurred_at)
        )
        assert list(actions) == [
            "webhook_created",
            "webhook_updated",
            "webhook_updated",
            "webhook_deleted",
        ]
{%- endif %}
{%- if jwt %}


async def test_each_user_sees_and_manages_only_their_own_endpoints(
    client: AsyncClient, anonymous: AsyncClient, clean_tables: AsyncEngine, settings: Settings
) -> None:
    mine = await register(client, "https://hooks.example.com/mine")
    async with clean_tables.connect() as connection:
        other = await users.create_user(connection, "other@example.com", USER_PASSWORD, TEST_ORIGIN)
        pair = await tokens.issue_pair(connection, settings, other["id"], version=0)
    theirs = {"Authorization": f"Bearer {pair['access_token']}"}
    url = f"{HOOKS}/{mine['id']}"

    assert (await anonymous.get(HOOKS, headers=theirs)).json()["items"] == []
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"enabled": False}),
        ("DELETE", url, None),
        ("POST", f"{url}/test", None),
        ("GET", f"{url}/deliveries", None),
    ]:
        response = await anonymous.request(method, path, json=body, headers=theirs)
        assert response.status_code == 404, (method, path)
    assert (await client.get(url)).json()["enabled"] is True
    assert (await anonymous.get(HOOKS)).status_code == 401
{%- endif %}
{%- if cookiecutter.auth in ["api_key", "jwt_and_api_key"] %}


async def test_a_key_without_the_admin_scope_cannot_manage_endpoints(
    client: AsyncClient, anonymous: AsyncClient, clean_tables: AsyncEngine, settings: Settings
) -> None:
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    owner = uuid.UUID((await client.get("/api/v1/users/me")).json()["id"])
{%- endif %}
    async with clean_tables.connect() as connection:
        narrow = await api_keys.create_key(
            connection,
            settings,
            "narrow",
            {"items:read", "items:write"},
            None,
            TEST_ORIGIN,
{%- if cookiecutter.auth == "jwt_and_api_key" %}
            owner_id=owner,
{%- endif %}
        )
    headers = {"X-API-Key": narrow["key"]}
    refused = await anonymous.post(
        HOOKS,
        json={"url": "https://hooks.example.com/", "event_types": ["item.created"]},
        headers=headers,
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await anonymous.get(HOOKS, headers=headers)).status_code == 403
{%- endif %}


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://hooks.example.com/", "event_types": ["item.created"]},
        {"url": "javascript:alert(1)", "event_types": ["item.created"]},
        {"url": "https://user:pass@hooks.example.com/", "event_types": ["item.created"]},
        {"url": "https://hooks.example.com/" + "a" * 2000, "event_types": ["item.created"]},
        {"url": "https://hooks.example.com:99999/", "event_types": ["item.created"]},
        {"url": "https:///no-host", "event_types": ["item.created"]},
        {"url": "https://hooks.example.com/a b", "event_types": ["item.created"]},
        {"url": "https://hooks.example.com/", "event_types": ["item.exploded"]},
        {"url": "https://hooks.example.com/", "event_types": []},
        {"url": "https://hooks.example.com/", "event_types": "item.created"},
        {"url": "https://hooks.example.com/"},
        {"url": 42, "event_types": ["item.created"]},
        {"url": "https://hooks.example.com/", "event_types": ["item.created"], "id": "x"},
        {"url": "https://hooks.example.com/", "event_types": [TEST_EVENT]},
        {
            "url": "https://hooks.example.com/",
            "event_types": ["item.created"],
            "description": "x" * 201,
        },
    ],
)
async def test_hostile_registrations_are_refused_with_a_problem(
    client: AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post(HOOKS, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_hostile_changes_ids_and_sizes_are_refused_with_a_problem(
    client: AsyncClient,
) -> None:
    created = await register(client, "https://hooks.example.com/")
    url = f"{HOOKS}/{created['id']}"
    for body in ({}, {"enabled": None}, {"url": "file:///etc/passwd"}, {"secret": "mine"}):
        response = await client.patch(url, json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
    for path in (f"{HOOKS}/not-an-id", f"{HOOKS}/{uuid.uuid4()}/deliveries"):
        response = await client.get(path)
        assert response.status_code in (404, 422), path
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"{url}/deliveries", params={"limit": "1000"})).status_code == 422
    huge = await client.post(HOOKS, content=b"[" * 2_000_000)
    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"


def _expected_signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    """The Standard Webhooks signature, computed here from the spec without the library."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


async def test_a_change_is_delivered_signed_with_the_resource_as_the_api_returns_it(
    api: AsyncClient, receiver: Receiver
) -> None:
    endpoint = await register(api, receiver.url, "item.created")
    item = (await api.post(ITEMS, json={"title": "hello"})).json()
    assert (await api.patch(f"{ITEMS}/{item['id']}", json={"title": "x"})).status_code == 200
    (attempt,) = await attempts(api, endpoint["id"], 1)
    assert attempt["state"] == "delivered"
    assert attempt["status_code"] == 200
    assert attempt["response_body"] == "thanks"

    (request,) = receiver.received
    assert request.target == "POST /hook HTTP/1.1"
    assert request.headers["content-type"] == "application/json"
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert request.headers["webhook-signature"] == _expected_signature(
        endpoint["secret"], request.headers, request.body
    )
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert payload["type"] == "item.created"
    assert payload["data"] == item
    assert request.headers["webhook-id"] == payload["id"] == attempt["event_id"]
    _EVENT.validate_python(payload)  # the schema documented for its type
    listed = (await api.get("/api/v1/events")).json()["items"]
    assert _EVENT.validate_python(payload) in [_EVENT.validate_python(event) for event in listed]


async def test_a_failed_attempt_is_retried_later_with_the_same_id(
    api: AsyncClient, receiver: Receiver
) -> None:
    receiver.replies = [Reply(500, b"x" * 100), Reply(200)]
    endpoint = await register(api, receiver.url, "item.created")
    assert (await api.post(ITEMS, json={"title": "retried"})).status_code == 201

    second, first = await attempts(api, endpoint["id"], 2)
    assert (first["attempt"], first["status_code"], first["error"]) == (1, 500, "answered 500")
    assert first["response_body"] == "x" * 16  # WEBHOOK_MAX_RESPONSE_BYTES
    assert (second["attempt"], second["status_code"], second["state"]) == (2, 200, "delivered")
    one, two = receiver.received
    assert one.headers["webhook-id"] == two.headers["webhook-id"]
    assert one.body == two.body
    assert two.at - one.at >= 0.1  # at least half of WEBHOOK_RETRY_BASE
    assert (await api.get(f"{HOOKS}/{endpoint['id']}")).json()["failures"] == 0


async def test_a_slow_receiver_times_out_and_the_delivery_fails_after_the_last_attempt(
    running: Running, hook_settings: Settings, receiver: Receiver
) -> None:
    receiver.replies = [Reply(delay=3.0)]
    settings = hook_settings.model_copy(update={"webhook_timeout": 0.3, "webhook_max_attempts": 2})
    async with running(settings) as api:
        endpoint = await register(api, receiver.url, "item.created")
        assert (await api.post(ITEMS, json={"title": "slow"})).status_code == 201
        last, first = await attempts(api, endpoint["id"], 2)
    assert first["error"] == last["error"] == "no answer within 0.3 s"
    assert first["status_code"] is None
    assert last["state"] == "failed"
    assert 300 <= last["latency_ms"] < 2000


async def test_an_answer_no_column_takes_and_a_name_no_dns_label_fits_are_ordinary_attempts(
    api: AsyncClient, receiver: Receiver
) -> None:
    """Neither may leave a delivery stuck half-sent: each attempt is recorded and settled."""
    receiver.replies = [Reply(200, b"ok\x00then")]
    answered = await register(api, receiver.url, "item.created")
    unresolvable = await register(api, f"http://{'a' * 64}.example/hook", "item.created")
    assert (await api.post(ITEMS, json={"title": "odd"})).status_code == 201

    (delivered,) = await attempts(api, answered["id"], 1)
    assert delivered["state"] == "delivered"
    assert delivered["response_body"] == "ok\ufffdthen"
    refused, *_ = await attempts(api, unresolvable["id"], 1)
    assert refused["error"].startswith(f"refused: cannot resolve {'a' * 64}.example")
    assert refused["state"] in {"pending", "failed"}
    assert len(receiver.received) == 1


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(
    api: AsyncClient, receiver: Receiver
) -> None:
    receiver.replies = [Reply(302, headers={"Location": "http://169.254.169.254/latest"})]
    endpoint = await register(api, receiver.url, "item.created")
    assert (await api.post(ITEMS, json={"title": "moved"})).status_code == 201
    latest, *_ = await attempts(api, endpoint["id"], 3)
    assert latest["status_code"] == 302
    assert latest["error"] == "redirect to 169.254.169.254 not followed"
    assert latest["state"] == "failed"
    assert all(request.target == "POST /hook HTTP/1.1" for request in receiver.received)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.1.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[2002:a00:1::]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
    ],
)
async def test_private_and_special_addresses_are_refused_unless_allowed(
    settings: Settings, url: str
) -> None:
    assert settings.webhook_allowed_hosts == []
    with pytest.raises(deliveries.RefusedError):
        await deliveries.vet(settings, url)


async def test_public_addresses_pass_and_production_sends_only_to_https(
    settings: Settings,
) -> None:
    pinned, host = await deliveries.vet(settings, "http://93.184.215.14:8080/a?b=c")
    assert (str(pinned), host) == ("http://93.184.215.14:8080/a?b=c", "93.184.215.14")
    production = settings.model_copy(update={"environment": "production"})
    with pytest.raises(deliveries.RefusedError, match="https"):
        await deliveries.vet(production, "http://93.184.215.14/")


async def test_without_the_allowed_hosts_setting_a_loopback_receiver_gets_nothing(
    running: Running, hook_settings: Settings, receiver: Receiver
) -> None:
    settings = hook_settings.model_copy(update={"webhook_allowed_hosts": []})
    async with running(settings) as api:
        endpoint = await register(api, receiver.url, "item.created")
        assert (await api.post(ITEMS, json={"title": "guarded"})).status_code == 201
        latest, *_ = await attempts(api, endpoint["id"], 3)
    assert latest["error"] == "refused: 127.0.0.1 resolves to an address not allowed: 127.0.0.1"
    assert latest["status_code"] is None
    assert receiver.received == []


async def test_an_endpoint_failing_again_and_again_is_disabled_with_the_reason_shown(
    running: Running, hook_settings: Settings, receiver: Receiver, clean_tables: AsyncEngine
) -> None:
    receiver.replies = [Reply(503)]
    settings = hook_settings.model_copy(update={"webhook_max_attempts": 1})
    async with running(settings) as api:
        endpoint = await register(api, receiver.url, "item.created")
        url = f"{HOOKS}/{endpoint['id']}"
        for title in ("one", "two"):
            assert (await api.post(ITEMS, json={"title": title})).status_code == 201

        async def disabled() -> bool:
            return (await api.get(url)).json()["enabled"] is False

        await until(disabled, "the endpoint disabled")
        shown = (await api.get(url)).json()
        assert shown["failures"] == 2
        assert shown["disabled_reason"] == (
            "disabled after 2 failed deliveries in a row; the last: answered 503"
        )
        assert (await api.post(ITEMS, json={"title": "unheard"})).status_code == 201
        async with clean_tables.connect() as connection:
            count = select(func.count()).select_from(WebhookDelivery)
            assert await connection.scalar(count) == 2

        enabled = (await api.patch(url, json={"enabled": True})).json()
        assert (enabled["enabled"], enabled["failures"], enabled["disabled_reason"]) == (
            True,
            0,
            None,
        )


async def test_a_test_event_goes_to_that_endpoint_only(
    api: AsyncClient, receiver: Receiver
) -> None:
    tested = await register(api, receiver.url, "item.deleted")
    await register(api, receiver.url.replace("/hook", "/other"), "item.deleted")
    sent = await api.post(f"{HOOKS}/{tested['id']}/test")
    assert sent.status_code == 202, sent.text
    (attempt,) = await attempts(api, tested["id"], 1)
    assert attempt["event_type"] == TEST_EVENT
    (request,) = receiver.received
    payload = Webhook(tested["secret"]).verify(request.body, request.headers)
    delivered = WebhookTest.model_validate(payload)  # its documented schema
    assert delivered == WebhookTest.model_validate(sent.json())
    assert delivered.data.endpoint_id == uuid.UUID(tested["id"])


async def test_a_rolled_back_change_makes_no_delivery(
    client: AsyncClient, clean_tables: AsyncEngine, receiver: Receiver
) -> None:
    await register(client, receiver.url, "item.created")
{%- if jwt %}
    owner = uuid.UUID((await client.get("/api/v1/users/me")).json()["id"])
{%- endif %}
    count = select(func.count()).select_from(WebhookDelivery)
    async with clean_tables.connect() as connection:
        with pytest.raises(RuntimeError):
{%- if jwt %}
            await _create_then_fail(connection, owner)
{%- else %}
            await _create_then_fail(connection)
{%- endif %}
        assert await connection.scalar(count) == 0
{%- if jwt %}
        await items.create_item(connection, ItemCreate(title="kept"), owner)
{%- else %}
        await items.create_item(connection, ItemCreate(title="kept"))
{%- endif %}
        assert await connection.scalar(count) == 1

{%- if queue %}


async def test_a_delivery_held_by_a_lost_sender_is_looked_at_again_when_its_lease_ends(
    client: AsyncClient, clean_tables: AsyncEngine, settings: Settings, receiver: Receiver
) -> None:
    """A redelivered task finds its delivery held by a sender that died mid-attempt: it
    leaves a task for the lease's end, or nothing would ever send the delivery again."""
    await register(client, receiver.url, "item.created")
    assert (await client.post(ITEMS, json={"title": "held"})).status_code == 201
    async with clean_tables.connect() as connection:
        delivery_id = (await connection.execute(select(WebhookDelivery.id))).scalar_one()
        assert await webhooks.claim(connection, settings, delivery_id) is not None
        lease_end = await connection.scalar(select(WebhookDelivery.due_at))
    database = Database(create_engine(settings), settings)
    try:
        async with deliveries.new_client(settings) as http:
            await deliveries.attempt_by_id(database, settings, http, delivery_id)
    finally:
        await database.dispose()
    async with clean_tables.connect() as connection:
        scheduled = await connection.execute(
            select(Task.payload, Task.due_at).where(Task.name == webhooks.DELIVER_TASK)
        )
        pending = [(row.payload, row.due_at) for row in scheduled]
    assert ({"delivery_id": str(delivery_id)}, lease_end) in pending
    assert receiver.received == []
{%- endif %}


async def test_settled_deliveries_are_deleted_after_the_retention_with_their_attempts(
    api: AsyncClient, receiver: Receiver, clean_tables: AsyncEngine
) -> None:
    endpoint = await register(api, receiver.url, "item.created")
    assert (await api.post(ITEMS, json={"title": "kept a while"})).status_code == 201
    await attempts(api, endpoint["id"], 1)
    async with clean_tables.connect() as connection:
        assert await webhooks.purge(connection, datetime.now(UTC) - timedelta(hours=1)) == 0
        assert await webhooks.purge(connection, datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert (await api.get(f"{HOOKS}/{endpoint['id']}/deliveries")).json()["items"] == []


async def test_the_openapi_document_names_every_event_type_with_its_schema(
    client: AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    hooks = document["webhooks"]
    assert set(hooks) == EVENT_TYPES | {TEST_EVENT}
    assert {"item.created", "item.updated", "item.deleted"} <= EVENT_TYPES
    schemas = document["components"]["schemas"]
    for name, operation in hooks.items():
        reference = operation["post"]["requestBody"]["content"]["application/json"]["schema"]
        kind = schemas[reference["$ref"].rsplit("/", 1)[1]]["properties"]["type"]
        assert name in kind.get("enum", [kind.get("const")])
