{%- if cookiecutter.auth == "jwt_and_api_key" -%}
"""API keys end to end: shown once, stored as a hash, scoped, expiring, revocable, owned by
their user and audited."""
{%- else -%}
"""API keys end to end: shown once, stored as a hash, scoped, expiring, revocable, audited."""
{%- endif %}

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.auth import CHALLENGE
{%- if cookiecutter.auth == "jwt_and_api_key" %}
from app.core.config import Settings
{%- endif %}
from app.core.keys import generate_key
from app.models.api_key import ApiKey
from app.models.audit_event import AuditEvent
{%- if cookiecutter.auth == "jwt_and_api_key" %}
from app.services import tokens, users
from tests.conftest import TEST_ORIGIN, USER_EMAIL, USER_PASSWORD
{%- endif %}

pytestmark = pytest.mark.anyio

API_KEYS = "/api/v1/api-keys"
ITEMS = "/api/v1/items"
AUDIT = "/api/v1/audit-events"
{%- if cookiecutter.auth == "jwt_and_api_key" %}
USERS = "/api/v1/users"
SIGN_IN = {"username": USER_EMAIL, "password": USER_PASSWORD}
{%- endif %}


def with_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def create_key(
    client: AsyncClient,
    *scopes: str,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    """Create a key over the API; by default one that may read and write items, made by a
    user who gives the password every test user has."""
    body = {
        "name": "ci",
        "scopes": list(scopes or ("items:read", "items:write")),
        "current_password": USER_PASSWORD,
        **fields,
    }
{%- else %}
    """Create a key over the API; by default one that may read and write items."""
    body = {"name": "ci", "scopes": list(scopes or ("items:read", "items:write")), **fields}
{%- endif %}
    response = await client.post(API_KEYS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def listed_keys(client: AsyncClient, headers: dict[str, str] | None = None) -> list[Any]:
    response = await client.get(API_KEYS, headers=headers)
    assert response.status_code == 200, response.text
    keys: list[Any] = response.json()["items"]
    return keys


def key_states(keys: list[Any]) -> list[tuple[str, str | None]]:
    """Which keys exist and whether they are revoked (use changes the rest)."""
    return [(key["id"], key["revoked_at"]) for key in keys]


async def stored(engine: AsyncEngine, key_id: str) -> dict[str, Any]:
    """The key's row, read straight from the database."""
    async with engine.connect() as connection:
        statement = select(ApiKey).where(ApiKey.id == uuid.UUID(key_id))
        return dict((await connection.execute(statement)).mappings().one())


async def change_stored(engine: AsyncEngine, key_id: str, **values: Any) -> None:
    """Change the key's row behind the API's back, as time or a tampered database would."""
    async with engine.connect() as connection:
        await connection.execute(
            update(ApiKey).where(ApiKey.id == uuid.UUID(key_id)).values(**values)
        )


def assert_unauthorized(response: Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == CHALLENGE["WWW-Authenticate"]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


def assert_forbidden(response: Response) -> None:
    assert response.status_code == 403, response.text
    assert "www-authenticate" not in response.headers
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 403


async def assert_works(anonymous: AsyncClient, key: str) -> None:
    response = await anonymous.get(ITEMS, headers=with_key(key))
    assert response.status_code == 200, response.text
{%- if cookiecutter.auth == "jwt_and_api_key" %}


async def sign_up(
    engine: AsyncEngine, settings: Settings, email: str, *, superuser: bool = False
) -> dict[str, str]:
    """An `Authorization` header for a new user."""
    async with engine.connect() as connection:
        user = await users.create_user(
            connection, email, USER_PASSWORD, TEST_ORIGIN, is_superuser=superuser
        )
        pair = await tokens.issue_pair(connection, settings, user["id"], version=0)
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def subject_of(client: AsyncClient) -> str:
    """How the audit trail names the signed-in user of `client`."""
    return f"user:{(await client.get(f'{USERS}/me')).json()['id']}"
{%- else %}


async def subject_of(client: AsyncClient) -> str:
    """How the audit trail names the key of `client` (the one conftest made, named "tests")."""
    mine = next(key for key in await listed_keys(client) if key["name"] == "tests")
    return f"api_key:{mine['id']}"
{%- endif %}


def change_char(text: str, index: int) -> str:
    """`text` with the character at `index` replaced by another, valid in hex and base64url."""
    position = index % len(text)
    replacement = "1" if text[position] == "0" else "0"
    return text[:position] + replacement + text[position + 1 :]


async def test_create_shows_the_key_once_and_stores_only_a_hash(
    client: AsyncClient, clean_tables: AsyncEngine
) -> None:
    created = await create_key(client, "items:read", name="nightly export")

    assert created["key"].startswith(f"sk_{created['prefix']}_")
    assert created["name"] == "nightly export"
    assert created["scopes"] == ["items:read"]
    assert (created["expires_at"], created["last_used_at"], created["revoked_at"]) == (None,) * 3

    listed = await listed_keys(client)
    assert {field: value for field, value in created.items() if field != "key"} in listed
    assert all("key" not in entry and "key_hash" not in entry for entry in listed)

    row = await stored(clean_tables, created["id"])
    secret = created["key"].rsplit("_", 1)[1]
    assert len(row["key_hash"]) == 64
    assert secret not in row["key_hash"]
    assert created["key"] not in {str(value) for value in row.values()}


async def test_key_authenticates_requests(client: AsyncClient, anonymous: AsyncClient) -> None:
    key = (await create_key(client))["key"]

    made = await anonymous.post(ITEMS, json={"title": "made with a key"}, headers=with_key(key))

    assert made.status_code == 201, made.text
    listed = await anonymous.get(ITEMS, headers=with_key(key))
    assert [item["title"] for item in listed.json()["items"]] == ["made with a key"]
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    # The key acts as its owner: the item is theirs.
{%- endif %}
    assert [item["id"] for item in (await client.get(ITEMS)).json()["items"]] == [made.json()["id"]]


TAMPERED: dict[str, Callable[[str], str | None]] = {
    "missing": lambda key: None,
    "empty": lambda key: "",
    "malformed": lambda key: "not-a-key",
    "unknown": lambda key: generate_key()[0],
    "secret-changed": lambda key: change_char(key, -1),
    "prefix-changed": lambda key: change_char(key, len("sk_")),
    "truncated": lambda key: key[:-1],
    "extended": lambda key: f"{key}0",
    "other-scheme": lambda key: f"pk{key[2:]}",
}


@pytest.mark.parametrize("tamper", TAMPERED.values(), ids=TAMPERED.keys())
async def test_missing_or_altered_keys_get_401(
    client: AsyncClient, anonymous: AsyncClient, tamper: Callable[[str], str | None]
) -> None:
    key = (await create_key(client))["key"]
    await assert_works(anonymous, key)

    sent = tamper(key)
    response = await anonymous.get(ITEMS, headers={} if sent is None else with_key(sent))

    assert_unauthorized(response)


async def test_expired_key_gets_401(
    client: AsyncClient, anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    created = await create_key(client, expires_at=tomorrow.isoformat())
    assert datetime.fromisoformat(created["expires_at"]) == tomorrow
    await assert_works(anonymous, created["key"])

    await change_stored(
        clean_tables, created["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )

    assert_unauthorized(await anonymous.get(ITEMS, headers=with_key(created["key"])))


async def test_revoked_key_gets_401_and_revoking_again_404(
    client: AsyncClient, anonymous: AsyncClient
) -> None:
    created = await create_key(client)
    await assert_works(anonymous, created["key"])

    revoked = await client.delete(f"{API_KEYS}/{created['id']}")

    assert revoked.status_code == 204, revoked.text
    assert_unauthorized(await anonymous.get(ITEMS, headers=with_key(created["key"])))
    listed = next(key for key in await listed_keys(client) if key["id"] == created["id"])
    assert listed["revoked_at"] is not None
    for key_id in (created["id"], uuid.uuid4()):
        again = await client.delete(f"{API_KEYS}/{key_id}")
        assert again.status_code == 404, again.text
        assert again.headers["content-type"] == "application/problem+json"


async def test_missing_scope_gets_403(client: AsyncClient, anonymous: AsyncClient) -> None:
    key = (await create_key(client, "items:read"))["key"]
    await assert_works(anonymous, key)

    response = await anonymous.post(ITEMS, json={"title": "nope"}, headers=with_key(key))

    assert_forbidden(response)
    assert response.json()["detail"] == "This needs the 'items:write' scope."
    assert (await client.get(ITEMS)).json()["items"] == []


async def test_a_write_only_key_cannot_read_through_a_change(
    client: AsyncClient, anonymous: AsyncClient
) -> None:
    item = (await client.post(ITEMS, json={"title": "only for readers"})).json()
    key = (await create_key(client, "items:write"))["key"]

    response = await anonymous.patch(f"{ITEMS}/{item['id']}", json={}, headers=with_key(key))

    assert_forbidden(response)
    assert "only for readers" not in response.text


async def test_last_used_at_is_set_on_use_at_most_once_a_minute(
    client: AsyncClient, anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    created = await create_key(client)
    assert (await stored(clean_tables, created["id"]))["last_used_at"] is None

    before = datetime.now(UTC)
    await assert_works(anonymous, created["key"])
    first_use = (await stored(clean_tables, created["id"]))["last_used_at"]
    assert before <= first_use <= datetime.now(UTC)
    listed = next(key for key in await listed_keys(client) if key["id"] == created["id"])
    assert datetime.fromisoformat(listed["last_used_at"]) == first_use

    await assert_works(anonymous, created["key"])
    assert (await stored(clean_tables, created["id"]))["last_used_at"] == first_use

    long_ago = first_use - timedelta(minutes=2)
    await change_stored(clean_tables, created["id"], last_used_at=long_ago)
    await assert_works(anonymous, created["key"])
    assert (await stored(clean_tables, created["id"]))["last_used_at"] > first_use


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ci", "scopes": []},
        {"name": "ci", "scopes": ["items:delete"]},
        {"name": "", "scopes": ["items:read"]},
        {"name": "x" * 101, "scopes": ["items:read"]},
        {"name": "nul\x00byte", "scopes": ["items:read"]},
        {"name": "ci", "scopes": ["items:read"], "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "ci", "scopes": ["items:read"], "expires_at": 4102444800},
        {"name": "ci", "scopes": ["items:read"], "key": "sk_000000000000_chosen"},
    ],
    ids=[
        "no-scopes",
        "unknown-scope",
        "empty-name",
        "long-name",
        "nul",
        "expired",
        "unix-time",
        "client-key",
    ],
)
async def test_create_rejects_invalid_bodies(client: AsyncClient, body: dict[str, Any]) -> None:
    before = await listed_keys(client)

    response = await client.post(API_KEYS, json=body)

    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    assert await listed_keys(client) == before


async def test_list_pages_oldest_first(client: AsyncClient) -> None:
    created = [(await create_key(client, name=f"key {number}"))["id"] for number in range(3)]

    first = (await client.get(API_KEYS, params={"limit": 2})).json()
    rest = (await client.get(API_KEYS, params={"limit": 2, "offset": 2})).json()

    assert (first["limit"], first["offset"], first["next_offset"]) == (2, 0, 2)
    assert rest["next_offset"] is None
    listed = [key["id"] for page in (first, rest) for key in page["items"]]
    assert listed[-3:] == created


async def test_creating_and_revoking_are_audited(
    client: AsyncClient, clean_tables: AsyncEngine
) -> None:
    actor = await subject_of(client)
    created = await create_key(client)
    assert (await client.delete(f"{API_KEYS}/{created['id']}")).status_code == 204

    target = f"api_key:{created['id']}"
    async with clean_tables.connect() as connection:
        statement = (
            select(AuditEvent.action, AuditEvent.actor)
            .where(AuditEvent.target == target)
            .order_by(AuditEvent.occurred_at)
        )
        events = [tuple(row) for row in await connection.execute(statement)]

    assert events == [("api_key_created", actor), ("api_key_revoked", actor)]
{%- if cookiecutter.auth == "api_key" %}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", API_KEYS),
        ("POST", API_KEYS),
        ("DELETE", API_KEYS + "/{victim}"),
        ("GET", AUDIT),
    ],
    ids=["list-keys", "create-key", "revoke-key", "audit-trail"],
)
async def test_keys_without_admin_scope_get_403_on_admin_routes(
    client: AsyncClient, anonymous: AsyncClient, method: str, path: str
) -> None:
    key = (await create_key(client))["key"]
    victim = (await create_key(client, name="victim"))["id"]
    before = key_states(await listed_keys(client))

    response = await anonymous.request(
        method,
        path.format(victim=victim),
        json={"name": "escalate", "scopes": ["admin"]},
        headers=with_key(key),
    )

    assert_forbidden(response)
    assert response.json()["detail"] == "This needs the 'admin' scope."
    assert key_states(await listed_keys(client)) == before
{%- else %}


async def test_users_see_and_revoke_only_their_own_keys(
    client: AsyncClient, anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine
) -> None:
    mine = await create_key(client)
    other = await sign_up(clean_tables, settings, "other@example.com")
    theirs = await create_key(anonymous, headers=other)

    assert [key["id"] for key in await listed_keys(client)] == [mine["id"]]
    assert [key["id"] for key in await listed_keys(anonymous, other)] == [theirs["id"]]

    refused = await anonymous.delete(f"{API_KEYS}/{mine['id']}", headers=other)

    assert refused.status_code == 404, refused.text
    await assert_works(anonymous, mine["key"])


async def test_superusers_see_and_revoke_every_key(
    client: AsyncClient, anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine
) -> None:
    mine = await create_key(client)
    admin = await sign_up(clean_tables, settings, "admin@example.com", superuser=True)

    assert mine["id"] in [key["id"] for key in await listed_keys(anonymous, admin)]
    revoked = await anonymous.delete(f"{API_KEYS}/{mine['id']}", headers=admin)

    assert revoked.status_code == 204, revoked.text
    assert_unauthorized(await anonymous.get(ITEMS, headers=with_key(mine["key"])))


async def test_key_cannot_hold_scopes_its_owner_lacks(
    client: AsyncClient, anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine
) -> None:
    response = await client.post(
        API_KEYS,
        json={"name": "ci", "scopes": ["items:read", "admin"], "current_password": USER_PASSWORD},
    )

    assert_forbidden(response)
    assert await listed_keys(client) == []

    admin = await sign_up(clean_tables, settings, "admin@example.com", superuser=True)
    admin_key = (await create_key(anonymous, "admin", headers=admin))["key"]
    assert (await anonymous.get(AUDIT, headers=with_key(admin_key))).status_code == 200


async def test_ordinary_users_key_never_holds_admin(
    client: AsyncClient, anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    created = await create_key(client, "items:read")
    await change_stored(clean_tables, created["id"], scopes="admin items:read")
    await assert_works(anonymous, created["key"])

    assert_forbidden(await anonymous.get(AUDIT, headers=with_key(created["key"])))
    assert_forbidden(await anonymous.get(USERS, headers=with_key(created["key"])))


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", API_KEYS), ("POST", API_KEYS), ("DELETE", API_KEYS + "/{victim}")],
    ids=["list", "create", "revoke"],
)
async def test_keys_without_admin_scope_cannot_manage_keys(
    client: AsyncClient, anonymous: AsyncClient, method: str, path: str
) -> None:
    """A leaked key must not mint keys that outlive its own revocation, nor revoke others."""
    key = (await create_key(client))["key"]
    victim = (await create_key(client, name="victim"))["id"]
    before = key_states(await listed_keys(client))

    response = await anonymous.request(
        method,
        path.format(victim=victim),
        json={"name": "spare", "scopes": ["items:read"]},
        headers=with_key(key),
    )

    assert_forbidden(response)
    assert key_states(await listed_keys(client)) == before


async def test_keys_cannot_change_their_owners_account(
    client: AsyncClient, anonymous: AsyncClient
) -> None:
    key = (await create_key(client))["key"]
    email_change = {"current_password": USER_PASSWORD, "email": "taken-over@example.com"}
    password_change = {"current_password": USER_PASSWORD, "new_password": "a new password"}

    patched = await anonymous.post(
        "/api/v1/users/me/email", json=email_change, headers=with_key(key)
    )
    changed = await anonymous.post(
        "/api/v1/users/me/password", json=password_change, headers=with_key(key)
    )

    assert_forbidden(patched)
    assert_forbidden(changed)
    assert (await client.get("/api/v1/users/me")).json()["email"] == USER_EMAIL


async def test_keys_of_a_deactivated_user_stop_working(
    client: AsyncClient, anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine
) -> None:
    key = (await create_key(client))["key"]
    await assert_works(anonymous, key)
    admin = await sign_up(clean_tables, settings, "admin@example.com", superuser=True)
    me = (await client.get(f"{USERS}/me")).json()

    deactivated = await anonymous.patch(
        f"{USERS}/{me['id']}", json={"is_active": False}, headers=admin
    )

    assert deactivated.status_code == 200, deactivated.text
    assert_unauthorized(await anonymous.get(ITEMS, headers=with_key(key)))


async def test_reactivating_a_user_does_not_bring_their_keys_back(
    client: AsyncClient, anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine
) -> None:
    created = await create_key(client)
    admin = await sign_up(clean_tables, settings, "admin@example.com", superuser=True)
    me = f"{USERS}/{(await client.get(f'{USERS}/me')).json()['id']}"

    for active in (False, True):
        changed = await anonymous.patch(me, json={"is_active": active}, headers=admin)
        assert changed.status_code == 200, changed.text

    assert_unauthorized(await anonymous.get(ITEMS, headers=with_key(created["key"])))
    assert (await stored(clean_tables, created["id"]))["revoked_at"] is not None


async def test_making_a_key_needs_the_current_password(
    client: AsyncClient, anonymous: AsyncClient
) -> None:
    wrong = await client.post(
        API_KEYS,
        json={"name": "ci", "scopes": ["items:read"], "current_password": "not my password"},
    )
    missing = await client.post(API_KEYS, json={"name": "ci", "scopes": ["items:read"]})

    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["detail"] == "The current password is not correct."
    assert missing.status_code == 422
    assert await listed_keys(client) == []


async def test_an_admin_key_cannot_make_keys(
    anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine
) -> None:
    admin = await sign_up(clean_tables, settings, "admin@example.com", superuser=True)
    admin_key = (await create_key(anonymous, "admin", "items:read", headers=admin))["key"]

    response = await anonymous.post(
        API_KEYS,
        json={"name": "child", "scopes": ["items:read"], "current_password": USER_PASSWORD},
        headers=with_key(admin_key),
    )

    assert_forbidden(response)
    assert [key["name"] for key in await listed_keys(anonymous, admin)] == ["ci"]


async def test_a_revoked_sign_in_cannot_make_keys(anonymous: AsyncClient) -> None:
    pair = (await anonymous.post("/api/v1/auth/token", data=SIGN_IN)).json()
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    logged_out = await anonymous.post(
        "/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}
    )
    assert logged_out.status_code == 204

    response = await anonymous.post(
        API_KEYS,
        json={"name": "ci", "scopes": ["items:read"], "current_password": USER_PASSWORD},
        headers=bearer,
    )

    assert_unauthorized(response)


async def test_the_owner_revokes_every_key_at_once(
    client: AsyncClient, anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine
) -> None:
    mine = [await create_key(client, name=f"key {number}") for number in range(3)]
    other = await sign_up(clean_tables, settings, "other@example.com")
    theirs = await create_key(anonymous, headers=other)

    revoked = await client.delete(API_KEYS)
    by_key = await anonymous.delete(API_KEYS, headers=with_key(theirs["key"]))

    assert revoked.status_code == 204, revoked.text
    assert_forbidden(by_key)
    for key in mine:
        assert_unauthorized(await anonymous.get(ITEMS, headers=with_key(key["key"])))
    assert all(key["revoked_at"] for key in await listed_keys(client))
    await assert_works(anonymous, theirs["key"])
    auditor = await sign_up(clean_tables, settings, "auditor@example.com", superuser=True)
    trail = (await anonymous.get(AUDIT, headers=auditor)).json()["items"]
    assert "api_keys_revoked" in [event["action"] for event in trail]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_an_admin_key_cannot_change_its_owner_by_id(
    anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine, method: str
) -> None:
    admin = await sign_up(clean_tables, settings, "admin@example.com", superuser=True)
    admin_key = (await create_key(anonymous, "admin", "items:read", headers=admin))["key"]
    me = (await anonymous.get(f"{USERS}/me", headers=admin)).json()

    response = await anonymous.request(
        method,
        f"{USERS}/{me['id']}",
        json={"email": "taken@example.com"},
        headers=with_key(admin_key),
    )

    assert_forbidden(response)
    after = (await anonymous.get(f"{USERS}/me", headers=admin)).json()
    assert after == me


async def test_keys_are_deleted_with_their_owner(
    client: AsyncClient, anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine
) -> None:
    created = await create_key(client)
    admin = await sign_up(clean_tables, settings, "admin@example.com", superuser=True)
    me = (await client.get(f"{USERS}/me")).json()

    deleted = await anonymous.delete(f"{USERS}/{me['id']}", headers=admin)

    assert deleted.status_code == 204, deleted.text
    assert_unauthorized(await anonymous.get(ITEMS, headers=with_key(created["key"])))
    assert await listed_keys(anonymous, admin) == []
{%- endif %}
