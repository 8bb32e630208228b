"""Password reset by email, through a real SMTP server that the tests start on a free port
(the `inbox` fixture); the messages that arrive are read back from it, links and all."""

import asyncio
{%- if cookiecutter.jobs == "none" %}
import logging
{%- endif %}
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import email
from app.core.config import Settings
from app.main import create_app
from app.models.audit_event import AuditEvent
from app.models.password_reset import PasswordReset
{%- if cookiecutter.jobs == "queue" %}
from app.services import tasks
{%- endif %}
from tests.conftest import (
    USER_EMAIL,
    USER_PASSWORD,
    Inbox,
    Serve,
    arrived,
    send_mail,
    sign_in,
)

pytestmark = pytest.mark.anyio

REQUEST = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "an entirely new passphrase"


@dataclass
class Mailroom:
    """A client of an app that mails through the test's SMTP server, which holds USER_EMAIL."""

    http: AsyncClient
    inbox: Inbox
    settings: Settings
    engine: AsyncEngine

    async def delivered(self, count: int) -> list[EmailMessage]:
        await send_mail(self.settings, self.engine)
        return await arrived(self.inbox, count)

    async def reset_link(self) -> str:
        """Ask for a link (the address in another case) and return its token."""
        response = await self.http.post(REQUEST, json={"email": USER_EMAIL.upper()})
        assert response.status_code == 202, response.text
        (message,) = await self.delivered(1)
        text = message.get_body(("plain",))
        assert text is not None
        found = re.search(r"https://app\.example\.com/reset\?token=([\w-]+)", text.get_content())
        assert found, text.get_content()
        return found.group(1)

    async def actions(self) -> list[str]:
        async with self.engine.connect() as connection:
            return list(await connection.scalars(select(AuditEvent.action)))


@pytest.fixture
async def mailroom(
    mail_settings: Settings,
    serve: Serve,
    inbox: tuple[Inbox, int],
    clean_tables: AsyncEngine,
    credentials: dict[str, str],  # creates USER_EMAIL
) -> AsyncIterator[Mailroom]:
    async with serve(create_app(mail_settings), headers={}) as http:
        yield Mailroom(http, inbox[0], mail_settings, clean_tables)


async def test_a_reset_link_arrives_by_smtp_and_works_once(mailroom: Mailroom) -> None:
    http = mailroom.http
    old_pair = await sign_in(http)
    token = await mailroom.reset_link()
    (message,) = mailroom.inbox.messages
    assert message["To"] == USER_EMAIL
    assert message["Subject"] == "Reset your password"
    html = message.get_body(("html",))
    assert html is not None
    assert f"https://app.example.com/reset?token={token}" in html.get_content()

    response = await http.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 204, response.text

    again = await http.post(CONFIRM, json={"token": token, "new_password": "yet another one!"})
    assert again.status_code == 400
    assert again.headers["content-type"] == "application/problem+json"
    await sign_in(http, USER_EMAIL, NEW_PASSWORD)
    old = await http.post(
        "/api/v1/auth/token", data={"username": USER_EMAIL, "password": USER_PASSWORD}
    )
    assert old.status_code == 401
    # Every earlier session ended: its refresh token and its access token.
    refreshed = await http.post(
        "/api/v1/auth/refresh", json={"refresh_token": old_pair["refresh_token"]}
    )
    assert refreshed.status_code == 401
    me = await http.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {old_pair['access_token']}"}
    )
    assert me.status_code == 401

    async with mailroom.engine.connect() as connection:
        stored = list(await connection.scalars(select(PasswordReset.token_hash)))
    assert token not in stored, "only a hash of the token is kept"
    assert {"password_reset_requested", "password_reset"} <= set(await mailroom.actions())


