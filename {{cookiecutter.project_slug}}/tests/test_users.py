"""Accounts: registration, your own profile and password, administration, and item ownership."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import passwords
from app.core.config import Settings
from app.main import create_app
from app.models.user import User
from app.services import tokens, users
from tests.conftest import TEST_ORIGIN, USER_EMAIL, USER_PASSWORD, Serve, sign_in

pytestmark = pytest.mark.anyio

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
USERS = "/api/v1/users"
ME = f"{USERS}/me"
ITEMS = "/api/v1/items"
PUBLIC_FIELDS = {"id", "email", "is_active", "is_superuser", "created_at", "updated_at"}
NEW_PASSWORD = "a brand new password"
OTHER_EMAIL = "other@example.com"
ADMIN_EMAIL = "admin@example.com"
PASSWORD = "another good password"

Headers = dict[str, str]


def bearer(pair: dict[str, Any]) -> Headers:
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def signed_in_user(
    http: AsyncClient, engine: AsyncEngine, email: str, *, is_superuser: bool = False
) -> Headers:
    """Create a user (with PASSWORD) in the database, then sign in over HTTP."""
    async with engine.connect() as connection:
        await users.create_user(connection, email, PASSWORD, TEST_ORIGIN, is_superuser=is_superuser)
    return bearer(await sign_in(http, email, PASSWORD))


@pytest.fixture
async def user(anonymous: AsyncClient) -> Headers:
    """USER_EMAIL, an ordinary user, signed in."""
    return bearer(await sign_in(anonymous, USER_EMAIL, USER_PASSWORD))


@pytest.fixture
async def other(anonymous: AsyncClient, clean_tables: AsyncEngine) -> Headers:
    """A second ordinary user, signed in."""
    return await signed_in_user(anonymous, clean_tables, OTHER_EMAIL)


@pytest.fixture
async def admin(anonymous: AsyncClient, clean_tables: AsyncEngine) -> Headers:
    """A superuser, signed in."""
    return await signed_in_user(anonymous, clean_tables, ADMIN_EMAIL, is_superuser=True)


async def id_of(http: AsyncClient, headers: Headers) -> str:
    response = await http.get(ME, headers=headers)
    assert response.status_code == 200, response.text
    user_id: str = response.json()["id"]
    return user_id


async def create_item(http: AsyncClient, headers: Headers, title: str) -> dict[str, Any]:
    response = await http.post(ITEMS, json={"title": title}, headers=headers)
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


def assert_problem(response: Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


# Registration


async def test_registration_creates_an_ordinary_active_user(anonymous: AsyncClient) -> None:
    response = await anonymous.post(
        REGISTER, json={"email": "New.User@Example.COM", "password": PASSWORD}
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == PUBLIC_FIELDS  # never the password or its hash
    assert "argon2" not in response.text
    assert PASSWORD not in response.text
    assert body["email"] == "new.user@example.com"
    assert body["is_active"] is True
    assert body["is_superuser"] is False
    headers = bearer(await sign_in(anonymous, "new.user@example.com", PASSWORD))
    assert await id_of(anonymous, headers) == body["id"]


async def test_registration_cannot_choose_id_or_privileges(
    anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    chosen_id = str(uuid.uuid4())
    response = await anonymous.post(
        REGISTER,
        json={
            "email": "sneaky@example.com",
            "password": PASSWORD,
            "id": chosen_id,
            "is_superuser": True,
            "is_active": False,
            "token_version": 7,
        },
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] != chosen_id
    assert uuid.UUID(body["id"]).version == 4
    assert body["is_superuser"] is False
    assert body["is_active"] is True
    async with clean_tables.connect() as connection:
        stored = (
            await connection.execute(
                select(User.id, User.is_superuser, User.token_version).where(
                    User.email == "sneaky@example.com"
                )
            )
        ).one()
    assert (str(stored.id), stored.is_superuser, stored.token_version) == (body["id"], False, 0)
    headers = bearer(await sign_in(anonymous, "sneaky@example.com", PASSWORD))
    assert_problem(await anonymous.get(USERS, headers=headers), 403)


@pytest.mark.parametrize("email", [USER_EMAIL, USER_EMAIL.upper(), "User@Example.com"])
async def test_duplicate_email_in_any_letter_case_is_409(
    anonymous: AsyncClient, email: str
) -> None:
    response = await anonymous.post(REGISTER, json={"email": email, "password": PASSWORD})

    assert_problem(response, 409)
    # The existing account is untouched: its own password still signs in.
    await sign_in(anonymous, USER_EMAIL, USER_PASSWORD)


def writing_together(monkeypatch: pytest.MonkeyPatch, racers: int, *steps: str) -> None:
    """Make `racers` requests, after the named steps of `users`, wait for one another, so
    that their writes race in the database (password hashing would spread them out)."""
    barrier = asyncio.Barrier(racers)

    def then_meet(step: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def step_then_meet(*args: Any, **kwargs: Any) -> Any:
            result = await step(*args, **kwargs)
            await barrier.wait()
            return result

        return step_then_meet

    for name in steps:
        monkeypatch.setattr(users, name, then_meet(getattr(users, name)))


async def test_concurrent_registrations_of_one_email_make_one_account(
    anonymous: AsyncClient, clean_tables: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request has its own connection; the unique constraint decides who wins, and the
    others get 409, never 500."""
    writing_together(monkeypatch, 4, "hash_password")
    for trial in range(5):
        email = f"racer{trial}@example.com"
        spellings = [email, email.upper(), email.title(), email.capitalize()]
        responses = await asyncio.gather(
            *(anonymous.post(REGISTER, json={"email": e, "password": PASSWORD}) for e in spellings)
        )

        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201, 409, 409, 409], [response.text for response in responses]
        for response in responses:
            if response.status_code == 409:
                assert_problem(response, 409)
        async with clean_tables.connect() as connection:
            owners = await connection.scalar(
                select(func.count()).select_from(User).where(User.email == email)
            )
        assert owners == 1


