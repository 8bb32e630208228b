"""Rate limits: 429 problem+json with Retry-After and RateLimit-* once a budget is spent,
budgets per client address (from a trusted proxy only) and, on sign-in, per account."""

from typing import Any

import pytest
from httpx import Response
from pydantic import ValidationError
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from sqlalchemy.ext.asyncio import AsyncEngine
{%- endif %}

from app.core.config import Settings
from app.main import create_app
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from app.services import users
from tests.conftest import TEST_ORIGIN, USER_EMAIL, USER_PASSWORD, Serve
{%- else %}
from tests.conftest import Serve
{%- endif %}

pytestmark = pytest.mark.anyio

ITEMS = "/api/v1/items"
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
TOKEN = "/api/v1/auth/token"
REGISTER = "/api/v1/auth/register"
OTHER_EMAIL = "other@example.com"
OTHER_PASSWORD = "another good password"
{%- endif %}


def limited(settings: Settings, **limits: Any) -> Settings:
    return settings.model_copy(
        update={f"rate_limit_{name}": value for name, value in limits.items()}
    )


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def assert_throttled(response: Response, limit: int, window: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 429
    assert 1 <= int(response.headers["Retry-After"]) <= window
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"] == response.headers["Retry-After"]
    assert response.headers["RateLimit-Policy"] == f"{limit};w={window}"


async def test_a_client_past_its_budget_gets_429_and_health_is_exempt(
    settings: Settings, serve: Serve
) -> None:
    async with serve(create_app(limited(settings, client="5/minute"))) as http:
        answers = [(await http.get(ITEMS)).status_code for _ in range(5)]
        assert 429 not in answers
        assert_throttled(await http.get(ITEMS), limit=5, window=60)
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/health/ready")).status_code == 200


async def test_forwarded_addresses_count_only_from_trusted_proxies(
    settings: Settings, serve: Serve
) -> None:
    """Without TRUSTED_PROXIES a client cannot pick a fresh address per request; behind a
    trusted proxy each forwarded address has its own budget."""
    untrusted = limited(settings, client="3/minute")
    async with serve(create_app(untrusted)) as http:
        answers = [
            (await http.get(ITEMS, headers=from_address(f"203.0.113.{n}"))).status_code
            for n in range(4)
        ]
        assert answers[-1] == 429
    trusted = untrusted.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})
    async with serve(create_app(trusted)) as http:
        answers = [
            (await http.get(ITEMS, headers=from_address(f"203.0.113.{n}"))).status_code
            for n in range(4)
        ]
        assert 429 not in answers
        for _ in range(3):
            await http.get(ITEMS, headers=from_address("198.51.100.7"))
        assert (await http.get(ITEMS, headers=from_address("198.51.100.7"))).status_code == 429


@pytest.mark.parametrize("text", ["ten per minute", "5/fortnight", "0/second", "-1/second", ""])
def test_a_malformed_limit_stops_startup(text: str) -> None:
    with pytest.raises(ValidationError, match="is not a rate limit"):
        Settings(_env_file=None, rate_limit_client=text)
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


async def test_wrong_passwords_for_one_account_meet_429_from_any_address(
    settings: Settings, serve: Serve, clean_tables: AsyncEngine
) -> None:
    """30 guesses spread over 30 addresses: the account's budget stops them, while another
    account still signs in from those same addresses."""
    async with clean_tables.connect() as connection:
        await users.create_user(connection, OTHER_EMAIL, OTHER_PASSWORD, TEST_ORIGIN)
    configured = limited(settings, sign_in_account="10/minute", sign_in_client="5/minute")
    configured = configured.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})
    async with serve(create_app(configured), headers={}) as http:
        answers = []
        for n in range(30):
            response = await http.post(
                TOKEN,
                data={"username": USER_EMAIL, "password": f"guess {n}"},
                headers=from_address(f"203.0.113.{n}"),
            )
            answers.append(response.status_code)
        assert answers[:10] == [401] * 10
        assert answers[10:] == [429] * 20
        assert_throttled(response, limit=10, window=60)

        # The right password is refused too while the account's budget is spent...
        right = await http.post(
            TOKEN,
            data={"username": USER_EMAIL.upper(), "password": USER_PASSWORD},
            headers=from_address("198.51.100.1"),
        )
        assert right.status_code == 429
        # ...but the other account is untouched, from an address the guesser used.
        other = await http.post(
            TOKEN,
            data={"username": OTHER_EMAIL, "password": OTHER_PASSWORD},
            headers=from_address("203.0.113.1"),
        )
        assert other.status_code == 200, other.text