async def test_unknown_addresses_get_the_same_answer_and_no_email(mailroom: Mailroom) -> None:
    known = await mailroom.http.post(REQUEST, json={"email": USER_EMAIL})
    unknown = await mailroom.http.post(REQUEST, json={"email": "nobody@example.com"})
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    await mailroom.delivered(1)
    await asyncio.sleep(0.1)
    assert [message["To"] for message in mailroom.inbox.messages] == [USER_EMAIL]
    assert "password_reset_unknown" in await mailroom.actions()


async def test_a_link_dies_when_the_password_changes_another_way(mailroom: Mailroom) -> None:
    token = await mailroom.reset_link()
    pair = await sign_in(mailroom.http)
    changed = await mailroom.http.post(
        "/api/v1/users/me/password",
        json={"current_password": USER_PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )
    assert changed.status_code == 204, changed.text
    response = await mailroom.http.post(
        CONFIRM, json={"token": token, "new_password": "yet another one!"}
    )
    assert response.status_code == 400


async def test_an_expired_or_made_up_link_is_refused(mailroom: Mailroom) -> None:
    token = await mailroom.reset_link()
    async with mailroom.engine.connect() as connection:
        await connection.execute(update(PasswordReset).values(expires_at=func.now()))
    for attempt in (token, "made-up"):
        response = await mailroom.http.post(
            CONFIRM, json={"token": attempt, "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 400, attempt
        assert response.json()["detail"].startswith("The reset link is invalid")


async def test_requests_are_rate_limited_per_address_asked_for(
    mail_settings: Settings, serve: Serve
) -> None:
    limited = mail_settings.model_copy(update={"rate_limit_reset_account": "2/hour"})
    async with serve(create_app(limited), headers={}) as http:
        answers = [
            (await http.post(REQUEST, json={"email": "someone@example.com"})).status_code
            for _ in range(3)
        ]
    assert answers == [202, 202, 429]
{%- if cookiecutter.jobs == "queue" %}


async def test_a_mail_server_that_refuses_leaves_the_email_to_retry(
    mail_settings: Settings,
    serve: Serve,
    clean_tables: AsyncEngine,
    credentials: dict[str, str],  # creates USER_EMAIL
) -> None:
    unreachable = mail_settings.model_copy(update={"smtp_port": 1, "smtp_timeout": 2.0})
    async with serve(create_app(unreachable), headers={}) as http:
        assert (await http.post(REQUEST, json={"email": USER_EMAIL})).status_code == 202
    await send_mail(unreachable, clean_tables)
    async with clean_tables.connect() as connection:
        (task,) = await tasks.list_tasks(connection, tasks.PENDING, 10)
    assert task["attempts"] == 1
    assert task["last_error"]
{%- else %}


async def test_a_mail_server_that_refuses_costs_the_email_not_the_request(
    mail_settings: Settings,
    serve: Serve,
    credentials: dict[str, str],  # creates USER_EMAIL
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = mail_settings.model_copy(update={"smtp_port": 1, "smtp_timeout": 2.0})
    sender = logging.getLogger("app.api.mail")  # the app's logging setup replaces caplog's
    sender.addHandler(caplog.handler)
    try:
        async with serve(create_app(unreachable), headers={}) as http:
            assert (await http.post(REQUEST, json={"email": USER_EMAIL})).status_code == 202
    finally:
        sender.removeHandler(caplog.handler)
    assert "'Reset your password' to user@example.com was not sent" in caplog.text
{%- endif %}


async def test_the_console_backend_logs_the_message(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    message = email.write(
        "password_reset", to="ada@example.com", subject="Hi", service="svc", link="<x>", minutes="5"
    )
    assert "&lt;x&gt;" in message.html
    assert "<x>" in message.text
    with caplog.at_level("INFO", logger="app.core.email"):
        await email.deliver(settings, message)
    assert "ada@example.com" in caplog.text
    assert "<x>" in caplog.text
    with caplog.at_level("INFO", logger="app.core.email"):
        await email.deliver(settings.model_copy(update={"environment": "production"}), message)
    assert "(body not logged in production)" in caplog.text