async def test_registration_switched_off_is_403(settings: Settings, serve: Serve) -> None:
    closed = settings.model_copy(update={"registration_enabled": False})
    async with serve(create_app(closed), headers={}) as http:
        response = await http.post(
            REGISTER, json={"email": "new@example.com", "password": PASSWORD}
        )
        sign_in_attempt = await http.post(
            TOKEN, data={"username": "new@example.com", "password": PASSWORD}
        )

    assert_problem(response, 403)
    assert sign_in_attempt.status_code == 401  # nobody was created


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "a@" + "b" * 250 + ".com", "password": PASSWORD},
        {"email": "new@example.com", "password": "short"},
        {"email": "new@example.com", "password": "nul\x00byte-password"},
        {"email": "new@example.com"},
        {"password": PASSWORD},
    ],
    ids=["invalid-email", "long-email", "short-password", "nul-byte", "no-password", "no-email"],
)
async def test_invalid_registration_is_422(anonymous: AsyncClient, body: dict[str, str]) -> None:
    assert_problem(await anonymous.post(REGISTER, json=body), 422)


# Your own account


async def test_read_me(client: AsyncClient) -> None:
    response = await client.get(ME)

    assert response.status_code == 200
    assert set(response.json()) == PUBLIC_FIELDS
    assert response.json()["email"] == USER_EMAIL
    assert response.json()["is_superuser"] is False


async def change_password(client: AsyncClient, current: str, new: str) -> Response:
    return await client.post(
        f"{ME}/password", json={"current_password": current, "new_password": new}
    )


async def test_change_password_with_a_wrong_current_password_is_400(
    client: AsyncClient, anonymous: AsyncClient
) -> None:
    response = await change_password(client, "not my password", NEW_PASSWORD)

    assert_problem(response, 400)
    assert response.json()["detail"] == "The current password is not correct."
    assert (await client.get(ME)).status_code == 200
    await sign_in(anonymous, USER_EMAIL, USER_PASSWORD)


