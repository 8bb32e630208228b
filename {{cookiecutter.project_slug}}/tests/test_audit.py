"""The audit trail: what each action records, newest first, and who may read it."""
{% if cookiecutter.auth != "api_key" %}
from collections.abc import AsyncIterator
{%- endif %}
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.auth import CHALLENGE
from app.core.config import Settings
from app.main import create_app
from app.models.audit_event import AuditEvent
{%- if cookiecutter.auth == "api_key" %}
from app.services import audit
from tests.conftest import TEST_ORIGIN
{%- else %}
from app.services import audit, tokens, users
from tests.conftest import TEST_ORIGIN, USER_PASSWORD, Serve
{%- endif %}

pytestmark = pytest.mark.anyio

AUDIT = "/api/v1/audit-events"
{%- if cookiecutter.auth != "jwt" %}
API_KEYS = "/api/v1/api-keys"
{%- endif %}
{%- if cookiecutter.auth != "api_key" %}
REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
NEW_EMAIL = "new@example.com"
{%- endif %}
CLIENT_ADDRESS = "127.0.0.1"  # what httpx's in-process transport reports
OWN_REQUEST_ID = {"X-Request-ID": "ops-42"}  # a caller's own id is kept

# What the trail should hold: (action, actor, target, request id).
Event = tuple[str, str | None, str | None, str]


{%- if cookiecutter.auth == "api_key" %}


@pytest.fixture
def admin(client: AsyncClient) -> AsyncClient:
    """The default client: its key holds every scope, `admin` included."""
    return client
{%- else %}


@pytest.fixture
async def admin(
    settings: Settings, serve: Serve, clean_tables: AsyncEngine
) -> AsyncIterator[AsyncClient]:
    """A client signed in as a superuser."""
    async with clean_tables.connect() as connection:
        user = await users.create_user(
            connection, "admin@example.com", USER_PASSWORD, TEST_ORIGIN, is_superuser=True
        )
        pair = await tokens.issue_pair(connection, settings, user["id"], version=0)
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    async with serve(create_app(settings), headers=headers) as http:
        yield http
{%- endif %}


def caused(response: Response, action: str, actor: str | None, target: str | None) -> Event:
    """The event `response`'s request should have recorded, under that request's id."""
    return action, actor, target, response.headers["x-request-id"]


async def read_trail(client: AsyncClient, **params: int) -> dict[str, Any]:
    response = await client.get(AUDIT, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page
{%- if cookiecutter.auth != "api_key" %}


async def sign_in(client: AsyncClient, email: str, password: str) -> Response:
    return await client.post(TOKEN, data={"username": email, "password": password})
{%- endif %}
{%- if cookiecutter.auth == "api_key" %}


async def test_actions_are_listed_newest_first_with_their_origin(admin: AsyncClient) -> None:
    keys = (await admin.get(API_KEYS)).json()["items"]
    actor = f"api_key:{next(key['id'] for key in keys if key['name'] == 'tests')}"

    created = await admin.post(
        API_KEYS, json={"name": "ci", "scopes": ["items:read"]}, headers=OWN_REQUEST_ID
    )
    target = f"api_key:{created.json()['id']}"
    revoked = await admin.delete(f"{API_KEYS}/{created.json()['id']}")
    assert revoked.status_code == 204, revoked.text
    recorded = [  # oldest first
        caused(created, "api_key_created", actor, target),
        caused(revoked, "api_key_revoked", actor, target),
    ]
{%- else %}


async def test_actions_are_listed_newest_first_with_their_origin(
    admin: AsyncClient, anonymous: AsyncClient
) -> None:
    registered = await anonymous.post(
        REGISTER, json={"email": NEW_EMAIL, "password": USER_PASSWORD}, headers=OWN_REQUEST_ID
    )
    user = f"user:{registered.json()['id']}"
    failed = await sign_in(anonymous, NEW_EMAIL, "not the password")
    signed_in = await sign_in(anonymous, NEW_EMAIL, USER_PASSWORD)
    assert (failed.status_code, signed_in.status_code) == (401, 200)
    recorded = [  # oldest first
        caused(registered, "user_created", None, user),
        caused(registered, "email_verification_sent", None, user),
        caused(failed, "login_failed", None, f"email:{NEW_EMAIL}"),
        caused(signed_in, "login_succeeded", user, user),
    ]
{%- endif %}
{%- if cookiecutter.auth == "jwt_and_api_key" %}

    bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    created = await anonymous.post(
        API_KEYS,
        json={"name": "ci", "scopes": ["items:read"], "current_password": USER_PASSWORD},
        headers=bearer,
    )
    target = f"api_key:{created.json()['id']}"
    revoked = await anonymous.delete(f"{API_KEYS}/{created.json()['id']}", headers=bearer)
    assert revoked.status_code == 204, revoked.text
    recorded += [
        caused(created, "api_key_created", user, target),
        caused(revoked, "api_key_revoked", user, target),
    ]
{%- endif %}

    events = (await read_trail(admin, limit=len(recorded)))["items"]

    assert [
        (event["action"], event["actor"], event["target"], event["request_id"]) for event in events
    ] == recorded[::-1]
    assert events[-1]["request_id"] == OWN_REQUEST_ID["X-Request-ID"]
    assert {event["client_address"] for event in events} == {CLIENT_ADDRESS}
    times = [event["occurred_at"] for event in events]
    assert times == sorted(times, reverse=True)


async def test_pages_through_the_trail(admin: AsyncClient, clean_tables: AsyncEngine) -> None:
    async with clean_tables.connect() as connection:
        for number in range(5):
            await audit.record(connection, "test_event", TEST_ORIGIN, target=f"event:{number}")
    everything = await read_trail(admin, limit=100)
    events = everything["items"]
    assert everything["next_offset"] is None
    assert [event["target"] for event in events if event["action"] == "test_event"] == [
        f"event:{number}" for number in reversed(range(5))
    ]

    for offset in range(0, len(events), 2):
        page = await read_trail(admin, limit=2, offset=offset)
        assert (page["limit"], page["offset"]) == (2, offset)
        assert page["items"] == events[offset : offset + 2]
        assert page["next_offset"] == (offset + 2 if offset + 2 < len(events) else None)


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"action": "login_failed"}],
    ids=["zero-limit", "big-limit", "negative-offset", "unknown-parameter"],
)
async def test_rejects_bad_paging(admin: AsyncClient, params: dict[str, Any]) -> None:
    response = await admin.get(AUDIT, params=params)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
{%- if cookiecutter.auth == "api_key" %}


