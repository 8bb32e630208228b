"""Sign-in, tokens and their attacks: forged, stale, replayed and revoked tokens all get a 401."""

import asyncio
import base64
import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import bcrypt
import jwt
import pytest
from httpx import AsyncClient, Response
from pydantic import SecretStr
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import passwords
from app.core.config import Settings
from app.core.passwords import PASSWORD_MAX_LENGTH
from app.core.tokens import decode_token, encode_token
from app.main import create_app
from app.models.audit_event import AuditEvent
from app.models.refresh_token import RefreshToken, RefreshTokenFamily
from app.models.user import User
from app.services import tokens, users
from tests.conftest import TEST_ORIGIN, TEST_SECRET, USER_EMAIL, USER_PASSWORD, Serve, sign_in

pytestmark = pytest.mark.anyio

TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"
OTHER_EMAIL = "other@example.com"
OTHER_PASSWORD = "another good password"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refresh(http: AsyncClient, refresh_token: str) -> Response:
    return await http.post(REFRESH, json={"refresh_token": refresh_token})


async def add_user(engine: AsyncEngine, email: str, password: str) -> uuid.UUID:
    async with engine.connect() as connection:
        user = await users.create_user(connection, email, password, TEST_ORIGIN)
    user_id: uuid.UUID = user["id"]
    return user_id


async def user_id_of(http: AsyncClient, pair: dict[str, Any]) -> uuid.UUID:
    response = await http.get(ME, headers=bearer(pair["access_token"]))
    assert response.status_code == 200, response.text
    return uuid.UUID(response.json()["id"])