async def test_change_password_voids_earlier_tokens(
    client: AsyncClient, anonymous: AsyncClient
) -> None:
    earlier = await sign_in(anonymous, USER_EMAIL, USER_PASSWORD)

    response = await change_password(client, USER_PASSWORD, NEW_PASSWORD)

    assert response.status_code == 204, response.text
    assert (await client.get(ME)).status_code == 401
    assert (await anonymous.get(ME, headers=bearer(earlier))).status_code == 401
    refreshed = await anonymous.post(
        "/api/v1/auth/refresh", json={"refresh_token": earlier["refresh_token"]}
    )
    assert refreshed.status_code == 401
    old = await anonymous.post(TOKEN, data={"username": USER_EMAIL, "password": USER_PASSWORD})
    assert old.status_code == 401
    new = bearer(await sign_in(anonymous, USER_EMAIL, NEW_PASSWORD))
    assert (await anonymous.get(ME, headers=new)).status_code == 200


async def test_new_password_follows_the_length_rules(client: AsyncClient) -> None:
    assert_problem(await change_password(client, USER_PASSWORD, "short"), 422)
    assert (await client.get(ME)).status_code == 200  # nothing changed


# Administration


async def test_superuser_lists_users(anonymous: AsyncClient, admin: Headers) -> None:
    response = await anonymous.get(USERS, headers=admin)

    assert response.status_code == 200, response.text
    page = response.json()
    assert {user["email"] for user in page["items"]} == {USER_EMAIL, ADMIN_EMAIL}
    assert all(set(user) == PUBLIC_FIELDS for user in page["items"])
    assert page["next_offset"] is None
    first = (await anonymous.get(USERS, params={"limit": 1}, headers=admin)).json()
    assert len(first["items"]) == 1
    assert first["next_offset"] == 1


async def test_superuser_reads_a_user(
    anonymous: AsyncClient, admin: Headers, user: Headers
) -> None:
    user_id = await id_of(anonymous, user)

    response = await anonymous.get(f"{USERS}/{user_id}", headers=admin)

    assert response.status_code == 200
    assert response.json()["email"] == USER_EMAIL
    assert_problem(await anonymous.get(f"{USERS}/{uuid.uuid4()}", headers=admin), 404)


