"""Command-line tasks, run as `{{ cookiecutter.project_slug }} <command>`.

{%- if cookiecutter.auth == "api_key" %}

`create-api-key` makes the first key with the `admin` scope; admin keys manage the others
over the API. No HTTP route can create a key without one.
{%- else %}

`create-superuser` makes the first administrator; no HTTP route can create privileged users.
The password is read from standard input when it is not a terminal (for scripts), else
prompted for twice. `purge-expired-tokens` deletes sign-ins whose tokens have all expired;
run it daily (cron, a Kubernetes CronJob).
{%- endif %}
"""

import argparse
import asyncio
{%- if cookiecutter.auth != "api_key" %}
import getpass
{%- endif %}
import sys
from collections.abc import Sequence

from pydantic import ValidationError

{% if cookiecutter.auth == "api_key" -%}
from app.core.auth import ALL_SCOPES
from app.core.config import get_settings
from app.core.logging import configure_logging
from app.db.engine import create_engine
from app.schemas.api_key import ApiKeyCreate
from app.services import api_keys, audit
{%- else -%}
from app.core.config import get_settings
from app.core.errors import DomainError
from app.core.logging import configure_logging
from app.db.engine import create_engine
from app.schemas.user import UserRegister
from app.services import audit, tokens, users
{%- endif %}

_ORIGIN = audit.Origin(actor="cli", client_address=None)


def _refuse(error: ValidationError) -> int:
    """Report each invalid field; exit with the status argparse gives bad usage."""
    for problem in error.errors():
        print(f"error: {problem['loc'][0]}: {problem['msg']}", file=sys.stderr)
    return 2


def _start_logging() -> None:
    """Audit events are logged as well as stored, as in the service."""
    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
{%- if cookiecutter.auth == "api_key" %}


async def _create_api_key(name: str, scopes: set[str]) -> str:
    settings = get_settings()
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            created = await api_keys.create_key(connection, settings, name, scopes, None, _ORIGIN)
    finally:
        await engine.dispose()
    return str(created["key"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="{{ cookiecutter.project_slug }}")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-api-key", help="create an API key and print it once")
    create.add_argument("--name", required=True, help="what the key is for")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        choices=sorted(ALL_SCOPES),
        help="a scope to grant; repeat for several (default: all of them)",
    )
    args = parser.parse_args(argv)
    try:  # the same rules as over the API
        request = ApiKeyCreate.model_validate(
            {"name": args.name, "scopes": args.scopes or ALL_SCOPES}
        )
    except ValidationError as exc:
        return _refuse(exc)
    _start_logging()
    print(asyncio.run(_create_api_key(request.name, set(request.scopes))))
    return 0
{%- else %}


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise SystemExit("error: the passwords differ")
    return password


async def _create_superuser(email: str, password: str) -> None:
    settings = get_settings()
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await users.create_user(connection, email, password, _ORIGIN, is_superuser=True)
    finally:
        await engine.dispose()


async def _purge_expired_tokens() -> int:
    engine = create_engine(get_settings())
    try:
        async with engine.connect() as connection:
            return await tokens.purge_expired(connection)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="{{ cookiecutter.project_slug }}")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-superuser", help="create an administrator account")
    create.add_argument("--email", required=True)
    commands.add_parser("purge-expired-tokens", help="delete sign-ins whose tokens all expired")
    args = parser.parse_args(argv)
    if args.command == "purge-expired-tokens":
        _start_logging()
        print(f"deleted {asyncio.run(_purge_expired_tokens())} expired sign-ins")
        return 0
    try:  # the same rules as sign-up
        account = UserRegister(email=args.email, password=_read_password())
    except ValidationError as exc:
        return _refuse(exc)
    _start_logging()
    try:
        asyncio.run(_create_superuser(account.email, account.password))
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    print(f"created superuser {args.email}")
    return 0
{%- endif %}


if __name__ == "__main__":
    sys.exit(main())