def assert_unauthorized(response: Response) -> None:
    """A 401 problem document that challenges for a bearer token."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert response.headers["www-authenticate"].split(",")[0].strip() == "Bearer"


def claims(settings: Settings, pair: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Valid access-token claims for the user and sign-in of `pair`; `changes` replace claims
    (a timedelta is taken from now)."""
    issued = jwt.decode(pair["access_token"], options={"verify_signature": False})
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "sub": issued["sub"],
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        "jti": str(uuid.uuid4()),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "typ": "access",
        "ver": 0,
        "fam": issued["fam"],
    }
    for name, value in changes.items():
        values[name] = now + value if isinstance(value, timedelta) else value
    return values


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsigned(payload: dict[str, Any]) -> str:
    """A token with `alg: none` and no signature at all."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload, default=lambda moment: int(moment.timestamp())).encode())
    return f"{header}.{body}."


# Sign-in


async def test_sign_in_returns_a_pair_whose_access_token_works(
    anonymous: AsyncClient, settings: Settings
) -> None:
    response = await anonymous.post(
        TOKEN, data={"grant_type": "password", "username": USER_EMAIL, "password": USER_PASSWORD}
    )

    assert response.status_code == 200, response.text
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == settings.access_token_minutes * 60
    assert pair["access_token"] != pair["refresh_token"]
    me = await anonymous.get(ME, headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == USER_EMAIL


async def test_sign_in_ignores_the_letter_case_of_the_email(anonymous: AsyncClient) -> None:
    pair = await sign_in(anonymous, USER_EMAIL.upper())

    assert (await anonymous.get(ME, headers=bearer(pair["access_token"]))).status_code == 200


@pytest.mark.parametrize(
    ("email", "password"),
    [(USER_EMAIL, "wrong password"), ("nobody@example.com", USER_PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
async def test_bad_credentials_are_401(anonymous: AsyncClient, email: str, password: str) -> None:
    response = await anonymous.post(TOKEN, data={"username": email, "password": password})

    assert_unauthorized(response)
    assert response.json()["detail"] == "Wrong email or password."


async def test_unknown_email_costs_as_much_as_a_wrong_password(anonymous: AsyncClient) -> None:
    """Timing must not reveal which emails have accounts (medians, so noise evens out)."""

    async def seconds(email: str, password: str) -> float:
        start = time.perf_counter()
        response = await anonymous.post(TOKEN, data={"username": email, "password": password})
        elapsed = time.perf_counter() - start
        assert response.status_code == 401
        return elapsed

    await seconds("nobody@example.com", "wrong password")  # warm-up
    unknown, wrong = [], []
    for _ in range(5):
        unknown.append(await seconds("nobody@example.com", "wrong password"))
        wrong.append(await seconds(USER_EMAIL, "wrong password"))

    assert statistics.median(unknown) >= statistics.median(wrong) / 2


# Password hashes


async def add_bcrypt_user(engine: AsyncEngine, email: str, password: str) -> uuid.UUID:
    """A user whose password hash predates argon2 (made with bcrypt directly)."""
    user_id, now = uuid.uuid4(), datetime.now(UTC)
    password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    async with engine.connect() as connection:
        await connection.execute(
            insert(User),
            {
                "id": user_id,
                "email": email,
                "password_hash": password_hash,
                "is_active": True,
                "is_superuser": False,
                "token_version": 0,
                "created_at": now,
                "updated_at": now,
            },
        )
    return user_id


async def stored_hash(engine: AsyncEngine, user_id: uuid.UUID) -> str:
    async with engine.connect() as connection:
        return str(await connection.scalar(select(User.password_hash).where(User.id == user_id)))


async def test_bcrypt_hash_verifies_and_is_rehashed_to_argon2(
    anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    user_id = await add_bcrypt_user(clean_tables, OTHER_EMAIL, OTHER_PASSWORD)
    assert (await stored_hash(clean_tables, user_id)).startswith("$2b$")

    await sign_in(anonymous, OTHER_EMAIL, OTHER_PASSWORD)

    assert (await stored_hash(clean_tables, user_id)).startswith("$argon2id$")
    await sign_in(anonymous, OTHER_EMAIL, OTHER_PASSWORD)  # the new hash verifies too


async def test_wrong_password_leaves_a_bcrypt_hash_alone(
    anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    user_id = await add_bcrypt_user(clean_tables, OTHER_EMAIL, OTHER_PASSWORD)

    response = await anonymous.post(TOKEN, data={"username": OTHER_EMAIL, "password": "wrong!!"})

    assert_unauthorized(response)
    assert (await stored_hash(clean_tables, user_id)).startswith("$2b$")


async def test_password_over_72_bytes_against_bcrypt_is_401_not_500(
    anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    await add_bcrypt_user(clean_tables, OTHER_EMAIL, OTHER_PASSWORD)
    long_password = OTHER_PASSWORD + "x" * 80  # bcrypt itself refuses more than 72 bytes

    response = await anonymous.post(
        TOKEN, data={"username": OTHER_EMAIL, "password": long_password}
    )

    assert_unauthorized(response)


async def test_password_over_the_maximum_length_is_422_not_500(
    anonymous: AsyncClient, client: AsyncClient
) -> None:
    too_long = "x" * (PASSWORD_MAX_LENGTH + 1)

    responses = [
        await anonymous.post(
            "/api/v1/auth/register", json={"email": "new@example.com", "password": too_long}
        ),
        await anonymous.post(TOKEN, data={"username": USER_EMAIL, "password": too_long}),
        await client.post(
            f"{ME}/password",
            json={"current_password": USER_PASSWORD, "new_password": too_long},
        ),
    ]

    assert [response.status_code for response in responses] == [422, 422, 422]
    assert all(r.headers["content-type"] == "application/problem+json" for r in responses)


async def test_password_at_the_maximum_length_works(anonymous: AsyncClient) -> None:
    longest = "é" * PASSWORD_MAX_LENGTH  # two bytes each in UTF-8
    response = await anonymous.post(
        "/api/v1/auth/register", json={"email": "new@example.com", "password": longest}
    )
    assert response.status_code == 201, response.text

    await sign_in(anonymous, "new@example.com", longest)


# Forged and broken access tokens


async def test_a_hand_made_token_with_every_claim_is_accepted(
    anonymous: AsyncClient, settings: Settings
) -> None:
    """The control for the forgeries below: only what they change makes them fail."""
    pair = await sign_in(anonymous)
    user_id = await user_id_of(anonymous, pair)
    token = jwt.encode(claims(settings, pair), TEST_SECRET, algorithm="HS256")

    response = await anonymous.get(ME, headers=bearer(token))

    assert response.status_code == 200
    assert response.json()["id"] == str(user_id)


@pytest.mark.parametrize(
    "changes",
    [
        {
            "exp": timedelta(seconds=-30),
            "iat": timedelta(minutes=-10),
            "nbf": timedelta(minutes=-10),
        },
        {"nbf": timedelta(minutes=10)},
        {"typ": "refresh", "fam": str(uuid.uuid4())},
        {"typ": "id"},
        {"aud": "another-api"},
        {"iss": "someone-else"},
        {"ver": 1},
        {"ver": "0"},
        {"sub": "admin"},
        {"sub": str(uuid.uuid4())},
        {"fam": str(uuid.uuid4())},
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "refresh-type",
        "unknown-type",
        "wrong-audience",
        "wrong-issuer",
        "other-version",
        "version-not-an-integer",
        "subject-not-a-uuid",
        "unknown-subject",
        "unknown-sign-in",
    ],
)
async def test_token_with_bad_claims_is_401(
    anonymous: AsyncClient, settings: Settings, changes: dict[str, Any]
) -> None:
    pair = await sign_in(anonymous)
    token = jwt.encode(claims(settings, pair, **changes), TEST_SECRET, algorithm="HS256")

    assert_unauthorized(await anonymous.get(ME, headers=bearer(token)))


@pytest.mark.parametrize(
    "missing", ["sub", "exp", "iat", "nbf", "jti", "iss", "aud", "typ", "ver", "fam"]
)
async def test_token_missing_a_required_claim_is_401(
    anonymous: AsyncClient, settings: Settings, missing: str
) -> None:
    pair = await sign_in(anonymous)
    payload = claims(settings, pair)
    del payload[missing]
    token = jwt.encode(payload, TEST_SECRET, algorithm="HS256")

    assert_unauthorized(await anonymous.get(ME, headers=bearer(token)))


async def test_unsigned_alg_none_token_is_401(anonymous: AsyncClient, settings: Settings) -> None:
    pair = await sign_in(anonymous)

    assert_unauthorized(await anonymous.get(ME, headers=bearer(unsigned(claims(settings, pair)))))


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [("another-secret-that-is-long-enough-0123456789", "HS256"), (TEST_SECRET, "HS384")],
    ids=["another-key", "another-algorithm"],
)
async def test_token_signed_otherwise_is_401(
    anonymous: AsyncClient, settings: Settings, key: str, algorithm: str
) -> None:
    pair = await sign_in(anonymous)
    token = jwt.encode(claims(settings, pair), key, algorithm=algorithm)

    assert_unauthorized(await anonymous.get(ME, headers=bearer(token)))


async def test_tampered_payload_is_401(anonymous: AsyncClient, clean_tables: AsyncEngine) -> None:
    """Another user's id in `sub`, keeping the original signature."""
    other_id = await add_user(clean_tables, OTHER_EMAIL, OTHER_PASSWORD)
    token = (await sign_in(anonymous))["access_token"]
    header, payload, signature = token.split(".")
    forged_claims = {**json.loads(unb64(payload)), "sub": str(other_id)}
    forged = f"{header}.{b64(json.dumps(forged_claims).encode())}.{signature}"

    assert (await anonymous.get(ME, headers=bearer(token))).status_code == 200
    assert_unauthorized(await anonymous.get(ME, headers=bearer(forged)))