async def test_superuser_updates_a_user(
    anonymous: AsyncClient, admin: Headers, user: Headers, other: Headers
) -> None:
    user_id = await id_of(anonymous, user)

    response = await anonymous.patch(
        f"{USERS}/{user_id}",
        json={"email": "Promoted@Example.com", "is_superuser": True},
        headers=admin,
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "promoted@example.com"
    assert response.json()["is_superuser"] is True
    # The new right holds at once, with the token the user already had.
    assert (await anonymous.get(USERS, headers=user)).status_code == 200
    taken = await anonymous.patch(f"{USERS}/{user_id}", json={"email": OTHER_EMAIL}, headers=admin)
    assert_problem(taken, 409)
    missing = await anonymous.patch(
        f"{USERS}/{uuid.uuid4()}", json={"is_active": False}, headers=admin
    )
    assert_problem(missing, 404)


async def test_deactivating_a_user_voids_their_tokens_at_once(
    anonymous: AsyncClient, admin: Headers
) -> None:
    pair = await sign_in(anonymous, USER_EMAIL, USER_PASSWORD)
    user_url = f"{USERS}/{await id_of(anonymous, bearer(pair))}"

    response = await anonymous.patch(user_url, json={"is_active": False}, headers=admin)

    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert (await anonymous.get(ME, headers=bearer(pair))).status_code == 401
    refreshed = await anonymous.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status_code == 401
    login = await anonymous.post(TOKEN, data={"username": USER_EMAIL, "password": USER_PASSWORD})
    assert login.status_code == 401
    # Reactivated, the user signs in again; the tokens from before stay void.
    assert (await anonymous.patch(user_url, json={"is_active": True}, headers=admin)).is_success
    await sign_in(anonymous, USER_EMAIL, USER_PASSWORD)
    assert (await anonymous.get(ME, headers=bearer(pair))).status_code == 401


async def test_deleting_a_user_voids_their_token_and_removes_their_items(
    anonymous: AsyncClient, admin: Headers, user: Headers
) -> None:
    user_url = f"{USERS}/{await id_of(anonymous, user)}"
    item = await create_item(anonymous, user, "mine")

    response = await anonymous.delete(user_url, headers=admin)

    assert response.status_code == 204
    assert (await anonymous.get(ME, headers=user)).status_code == 401
    assert_problem(await anonymous.get(f"{ITEMS}/{item['id']}", headers=admin), 404)
    assert_problem(await anonymous.get(user_url, headers=admin), 404)
    assert_problem(await anonymous.delete(user_url, headers=admin), 404)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "", None),
        ("GET", "/{id}", None),
        ("PATCH", "/{id}", {"is_superuser": True}),
        ("DELETE", "/{id}", None),
    ],
    ids=["list", "read", "update", "delete"],
)
async def test_ordinary_user_gets_403_on_admin_routes(
    client: AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    me = (await client.get(ME)).json()

    response = await client.request(method, USERS + path.format(id=me["id"]), json=body)

    assert_problem(response, 403)
    assert (await client.get(ME)).json() == me  # not changed, not deleted


# Items belong to their creator


async def test_another_users_item_is_hidden(
    anonymous: AsyncClient, user: Headers, other: Headers
) -> None:
    item = await create_item(anonymous, user, "mine")
    url = f"{ITEMS}/{item['id']}"
    missing = await anonymous.get(f"{ITEMS}/{uuid.uuid4()}", headers=other)

    attempts = [
        await anonymous.get(url, headers=other),
        await anonymous.patch(url, json={"title": "theirs"}, headers=other),
        await anonymous.delete(url, headers=other),
        await anonymous.delete(url, headers={**other, "If-Match": '"1"'}),
    ]

    for attempt in attempts:
        assert_problem(attempt, 404)
        assert attempt.json()["detail"] == missing.json()["detail"]  # no existence leak
    assert (await anonymous.get(ITEMS, headers=other)).json()["items"] == []
    assert (await anonymous.get(url, headers=user)).json() == item


async def test_superuser_sees_and_changes_every_item(
    anonymous: AsyncClient, admin: Headers, user: Headers, other: Headers
) -> None:
    mine = await create_item(anonymous, user, "mine")
    theirs = await create_item(anonymous, other, "theirs")

    listed = (await anonymous.get(ITEMS, headers=admin)).json()["items"]
    own = (await anonymous.get(ITEMS, headers=user)).json()["items"]

    assert {item["id"] for item in listed} == {mine["id"], theirs["id"]}
    assert [item["id"] for item in own] == [mine["id"]]
    assert (await anonymous.get(f"{ITEMS}/{theirs['id']}", headers=admin)).json() == theirs
    changed = await anonymous.patch(
        f"{ITEMS}/{theirs['id']}", json={"title": "moderated"}, headers=admin
    )
    assert changed.status_code == 200
    assert changed.json()["owner_id"] == theirs["owner_id"]
    deleted = await anonymous.delete(f"{ITEMS}/{mine['id']}", headers=admin)
    assert deleted.status_code == 204


@pytest.mark.parametrize(
    "change", [{"is_superuser": False}, {"is_active": False}], ids=["demote", "deactivate"]
)
async def test_superusers_cannot_lock_themselves_out(
    anonymous: AsyncClient, admin: Headers, change: dict[str, bool]
) -> None:
    admin_id = await id_of(anonymous, admin)

    patched = await anonymous.patch(f"{USERS}/{admin_id}", json=change, headers=admin)
    deleted = await anonymous.delete(f"{USERS}/{admin_id}", headers=admin)

    assert_problem(patched, 409)
    assert_problem(deleted, 409)
    assert (await anonymous.get(USERS, headers=admin)).status_code == 200


async def test_privilege_and_account_changes_are_audited(
    anonymous: AsyncClient, admin: Headers, other: Headers
) -> None:
    other_id = await id_of(anonymous, other)
    url = f"{USERS}/{other_id}"
    for change in (
        {"is_superuser": True},
        {"is_superuser": False},
        {"is_active": False},
        {"is_active": True},
        {"email": "renamed@example.com"},
    ):
        assert (await anonymous.patch(url, json=change, headers=admin)).status_code == 200

    events = (await anonymous.get("/api/v1/audit-events", headers=admin)).json()["items"]
    recorded = [event["action"] for event in events if event["target"] == f"user:{other_id}"]
    assert recorded[:5] == [
        "user_email_changed",
        "user_reactivated",
        "user_deactivated",
        "user_demoted",
        "user_promoted",
    ]


async def test_accented_variants_of_an_email_are_different_accounts(
    anonymous: AsyncClient,
) -> None:
    response = await anonymous.post(
        REGISTER, json={"email": "úser@example.com", "password": PASSWORD}
    )

    assert response.status_code == 201, response.text
    assert response.json()["email"] == "úser@example.com"


async def superuser(engine: AsyncEngine, settings: Settings, email: str) -> tuple[str, Headers]:
    """A new superuser's id and bearer header, made without a password round trip."""
    async with engine.connect() as connection:
        made = await users.create_user(connection, email, PASSWORD, TEST_ORIGIN, is_superuser=True)
        pair = await tokens.issue_pair(connection, settings, made["id"], version=0)
    return str(made["id"]), bearer(pair)


@pytest.mark.parametrize(
    ("method", "change"),
    [("PATCH", {"is_superuser": False}), ("PATCH", {"is_active": False}), ("DELETE", None)],
    ids=["demote", "deactivate", "delete"],
)
async def test_two_superusers_removing_each_other_at_once_leave_one(
    anonymous: AsyncClient,
    settings: Settings,
    clean_tables: AsyncEngine,
    method: str,
    change: dict[str, bool] | None,
) -> None:
    for trial in range(15):  # a race that wins one time in three shows up here
        first, second = [
            await superuser(clean_tables, settings, f"{name}{trial}@example.com")
            for name in ("first", "second")
        ]

        responses = await asyncio.gather(
            anonymous.request(method, f"{USERS}/{second[0]}", json=change, headers=first[1]),
            anonymous.request(method, f"{USERS}/{first[0]}", json=change, headers=second[1]),
        )

        statuses = sorted(response.status_code for response in responses)
        assert statuses[0] in {200, 204}, [response.text for response in responses]
        assert statuses[1] in {401, 403, 409}, [response.text for response in responses]
        async with clean_tables.connect() as connection:
            remaining = await connection.scalar(
                select(func.count())
                .select_from(User)
                .where(User.is_superuser.is_(True), User.is_active.is_(True))
            )
            assert remaining == 1
            await connection.execute(delete(User).where(User.is_superuser.is_(True)))


HASHING_SECONDS = 0.6  # long enough for several reads


class SlowHashing:
    """The password context, every call of it made to take HASHING_SECONDS."""

    def __init__(self, context: Any) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._context, name)

        def slowly(*args: Any, **kwargs: Any) -> Any:
            time.sleep(HASHING_SECONDS)
            return method(*args, **kwargs)

        return slowly


