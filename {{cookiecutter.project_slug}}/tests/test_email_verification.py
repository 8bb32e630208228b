"""Email verification, through a real SMTP server that the tests start on a free port (the
`inbox` fixture): the link sent at sign-up, asking for another, signing in unverified, and
changing the address."""

import asyncio
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.main import create_app
from app.models.audit_event import AuditEvent
from app.models.user import User
from app.services import tokens, users
from tests.conftest import (
    TEST_ORIGIN,
    USER_EMAIL,
    USER_PASSWORD,
    Inbox,
    Serve,
    arrived,
    send_mail,
)

pytestmark = pytest.mark.anyio

REGISTER = "/api/v1/auth/register"
VERIFY = "/api/v1/auth/verify-email"
RESEND = "/api/v1/auth/verify-email/resend"
TOKEN = "/api/v1/auth/token"
CHANGE = "/api/v1/users/me/email"
ME = "/api/v1/users/me"
ADA = "ada@example.com"


@pytest.fixture
def strict_settings(mail_settings: Settings) -> Settings:
    """Unverified accounts may not sign in."""
    return mail_settings.model_copy(update={"require_verified_email": True})


@pytest.fixture
async def http(
    strict_settings: Settings, serve: Serve, clean_tables: AsyncEngine
) -> AsyncIterator[AsyncClient]:
    async with serve(create_app(strict_settings), headers={}) as client:
        yield client


async def _link_token(inbox: Inbox, count: int, settings: Settings, engine: AsyncEngine) -> str:
    """The token of the newest of `count` messages, once they all arrived."""
    await send_mail(settings, engine)
    messages = await arrived(inbox, count)
    assert len(messages) == count
    return _token_in(messages[-1])


def _token_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"https://app\.example\.com/verify\?token=([\w-]+)", body.get_content())
    assert found, body.get_content()
    return found.group(1)