async def test_sign_ins_from_one_address_are_limited(
    settings: Settings, serve: Serve, clean_tables: AsyncEngine
) -> None:
    async with clean_tables.connect() as connection:
        await users.create_user(connection, OTHER_EMAIL, OTHER_PASSWORD, TEST_ORIGIN)
    async with serve(create_app(limited(settings, sign_in_client="3/minute")), headers={}) as http:
        form = {"username": OTHER_EMAIL, "password": OTHER_PASSWORD}
        answers = [(await http.post(TOKEN, data=form)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]


async def test_registrations_are_limited_per_address_and_per_email(
    settings: Settings, serve: Serve, clean_tables: AsyncEngine
) -> None:
    configured = limited(settings, register_client="3/hour", register_account="2/hour")
    configured = configured.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})
    async with serve(create_app(configured), headers={}) as http:
        same_email = [
            await http.post(
                REGISTER,
                json={"email": "new@example.com", "password": OTHER_PASSWORD},
                headers=from_address(f"203.0.113.{n}"),
            )
            for n in range(3)
        ]
        assert [response.status_code for response in same_email] == [201, 409, 429]
        one_address = [
            await http.post(
                REGISTER,
                json={"email": f"new{n}@example.com", "password": OTHER_PASSWORD},
                headers=from_address("198.51.100.2"),
            )
            for n in range(4)
        ]
        assert [response.status_code for response in one_address] == [201, 201, 201, 429]
    assert_throttled(one_address[-1], limit=3, window=3600)


async def test_refreshes_are_limited_per_account(
    settings: Settings, serve: Serve, clean_tables: AsyncEngine
) -> None:
    async with clean_tables.connect() as connection:
        await users.create_user(connection, OTHER_EMAIL, OTHER_PASSWORD, TEST_ORIGIN)
    configured = limited(settings, refresh_account="2/minute")
    configured = configured.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})
    async with serve(create_app(configured), headers={}) as http:
        form = {"username": OTHER_EMAIL, "password": OTHER_PASSWORD}
        pair = (await http.post(TOKEN, data=form)).json()
        answers = []
        for n in range(3):
            response = await http.post(
                "/api/v1/auth/refresh",
                json={"refresh_token": pair["refresh_token"]},
                headers=from_address(f"203.0.113.{n}"),
            )
            answers.append(response.status_code)
            if response.status_code == 200:
                pair = response.json()
        # A forged token has no account: only its address's budget applies to it.
        forged = await http.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": "not.a.token"},
            headers=from_address("203.0.113.9"),
        )
    assert answers == [200, 200, 429]
    assert forged.status_code == 401
{%- endif %}
{%- if cookiecutter.auth in ["api_key", "jwt_and_api_key"] %}


async def test_failed_keys_are_limited_per_address(
    settings: Settings, serve: Serve, credentials: dict[str, str]
) -> None:
    """Past the budget of wrong keys, an address has no key checked, not even a good one;
    other addresses are unaffected."""
    configured = limited(settings, key_failures_client="3/minute")
    configured = configured.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})
    async with serve(create_app(configured), headers={}) as http:
        guesser = from_address("203.0.113.5")
        wrong = [
            (await http.get(ITEMS, headers={**guesser, "X-API-Key": f"wrong-{n}"})).status_code
            for n in range(4)
        ]
        assert wrong == [401, 401, 401, 429]
{%- if cookiecutter.auth == "api_key" %}
        assert (await http.get(ITEMS, headers={**guesser, **credentials})).status_code == 429
{%- endif %}
        elsewhere = {**from_address("198.51.100.5"), **credentials}
        assert (await http.get(ITEMS, headers=elsewhere)).status_code == 200
{%- endif %}
