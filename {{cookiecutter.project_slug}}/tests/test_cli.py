"""The command line, run in-process against the test database."""

import io
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
{%- if cookiecutter.auth != "api_key" %}
from datetime import UTC, datetime, timedelta
{%- endif %}

import pytest
from anyio import to_thread
{%- if cookiecutter.auth == "api_key" %}
from httpx import AsyncClient
{%- endif %}
{%- if cookiecutter.auth != "api_key" %}
from sqlalchemy import func, select, update
{%- endif %}
from sqlalchemy.ext.asyncio import AsyncEngine

from app import cli
from app.core.config import Settings, get_settings
from app.main import create_app
{%- if cookiecutter.auth != "api_key" %}
from app.models.refresh_token import RefreshTokenFamily
from app.models.user import User
from app.services import tokens, users
from tests.conftest import TEST_ORIGIN, TEST_SECRET, Serve
{%- else %}
from tests.conftest import TEST_SECRET, Serve
{%- endif %}

pytestmark = pytest.mark.anyio

Run = Callable[..., Awaitable[int]]

AUDIT = "/api/v1/audit-events"
{%- if cookiecutter.auth == "api_key" %}
API_KEYS = "/api/v1/api-keys"
ITEMS = "/api/v1/items"
{%- else %}
TOKEN = "/api/v1/auth/token"
USERS = "/api/v1/users"
EMAIL = "root@example.com"
PASSWORD = "a long enough passphrase"
{%- endif %}


@pytest.fixture(autouse=True)
def environment(
    settings: Settings, clean_tables: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point the command at the test database and secret, as a deployment's environment does."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    # Logging gets configured onto this test's captured output: leave no handler on it after.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run a command with `stdin` as its input; returns the exit status."""

    async def run_command(*argv: str, stdin: str | io.StringIO = "") -> int:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin)
        # In a worker thread: the command starts an event loop of its own.
        return await to_thread.run_sync(cli.main, list(argv))

    return run_command
{%- if cookiecutter.auth == "api_key" %}


async def test_create_api_key_prints_an_admin_key(
    run: Run, capsys: pytest.CaptureFixture[str], settings: Settings, serve: Serve
) -> None:
    assert await run("create-api-key", "--name", "bootstrap") == 0

    key = capsys.readouterr().out.removesuffix("\n")
    assert "\n" not in key
    async with serve(create_app(settings), headers={"X-API-Key": key}) as http:
        listed = await http.get(API_KEYS)  # needs the admin scope
        assert listed.status_code == 200, listed.text
        created = next(entry for entry in listed.json()["items"] if entry["name"] == "bootstrap")
        trail = (await http.get(AUDIT)).json()["items"]
    assert created["scopes"] == ["admin", "items:read", "items:write"]
    assert key.startswith(f"sk_{created['prefix']}_")
    assert (trail[0]["action"], trail[0]["actor"]) == ("api_key_created", "cli")
    assert trail[0]["target"] == f"api_key:{created['id']}"


async def test_create_api_key_with_a_scope_grants_only_that(
    run: Run, capsys: pytest.CaptureFixture[str], settings: Settings, serve: Serve
) -> None:
    assert await run("create-api-key", "--name", "reader", "--scope", "items:read") == 0

    key = capsys.readouterr().out.strip()
    async with serve(create_app(settings), headers={"X-API-Key": key}) as http:
        assert (await http.get(ITEMS)).status_code == 200
        refused = await http.post(ITEMS, json={"title": "nope"})
        assert (await http.get(API_KEYS)).status_code == 403
    assert refused.status_code == 403, refused.text


async def test_create_api_key_refuses_a_bad_name(
    run: Run, capsys: pytest.CaptureFixture[str], client: AsyncClient
) -> None:
    assert await run("create-api-key", "--name", "x" * 101) == 2

    assert capsys.readouterr().err.startswith("error: name: ")
    assert [key["name"] for key in (await client.get(API_KEYS)).json()["items"]] == ["tests"]


async def test_create_api_key_refuses_an_unknown_scope(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        await run("create-api-key", "--name", "ops", "--scope", "everything")

    assert exit_info.value.code == 2
    assert "invalid choice: 'everything'" in capsys.readouterr().err
{%- else %}


async def test_create_superuser_makes_an_administrator(
    run: Run, capsys: pytest.CaptureFixture[str], settings: Settings, serve: Serve
) -> None:
    assert await run("create-superuser", "--email", EMAIL, stdin=f"{PASSWORD}\n") == 0

    assert capsys.readouterr().out == f"created superuser {EMAIL}\n"
    async with serve(create_app(settings), headers={}) as http:
        signed_in = await http.post(TOKEN, data={"username": EMAIL, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        listed = await http.get(USERS, headers=bearer)  # superusers only
        assert listed.status_code == 200, listed.text
        trail = (await http.get(AUDIT, headers=bearer)).json()["items"]
    root = next(user for user in listed.json()["items"] if user["email"] == EMAIL)
    assert root["is_superuser"]
    created = next(event for event in trail if event["action"] == "user_created")
    assert (created["actor"], created["target"]) == ("cli", f"user:{root['id']}")


async def test_create_superuser_refuses_a_taken_email(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("create-superuser", "--email", EMAIL, stdin=PASSWORD) == 0
    capsys.readouterr()

    assert await run("create-superuser", "--email", EMAIL.upper(), stdin=PASSWORD) == 1

    assert capsys.readouterr().err == "error: A user with this email already exists.\n"


async def test_purge_expired_tokens_deletes_expired_sign_ins(
    run: Run, capsys: pytest.CaptureFixture[str], settings: Settings, clean_tables: AsyncEngine
) -> None:
    async with clean_tables.connect() as connection:
        user = await users.create_user(connection, EMAIL, PASSWORD, TEST_ORIGIN)
        for _ in range(3):
            await tokens.issue_pair(connection, settings, user["id"], version=0)
        await connection.execute(
            update(RefreshTokenFamily).values(expires_at=datetime.now(UTC) - timedelta(days=1))
        )
        await tokens.issue_pair(connection, settings, user["id"], version=0)  # still valid

    assert await run("purge-expired-tokens") == 0

    assert capsys.readouterr().out == "deleted 3 expired sign-ins\n"
    async with clean_tables.connect() as connection:
        left = await connection.scalar(select(func.count()).select_from(RefreshTokenFamily))
    assert left == 1


async def count_users(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(User)) or 0)


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [("not-an-email", PASSWORD, "email"), (EMAIL, "short", "password"), (EMAIL, "", "password")],
    ids=["bad-email", "short-password", "no-password"],
)
async def test_create_superuser_refuses_invalid_input(
    run: Run,
    capsys: pytest.CaptureFixture[str],
    clean_tables: AsyncEngine,
    email: str,
    password: str,
    field: str,
) -> None:
    assert await run("create-superuser", "--email", email, stdin=f"{password}\n") == 2

    assert capsys.readouterr().err.startswith(f"error: {field}: ")
    assert await count_users(clean_tables) == 0


class Terminal(io.StringIO):
    """Standard input as an interactive terminal, where the password is prompted for."""

    def isatty(self) -> bool:
        return True


async def test_create_superuser_on_a_terminal_asks_twice(
    run: Run, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([PASSWORD, "a different passphrase", PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))

    with pytest.raises(SystemExit, match="the passwords differ"):
        await run("create-superuser", "--email", EMAIL, stdin=Terminal())
    assert await run("create-superuser", "--email", EMAIL, stdin=Terminal()) == 0
    assert capsys.readouterr().out == f"created superuser {EMAIL}\n"
{%- endif %}