async def test_only_admin_keys_read_the_trail(admin: AsyncClient, anonymous: AsyncClient) -> None:
    scopes = ["items:read", "items:write"]
    created = await admin.post(API_KEYS, json={"name": "worker", "scopes": scopes})
    headers = {"X-API-Key": created.json()["key"]}
{%- else %}


async def test_only_superusers_read_the_trail(
    admin: AsyncClient, client: AsyncClient, anonymous: AsyncClient
) -> None:
{%- endif %}
    assert (await admin.get(AUDIT)).status_code == 200
{%- if cookiecutter.auth == "api_key" %}

    refused = await anonymous.get(AUDIT, headers=headers)
{%- else %}

    refused = await client.get(AUDIT)
{%- endif %}
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"

    unknown = await anonymous.get(AUDIT)
    assert unknown.status_code == 401, unknown.text
    assert unknown.headers["www-authenticate"] == CHALLENGE["WWW-Authenticate"]
    assert unknown.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("reported", "stored"),
    [
        ("not an address", None),
        ("203.0.113.7" * 10, None),  # longer than the column: once a 500
        ("fe80::1%" + "x" * 80, "fe80::1"),  # an IPv6 zone is free text: dropped
        ("fe80::1%chosen by the client", "fe80::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("198.51.100.20", "198.51.100.20"),
    ],
    ids=["text", "too-long", "long-zone", "zone", "ipv6-canonical", "ipv4"],
)
async def test_only_a_valid_client_address_is_stored(
    settings: Settings,
    credentials: dict[str, str],
    clean_tables: AsyncEngine,
    reported: str,
    stored: str | None,
) -> None:
    """Behind a trusted proxy the server takes the address from a header a client wrote."""
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app, client=(reported, 4321)),
            base_url="http://localhost",
        ) as http,
    ):
{%- if cookiecutter.auth == "api_key" %}
        response = await http.post(
            API_KEYS, json={"name": "via proxy", "scopes": ["items:read"]}, headers=credentials
        )
        assert response.status_code == 201, response.text
{%- else %}
        response = await http.post(
            TOKEN, data={"username": "nobody@example.com", "password": "not the password"}
        )
        assert response.status_code == 401, response.text
{%- endif %}

    async with clean_tables.connect() as connection:
        newest = await connection.scalar(
            select(AuditEvent.client_address).order_by(AuditEvent.occurred_at.desc()).limit(1)
        )
    assert newest == stored
{%- if cookiecutter.auth != "api_key" %}


async def test_refresh_logout_and_reuse_are_recorded_with_their_user(
    admin: AsyncClient, anonymous: AsyncClient
) -> None:
    registered = await anonymous.post(
        REGISTER, json={"email": NEW_EMAIL, "password": USER_PASSWORD}
    )
    user = f"user:{registered.json()['id']}"
    first = (await sign_in(anonymous, NEW_EMAIL, USER_PASSWORD)).json()
    refreshed = await anonymous.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    reused = await anonymous.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    second = (await sign_in(anonymous, NEW_EMAIL, USER_PASSWORD)).json()
    logged_out = await anonymous.post(LOGOUT, json={"refresh_token": second["refresh_token"]})
    assert (refreshed.status_code, reused.status_code, logged_out.status_code) == (200, 401, 204)

    events = (await read_trail(admin, limit=3))["items"]

    assert [(event["action"], event["actor"], event["target"]) for event in events] == [
        ("logout", user, user),
        ("login_succeeded", user, user),
        ("refresh_token_reused", user, user),
    ]
    older = (await read_trail(admin, limit=1, offset=3))["items"]
    assert [(event["action"], event["actor"]) for event in older] == [("token_refreshed", user)]
{%- endif %}