async def _verified(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        stamp = await connection.scalar(select(User.email_verified_at).where(User.email == ADA))
    return stamp is not None


async def test_a_new_account_verifies_its_address_before_it_may_sign_in(
    http: AsyncClient,
    inbox: tuple[Inbox, int],
    strict_settings: Settings,
    clean_tables: AsyncEngine,
) -> None:
    registered = await http.post(REGISTER, json={"email": ADA, "password": USER_PASSWORD})
    assert registered.status_code == 201, registered.text
    token = await _link_token(inbox[0], 1, strict_settings, clean_tables)
    assert inbox[0].messages[0]["To"] == ADA

    refused = await http.post(TOKEN, data={"username": ADA, "password": USER_PASSWORD})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    wrong = await http.post(TOKEN, data={"username": ADA, "password": "not the password"})
    assert wrong.status_code == 401, "only the right password learns that verification is due"

    assert (await http.post(VERIFY, json={"token": token})).status_code == 204
    assert await _verified(clean_tables)
    assert (await http.post(VERIFY, json={"token": token})).status_code == 400
    signed_in = await http.post(TOKEN, data={"username": ADA, "password": USER_PASSWORD})
    assert signed_in.status_code == 200, signed_in.text

    async with clean_tables.connect() as connection:
        actions = set(await connection.scalars(select(AuditEvent.action)))
    assert {"email_verification_sent", "email_verified"} <= actions


async def test_a_new_link_can_be_asked_for_and_the_answer_tells_nothing(
    http: AsyncClient,
    inbox: tuple[Inbox, int],
    strict_settings: Settings,
    clean_tables: AsyncEngine,
) -> None:
    await http.post(REGISTER, json={"email": ADA, "password": USER_PASSWORD})
    first = await _link_token(inbox[0], 1, strict_settings, clean_tables)
    known = await http.post(RESEND, json={"email": ADA.upper()})
    unknown = await http.post(RESEND, json={"email": "nobody@example.com"})
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert known.status_code == 202
    second = await _link_token(inbox[0], 2, strict_settings, clean_tables)
    assert second != first
    assert (await http.post(VERIFY, json={"token": second})).status_code == 204
    # Verifying used up every other link of the account.
    assert (await http.post(VERIFY, json={"token": first})).status_code == 400
    again = await http.post(RESEND, json={"email": ADA})
    assert again.status_code == 202
    await send_mail(strict_settings, clean_tables)
    await asyncio.sleep(0.2)
    assert len(inbox[0].messages) == 2, "a verified address gets no more links"


async def test_a_made_up_token_is_refused(http: AsyncClient) -> None:
    response = await http.post(VERIFY, json={"token": "made-up"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The verification link is invalid")


async def _holder(engine: AsyncEngine, settings: Settings, address: str) -> dict[str, str]:
    """Headers of a new account with this (verified) address."""
    async with engine.connect() as connection:
        user = await users.create_user(connection, address, USER_PASSWORD, TEST_ORIGIN)
        pair = await tokens.issue_pair(connection, settings, user["id"], version=0)
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def test_an_address_changes_only_once_the_new_one_confirms_it(
    http: AsyncClient,
    inbox: tuple[Inbox, int],
    strict_settings: Settings,
    clean_tables: AsyncEngine,
    credentials: dict[str, str],
) -> None:
    user = credentials  # USER_EMAIL's
    await _holder(clean_tables, strict_settings, "taken@example.com")
    change: dict[str, Any] = {"current_password": USER_PASSWORD, "email": "Ada.New@Example.com"}
    refused = [
        await http.post(CHANGE, json={**change, "current_password": "wrong"}, headers=user),
        await http.post(CHANGE, json={**change, "email": USER_EMAIL}, headers=user),
        await http.post(CHANGE, json={**change, "email": "taken@example.com"}, headers=user),
        await http.post(CHANGE, json={**change, "is_superuser": True}, headers=user),
    ]
    assert [response.status_code for response in refused] == [400, 400, 409, 422]

    asked = await http.post(CHANGE, json=change, headers=user)
    assert asked.status_code == 202, asked.text
    assert (await http.get(ME, headers=user)).json()["email"] == USER_EMAIL
    token = await _link_token(inbox[0], 1, strict_settings, clean_tables)
    assert inbox[0].messages[0]["To"] == "ada.new@example.com"

    assert (await http.post(VERIFY, json={"token": token})).status_code == 204
    assert (await http.get(ME, headers=user)).json()["email"] == "ada.new@example.com"
    assert (await http.post(VERIFY, json={"token": token})).status_code == 400
    moved = await http.post(
        TOKEN, data={"username": "ada.new@example.com", "password": USER_PASSWORD}
    )
    assert moved.status_code == 200, "the new address is verified"
    async with clean_tables.connect() as connection:
        actions = set(await connection.scalars(select(AuditEvent.action)))
    assert {"email_change_requested", "user_email_changed"} <= actions


async def test_one_address_claimed_by_a_sign_up_and_two_changes_goes_to_one(
    http: AsyncClient,
    inbox: tuple[Inbox, int],
    strict_settings: Settings,
    clean_tables: AsyncEngine,
) -> None:
    holders = [
        await _holder(clean_tables, strict_settings, f"holder{n}@example.com") for n in range(2)
    ]
    for trial in range(3):
        wanted = f"wanted{trial}@example.com"
        for holder in holders:
            change = {"current_password": USER_PASSWORD, "email": wanted}
            assert (await http.post(CHANGE, json=change, headers=holder)).status_code == 202
        await send_mail(strict_settings, clean_tables)
        messages = await arrived(inbox[0], 2 * (trial + 1))
        links = [_token_in(message) for message in messages[-2:]]
        responses = await asyncio.gather(
            http.post(REGISTER, json={"email": wanted, "password": USER_PASSWORD}),
            *(http.post(VERIFY, json={"token": link}) for link in links),
        )
        won = [response for response in responses if response.status_code in {201, 204}]
        assert len(won) == 1, [response.text for response in responses]
        assert {response.status_code for response in responses if response not in won} == {409}
        async with clean_tables.connect() as connection:
            owners = await connection.scalar(
                select(func.count()).select_from(User).where(User.email == wanted)
            )
        assert owners == 1