def password_request(http: AsyncClient, action: str) -> Coroutine[Any, Any, Response]:
    if action == "sign-in":
        return http.post(TOKEN, data={"username": USER_EMAIL, "password": USER_PASSWORD})
    if action == "register":
        return http.post(REGISTER, json={"email": "new@example.com", "password": PASSWORD})
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    if action == "create-key":
        return http.post(
            "/api/v1/api-keys",
            json={"name": "ci", "scopes": ["items:read"], "current_password": USER_PASSWORD},
        )
{%- endif %}
    return http.post(
        f"{ME}/password", json={"current_password": USER_PASSWORD, "new_password": NEW_PASSWORD}
    )


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("sign-in", 200),
        ("register", 201),
        ("change-password", 204),
{%- if cookiecutter.auth == "jwt_and_api_key" %}
        ("create-key", 201),
{%- endif %}
    ],
)
async def test_checking_a_password_holds_no_connection(
    settings: Settings, serve: Serve, monkeypatch: pytest.MonkeyPatch, action: str, status: int
) -> None:
    """With one pooled connection, reads go on while a password is hashed or checked."""
    cramped = settings.model_copy(update={"database_pool_size": 1})
    async with serve(create_app(cramped)) as http:
        monkeypatch.setattr(passwords, "_context", SlowHashing(passwords._context))
        pending = asyncio.create_task(password_request(http, action))
        await asyncio.sleep(HASHING_SECONDS / 6)  # the password is being checked by now

        reads = [(await http.get(ME)).status_code for _ in range(3)]
        finished_first = pending.done()
        response = await pending

    assert reads == [200, 200, 200]
    assert not finished_first  # the reads did not wait for the password check
    assert response.status_code == status, response.text
