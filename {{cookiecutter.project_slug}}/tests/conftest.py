{%- if cookiecutter.database == "sqlite" -%}
"""Fixtures: a throwaway SQLite database, a fresh app per test, empty tables after each."""
{%- else -%}
"""Fixtures: a real database server, a fresh app per test, empty tables after each.

Tests run against `<database>_test` on the server DATABASE_URL points at, creating it when
missing, so they never touch the development database.
"""
{%- endif %}

{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
import asyncio
import socket
{% endif -%}
{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] and cookiecutter.jobs == "queue" -%}
import uuid
{% endif -%}
from collections.abc import AsyncIterator, Callable{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}, Iterator{% endif %}
from contextlib import AbstractAsyncContextManager, asynccontextmanager
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
{%- endif %}

import pytest
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
{%- endif %}
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
{%- if cookiecutter.database != "sqlite" %}
from sqlalchemy import make_url, text
{%- endif %}
{%- if cookiecutter.database == "sqlite" %}
from sqlalchemy.ext.asyncio import AsyncEngine
{%- else %}
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
{%- endif %}

import app.models  # noqa: F401 - registers every table on Base.metadata
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] and cookiecutter.jobs == "queue" %}
from app import worker
{%- endif %}
{%- if cookiecutter.auth == "api_key" %}
from app.core.auth import ALL_SCOPES
{%- endif %}
{%- if cookiecutter.cache == "redis" %}
from app.core.cache import connect_redis
{%- endif %}
from app.core.config import Settings
from app.db.base import Base
from app.db.engine import create_engine
from app.main import create_app
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] and cookiecutter.jobs == "queue" %}
from app.services import audit, tasks, tokens, users
{%- elif cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from app.services import audit, tokens, users
{%- elif cookiecutter.auth == "api_key" %}
from app.services import api_keys, audit
{%- endif %}

Serve = Callable[..., AbstractAsyncContextManager[AsyncClient]]
RATE_LIMITS = [
    name
    for name, field in Settings.model_fields.items()
    if name.startswith("rate_limit_") and isinstance(field.default, str)
]
{%- if cookiecutter.auth != "none" %}
TEST_SECRET = "test-secret-that-is-long-enough-0123456789abcdef"
TEST_ORIGIN = audit.Origin(actor="tests", client_address=None)
{%- endif %}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
USER_EMAIL = "user@example.com"
USER_PASSWORD = "correct horse battery"
{%- endif %}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
{%- if cookiecutter.database == "sqlite" %}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
{%- else %}


@pytest.fixture(scope="session")
async def database_url() -> str:
    url = make_url(Settings().database_url.get_secret_value())
    test_url = url.set(database=f"{url.database}_test")
{%- if cookiecutter.database == "postgresql" %}
    server = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with server.connect() as connection:
        exists = await connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": test_url.database}
        )
        if not exists:
            await connection.execute(text(f'CREATE DATABASE "{test_url.database}"'))
{%- else %}
    server = create_async_engine(url.set(database="mysql"), isolation_level="AUTOCOMMIT")
    async with server.connect() as connection:
        await connection.execute(
            text(
                f"CREATE DATABASE IF NOT EXISTS `{test_url.database}`"
                " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        )
{%- endif %}
    await server.dispose()
    return test_url.render_as_string(hide_password=False)
{%- endif %}


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    configured = Settings(
        _env_file=None,
        database_url=SecretStr(database_url),
        environment="test",
{%- if cookiecutter.auth != "none" %}
        secret_key=SecretStr(TEST_SECRET),
{%- endif %}
    )
    # Budgets no test exhausts by accident; the rate-limit tests set their own.
    return configured.model_copy(update=dict.fromkeys(RATE_LIMITS, "100000/second"))


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The app's own engine (autocommit), on a schema built from the models once per run.

    The application itself only ever migrates; the migrations are tested separately.
    """
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()
{%- if cookiecutter.cache == "redis" %}


@pytest.fixture
async def clean_tables(engine: AsyncEngine, settings: Settings) -> AsyncIterator[AsyncEngine]:
    """Hands out the test engine; once the test is done, empties every table and forgets
    this service's cache entries and rate-limit counters in Redis."""
    yield engine
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())
    redis = connect_redis(settings)
    keys = [key async for key in redis.scan_iter(match="{{ cookiecutter.project_slug }}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
{%- else %}


@pytest.fixture
async def clean_tables(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """Hands out the test engine and empties every table once the test is done."""
    yield engine
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())
{%- endif %}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


@pytest.fixture
async def credentials(settings: Settings, clean_tables: AsyncEngine) -> dict[str, str]:
    """An `Authorization` header for an ordinary user (USER_EMAIL)."""
    async with clean_tables.connect() as connection:
        user = await users.create_user(connection, USER_EMAIL, USER_PASSWORD, TEST_ORIGIN)
        pair = await tokens.issue_pair(connection, settings, user["id"], version=0)
    return {"Authorization": f"Bearer {pair['access_token']}"}
{%- elif cookiecutter.auth == "api_key" %}


@pytest.fixture
async def credentials(settings: Settings, clean_tables: AsyncEngine) -> dict[str, str]:
    """An `X-API-Key` header for a key holding every scope."""
    async with clean_tables.connect() as connection:
        created = await api_keys.create_key(
            connection, settings, "tests", set(ALL_SCOPES), None, TEST_ORIGIN
        )
    return {"X-API-Key": created["key"]}
{%- endif %}


@pytest.fixture
{%- if cookiecutter.auth != "none" %}
def serve(credentials: dict[str, str]) -> Serve:
    """Run an app's lifespan and talk to it in-process over HTTP, with `credentials`
    unless other `headers` are given ({} for an anonymous caller)."""
{%- else %}
def serve(clean_tables: AsyncEngine) -> Serve:
    """Run an app's lifespan and talk to it in-process over HTTP; tables are emptied after."""
{%- endif %}

    @asynccontextmanager
    async def serve_app(
        app: FastAPI, base_url: str = "http://localhost", headers: dict[str, str] | None = None
    ) -> AsyncIterator[AsyncClient]:
        async with (
            LifespanManager(app) as manager,
            AsyncClient(
                transport=ASGITransport(app=manager.app),
                base_url=base_url,
{%- if cookiecutter.auth != "none" %}
                headers=credentials if headers is None else headers,
{%- else %}
                headers=headers,
{%- endif %}
            ) as http,
        ):
            yield http

    return serve_app
{%- if cookiecutter.auth != "none" %}


@pytest.fixture
async def anonymous(settings: Settings, serve: Serve) -> AsyncIterator[AsyncClient]:
    """A client that sends credentials only when a request adds them."""
    async with serve(create_app(settings), headers={}) as http:
        yield http
{%- endif %}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


async def sign_in(
    http: AsyncClient, email: str = USER_EMAIL, password: str = USER_PASSWORD
) -> dict[str, Any]:
    """The token pair of a successful sign-in through the OAuth2 form."""
    response = await http.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append(
            message_from_bytes(content, _class=EmailMessage, policy=policy.default)
        )
        return "250 Message accepted"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on a free loopback port, and what it received."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    received = Inbox()
    server = Controller(received, hostname="127.0.0.1", port=port)
    server.start()
    yield received, port
    server.stop()


@pytest.fixture
def mail_settings(settings: Settings, inbox: tuple[Inbox, int]) -> Settings:
    """The test settings, sending email through the `inbox` server."""
    return settings.model_copy(
        update={
            "email_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": inbox[1],
            "smtp_security": "none",
            "reset_page_url": "https://app.example.com/reset",
            "verify_page_url": "https://app.example.com/verify",
        }
    )


{%- if cookiecutter.jobs == "queue" %}


async def _ignore(_: uuid.UUID) -> None:
    return None


async def send_mail(settings: Settings, engine: AsyncEngine) -> None:
    """Run the email tasks the requests wrote to the outbox, as the worker would."""
    runtime = worker.Runtime(settings)
    try:
        async with engine.connect() as connection:
            await tasks.relay_due(connection, settings, _ignore)
            queued = await tasks.list_tasks(connection, tasks.QUEUED, 100)
        for task in queued:
            await runtime.run(task["id"])
    finally:
        await runtime.close()
{%- else %}


async def send_mail(settings: Settings, engine: AsyncEngine) -> None:
    """Nothing to do: the emails went out after each response."""
{%- endif %}


async def arrived(inbox: Inbox, count: int) -> list[EmailMessage]:
    """The server may finish storing a message just after the client heard it accepted."""
    for _ in range(500):
        if len(inbox.messages) >= count:
            break
        await asyncio.sleep(0.01)
    return inbox.messages
{%- endif %}


@pytest.fixture
async def client(settings: Settings, serve: Serve) -> AsyncIterator[AsyncClient]:
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    """A client for a freshly started app, signed in as an ordinary user."""
{%- elif cookiecutter.auth == "api_key" %}
    """A client for a freshly started app, with an API key holding every scope."""
{%- else %}
    """A client for a freshly started app on the test database."""
{%- endif %}
    async with serve(create_app(settings)) as http:
        yield http