@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b.c", "Bearer"], ids=["empty", "word", "dots", "scheme"]
)
async def test_malformed_bearer_token_is_401(anonymous: AsyncClient, token: str) -> None:
    assert_unauthorized(await anonymous.get(ME, headers=bearer(token)))


async def test_missing_credentials_are_401(anonymous: AsyncClient) -> None:
    assert_unauthorized(await anonymous.get(ME))


async def test_refresh_token_used_as_access_token_is_401(anonymous: AsyncClient) -> None:
    pair = await sign_in(anonymous)

    assert_unauthorized(await anonymous.get(ME, headers=bearer(pair["refresh_token"])))


async def test_access_token_used_to_refresh_is_401(anonymous: AsyncClient) -> None:
    pair = await sign_in(anonymous)

    assert_unauthorized(await refresh(anonymous, pair["access_token"]))
    assert (await refresh(anonymous, pair["refresh_token"])).status_code == 200


# Tokens of users who changed


async def test_tokens_of_a_deleted_user_are_401(
    anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    user_id = await add_user(clean_tables, OTHER_EMAIL, OTHER_PASSWORD)
    pair = await sign_in(anonymous, OTHER_EMAIL, OTHER_PASSWORD)
    async with clean_tables.connect() as connection:
        await connection.execute(delete(User).where(User.id == user_id))

    assert_unauthorized(await anonymous.get(ME, headers=bearer(pair["access_token"])))
    assert_unauthorized(await refresh(anonymous, pair["refresh_token"]))


async def test_tokens_of_a_deactivated_user_are_401(
    anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    user_id = await add_user(clean_tables, OTHER_EMAIL, OTHER_PASSWORD)
    pair = await sign_in(anonymous, OTHER_EMAIL, OTHER_PASSWORD)
    async with clean_tables.connect() as connection:
        await connection.execute(update(User).where(User.id == user_id).values(is_active=False))

    assert_unauthorized(await anonymous.get(ME, headers=bearer(pair["access_token"])))
    assert_unauthorized(await refresh(anonymous, pair["refresh_token"]))
    assert_unauthorized(
        await anonymous.post(TOKEN, data={"username": OTHER_EMAIL, "password": OTHER_PASSWORD})
    )


async def test_tokens_issued_before_a_password_change_are_401(anonymous: AsyncClient) -> None:
    before = await sign_in(anonymous)
    changed = await anonymous.post(
        f"{ME}/password",
        json={"current_password": USER_PASSWORD, "new_password": "a brand new password"},
        headers=bearer(before["access_token"]),
    )
    assert changed.status_code == 204, changed.text

    assert_unauthorized(await anonymous.get(ME, headers=bearer(before["access_token"])))
    assert_unauthorized(await refresh(anonymous, before["refresh_token"]))
    after = await sign_in(anonymous, USER_EMAIL, "a brand new password")
    assert (await anonymous.get(ME, headers=bearer(after["access_token"]))).status_code == 200


# Refresh and logout


async def test_refresh_rotates_the_pair(anonymous: AsyncClient) -> None:
    first = await sign_in(anonymous)

    response = await refresh(anonymous, first["refresh_token"])

    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (await anonymous.get(ME, headers=bearer(second["access_token"]))).status_code == 200
    assert (await refresh(anonymous, second["refresh_token"])).status_code == 200


async def test_a_refresh_token_works_only_once(anonymous: AsyncClient) -> None:
    pair = await sign_in(anonymous)

    assert (await refresh(anonymous, pair["refresh_token"])).status_code == 200
    assert_unauthorized(await refresh(anonymous, pair["refresh_token"]))


async def test_reusing_a_refresh_token_revokes_its_family(
    anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    stolen = await sign_in(anonymous)
    user_id = await user_id_of(anonymous, stolen)
    other_session = await sign_in(anonymous)
    rotated = await refresh(anonymous, stolen["refresh_token"])
    assert rotated.status_code == 200
    newest = rotated.json()

    reuse = await refresh(anonymous, stolen["refresh_token"])

    assert_unauthorized(reuse)
    assert "already used" in reuse.json()["detail"]
    assert_unauthorized(await refresh(anonymous, newest["refresh_token"]))
    # Its access tokens die with it, the one just issued included.
    assert_unauthorized(await anonymous.get(ME, headers=bearer(newest["access_token"])))
    assert_unauthorized(await anonymous.get(ME, headers=bearer(stolen["access_token"])))
    # Only that sign-in is revoked: another session of the same user goes on.
    assert (await anonymous.get(ME, headers=bearer(other_session["access_token"]))).is_success
    assert (await refresh(anonymous, other_session["refresh_token"])).status_code == 200
    async with clean_tables.connect() as connection:
        targets = await connection.scalars(
            select(AuditEvent.target).where(AuditEvent.action == "refresh_token_reused")
        )
        assert list(targets) == [f"user:{user_id}"]


async def test_logout_revokes_the_refresh_and_the_access_token(anonymous: AsyncClient) -> None:
    pair = await sign_in(anonymous)
    assert (await anonymous.get(ME, headers=bearer(pair["access_token"]))).status_code == 200

    response = await anonymous.post(LOGOUT, json={"refresh_token": pair["refresh_token"]})

    assert response.status_code == 204
    assert_unauthorized(await refresh(anonymous, pair["refresh_token"]))
    assert_unauthorized(await anonymous.get(ME, headers=bearer(pair["access_token"])))


async def test_logout_does_not_touch_other_sessions(anonymous: AsyncClient) -> None:
    leaving, staying = await sign_in(anonymous), await sign_in(anonymous)

    await anonymous.post(LOGOUT, json={"refresh_token": leaving["refresh_token"]})

    assert (await anonymous.get(ME, headers=bearer(staying["access_token"]))).status_code == 200
    assert (await refresh(anonymous, staying["refresh_token"])).status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c"], ids=["word", "dots"])
async def test_logout_with_garbage_is_401(anonymous: AsyncClient, token: str) -> None:
    assert_unauthorized(await anonymous.post(LOGOUT, json={"refresh_token": token}))


async def test_logout_with_an_access_token_is_401(anonymous: AsyncClient) -> None:
    pair = await sign_in(anonymous)

    assert_unauthorized(await anonymous.post(LOGOUT, json={"refresh_token": pair["access_token"]}))


async def test_logout_with_an_older_token_of_the_sign_in_ends_it(
    anonymous: AsyncClient, clean_tables: AsyncEngine
) -> None:
    first = await sign_in(anonymous)
    rotated = (await refresh(anonymous, first["refresh_token"])).json()

    response = await anonymous.post(LOGOUT, json={"refresh_token": first["refresh_token"]})

    assert response.status_code == 204
    assert_unauthorized(await refresh(anonymous, rotated["refresh_token"]))
    async with clean_tables.connect() as connection:
        actions = await connection.scalars(select(AuditEvent.action))
        assert "logout" in set(actions)


async def test_sign_in_form_refuses_nul_characters(anonymous: AsyncClient) -> None:
    for form in (
        {"username": "a\x00@example.com", "password": "x"},
        {"username": "a@example.com", "password": "p\x00w"},
    ):
        response = await anonymous.post(TOKEN, data=form)
        assert response.status_code == 422, form
        assert response.headers["content-type"] == "application/problem+json"


# Revocation under concurrency

TRIALS = 30  # enough to catch a race that happens one time in three
ROTATIONS = 15


async def race(http: AsyncClient, stolen: dict[str, Any], victim_action: str) -> dict[str, Any]:
    """The attacker rotates `stolen` in a loop while its owner presents the first, by then
    used, token again ("reuse") or logs out with it ("logout"); the attacker's newest pair."""
    held = [stolen]
    rotated_once = asyncio.Event()

    async def attack() -> None:
        for _ in range(ROTATIONS):
            response = await refresh(http, held[-1]["refresh_token"])
            if response.status_code != 200:
                break
            held.append(response.json())
            rotated_once.set()
        rotated_once.set()

    async def revoke() -> Response:
        await rotated_once.wait()
        if victim_action == "reuse":
            return await refresh(http, stolen["refresh_token"])
        return await http.post(LOGOUT, json={"refresh_token": stolen["refresh_token"]})

    _, answer = await asyncio.gather(attack(), revoke())
    assert answer.status_code == (401 if victim_action == "reuse" else 204), answer.text
    return held[-1]


@pytest.mark.parametrize("victim_action", ["reuse", "logout"])
async def test_no_token_of_a_sign_in_survives_its_revocation(
    anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine, victim_action: str
) -> None:
    """Once reuse detection or a logout has answered, nothing the attacker holds may work,
    whatever was in flight."""
    user_id = await add_user(clean_tables, OTHER_EMAIL, OTHER_PASSWORD)
    escapes = []
    for trial in range(TRIALS):
        async with clean_tables.connect() as connection:
            stolen = await tokens.issue_pair(connection, settings, user_id, version=0)
        newest = await race(anonymous, stolen, victim_action)
        refreshed = await refresh(anonymous, newest["refresh_token"])
        read = await anonymous.get(ME, headers=bearer(newest["access_token"]))
        if 200 in (refreshed.status_code, read.status_code):
            escapes.append(trial)

    assert escapes == []


async def test_a_sign_in_flood_does_not_stop_reads(settings: Settings, serve: Serve) -> None:
    """Password checks hold no connection and queue only so far, so reads go on meanwhile:
    they are answered before the sign-ins that were let in, not after all of them."""
    cramped = settings.model_copy(
        update={"database_pool_size": 3, "password_hash_threads": 1, "password_hash_backlog": 4}
    )
    finished: list[str] = []
    async with serve(create_app(cramped)) as http:
        created = await http.post("/api/v1/items", json={"title": "still readable"})
        assert created.status_code == 201, created.text

        async def sign_in_as_nobody(number: int) -> Response:
            form = {"username": f"nobody{number}@example.com", "password": "a wrong password"}
            response = await http.post(TOKEN, data=form, headers={"Authorization": ""})
            finished.append(f"sign-in {response.status_code}")
            return response

        async def read() -> Response:
            response = await http.get("/api/v1/items")
            finished.append("read")
            return response

        results = await asyncio.gather(
            *(sign_in_as_nobody(number) for number in range(200)), *(read() for _ in range(20))
        )

    sign_ins, reads = results[:200], results[200:]
    assert [response.status_code for response in reads] == [200] * 20
    assert {response.status_code for response in sign_ins} == {401, 503}
    assert all(
        response.headers["retry-after"] == "1"
        for response in sign_ins
        if response.status_code == 503
    )
    checked = [index for index, what in enumerate(finished) if what == "sign-in 401"]
    last_read = max(index for index, what in enumerate(finished) if what == "read")
    assert last_read < checked[-1], finished


async def test_purging_deletes_only_sign_ins_whose_tokens_all_expired(
    anonymous: AsyncClient, settings: Settings, clean_tables: AsyncEngine
) -> None:
    user_id = await add_user(clean_tables, OTHER_EMAIL, OTHER_PASSWORD)
    async with clean_tables.connect() as connection:
        expired = await tokens.issue_pair(connection, settings, user_id, version=0)
        current = await tokens.issue_pair(connection, settings, user_id, version=0)
        long_ago = datetime.now(UTC) - timedelta(days=1)
        expired_family = jwt.decode(expired["refresh_token"], options={"verify_signature": False})
        await connection.execute(
            update(RefreshTokenFamily)
            .where(RefreshTokenFamily.id == uuid.UUID(expired_family["fam"]))
            .values(expires_at=long_ago)
        )
        purged = await tokens.purge_expired(connection)
        left = await connection.scalar(
            select(func.count()).select_from(RefreshToken).where(RefreshToken.user_id == user_id)
        )

    assert purged == 1
    assert left == 1
    assert (await refresh(anonymous, current["refresh_token"])).status_code == 200


class StuckHashing:
    """The password context, every call of it held until `release` is set."""

    def __init__(self, context: Any, release: threading.Event) -> None:
        self._context = context
        self._release = release

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._context, name)

        def held(*args: Any, **kwargs: Any) -> Any:
            self._release.wait(10)
            return method(*args, **kwargs)

        return held


async def test_password_checks_are_refused_at_the_door_while_hashing_is_full(
    settings: Settings, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every hashing place taken, the endpoints that check a password answer 503 before
    their bodies are read (a malformed body gets 503, not 422), and reads go on."""
    cramped = settings.model_copy(update={"password_hash_threads": 1, "password_hash_backlog": 0})
    release = threading.Event()
    async with serve(create_app(cramped)) as http:
        monkeypatch.setattr(passwords, "_context", StuckHashing(passwords._context, release))
        form = {"username": USER_EMAIL, "password": USER_PASSWORD}
        holding = asyncio.create_task(http.post(TOKEN, data=form, headers={"Authorization": ""}))
        for _ in range(500):  # until the one hashing place is taken
            if not passwords._hasher.has_room:
                break
            await asyncio.sleep(0.01)

        refused = [
            await http.post(
                path, content=b"\xff not a body", headers={"content-type": "text/plain"}
            )
            for path in (
                TOKEN,
                "/api/v1/auth/register",
                "/api/v1/users/me/password",
{%- if cookiecutter.auth == "jwt_and_api_key" %}
                "/api/v1/api-keys",
{%- endif %}
            )
        ]
        read = await http.get("/api/v1/items")
        release.set()
        held = await holding

    for response in refused:
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert response.headers["content-type"] == "application/problem+json"
    assert read.status_code == 200
    assert held.status_code == 200, held.text


async def test_a_token_verified_before_is_refused_once_it_expires(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verification is remembered per token, but its times are checked on every use."""
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=5)
    token = encode_token(
        settings,
        kind="access",
        user_id=uuid.uuid4(),
        version=0,
        token_id=uuid.uuid4(),
        issued_at=now,
        expires_at=expires,
        family_id=uuid.uuid4(),
    )
    assert decode_token(settings, token, "access") is not None
    assert decode_token(settings, token, "refresh") is None  # the kind is checked too
    other_secret = settings.model_copy(update={"secret_key": SecretStr("x" * 48)})
    assert decode_token(other_secret, token, "access") is None
    # The clock moves past the expiry instead of the test sleeping through it: a sleep of a
    # second or so races a busy machine and the whole-second `exp` claim.
    monkeypatch.setattr(time, "time", lambda: expires.timestamp() + 1)
    assert decode_token(settings, token, "access") is None
