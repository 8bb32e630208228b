"""Authentication and authorization dependencies for routers.

`CurrentPrincipal` authenticates; `ItemsReader`, `ItemsWriter`, `ItemsEditor` and `Admin` also
check scopes. They share the request's one connection, so authorizing costs one narrow query.
"""

import ipaddress
from typing import Annotated{% if cookiecutter.websockets == "yes" and cookiecutter.auth == "jwt_and_api_key" %}, Literal{% endif %}

from fastapi import Depends, Request
{%- if cookiecutter.auth == "jwt" %}
from fastapi.security import OAuth2PasswordBearer
{%- elif cookiecutter.auth == "api_key" %}
from fastapi.security import APIKeyHeader
{%- else %}
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
{%- endif %}
{%- if cookiecutter.auth != "jwt" or cookiecutter.websockets == "yes" %}
from sqlalchemy.ext.asyncio import AsyncConnection
{%- endif %}
{%- if cookiecutter.auth != "jwt" and cookiecutter.websockets == "yes" %}
from starlette.requests import HTTPConnection
{%- endif %}

from app.core.auth import CHALLENGE, Principal, Scope
from app.core.config import Settings
{%- if cookiecutter.auth == "api_key" %}
from app.core.deps import Connection
{%- else %}
from app.core.deps import AppSettings, Connection, Database
{%- endif %}
from app.core.errors import ForbiddenError, UnauthorizedError
{%- if cookiecutter.auth != "jwt" %}
from app.core.ratelimit import RateLimiter
{%- endif %}
from app.services import audit
{%- if cookiecutter.auth == "jwt" %}
from app.services.users import principal_for_token
{%- elif cookiecutter.auth == "api_key" %}
from app.services.api_keys import principal_for_key
{%- else %}
from app.services.api_keys import principal_for_key
from app.services.users import principal_for_token
{%- endif %}
{%- if cookiecutter.auth == "jwt_and_api_key" %}

KEYS_CANNOT_CHANGE_ACCOUNTS = "Sign in to change your account; API keys cannot."
{%- endif %}
{%- if cookiecutter.auth != "api_key" %}

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
{%- endif %}
{%- if cookiecutter.auth == "api_key" %}

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
{%- elif cookiecutter.auth == "jwt_and_api_key" %}
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
{%- endif %}


class Authorized:
    """A dependency: the authenticated caller (401 with a challenge when there is none),
    holding every scope in `needed` (403 otherwise).

    One flat step, since each level of dependencies costs time on every request: the
    credentials, the request's connection, one narrow query.
    """

    def __init__(self, *needed: Scope) -> None:
        self.needed = needed

    async def __call__(
        self,
        request: Request,
        connection: Connection,
{%- if cookiecutter.auth != "api_key" %}
        token: Annotated[str | None, Depends(_bearer)],
{%- endif %}
{%- if cookiecutter.auth != "jwt" %}
        key: Annotated[str | None, Depends(_api_key)],
{%- endif %}
    ) -> Principal:
        settings: Settings = request.state.settings
{%- if cookiecutter.auth == "jwt" %}
        principal = await principal_for_token(connection, settings, token) if token else None
{%- elif cookiecutter.auth == "api_key" %}
        principal = await _key_holder(request, connection, settings, key) if key else None
{%- else %}
        principal = None
        if token:
            principal = await principal_for_token(connection, settings, token)
        elif key:
            principal = await _key_holder(request, connection, settings, key)
{%- endif %}
        if principal is None:
            raise UnauthorizedError("Missing or invalid credentials.", headers=CHALLENGE)
        missing = [scope for scope in self.needed if scope not in principal.scopes]
        if missing:
            raise ForbiddenError(f"This needs the {' and '.join(map(repr, missing))} scope.")
        return principal


{%- if cookiecutter.auth != "jwt" %}


async def _key_holder(
    request: {{ "HTTPConnection" if cookiecutter.websockets == "yes" else "Request" }}, connection: AsyncConnection, settings: Settings, key: str
) -> Principal | None:
    """Whom an API key belongs to. Failed keys are counted per client address, and an
    address past its budget has no key checked at all until the budget refills."""
    limiter: RateLimiter = request.state.rate_limiter
    address = request.client.host if request.client else "-"
    await limiter.check(limiter.rules.key_failures_client, address)
    principal = await principal_for_key(connection, settings, key)
    if principal is None:
        await limiter.count(limiter.rules.key_failures_client, address)
    return principal
{%- endif %}


CurrentPrincipal = Annotated[Principal, Depends(Authorized())]
{%- if cookiecutter.websockets == "yes" %}
{%- if cookiecutter.auth == "jwt_and_api_key" %}

CredentialKind = Literal["token", "api_key"]
Credential = tuple[CredentialKind, str]  # an access token or an API key


async def stream_caller(
    caller: HTTPConnection, connection: AsyncConnection, settings: Settings, credential: Credential
) -> Principal | None:
    """Who holds the credential a live stream was opened with, checked as a request's is;
    the stream has no request for the dependencies above to read it from."""
    kind, secret = credential
    if kind == "token":
        return await principal_for_token(connection, settings, secret)
    return await _key_holder(caller, connection, settings, secret)
{%- elif cookiecutter.auth == "jwt" %}

Credential = str  # an access token


async def stream_caller(
    _: object, connection: AsyncConnection, settings: Settings, credential: Credential
) -> Principal | None:
    """Who holds the access token a live stream was opened with, checked as a request's is."""
    return await principal_for_token(connection, settings, credential)
{%- else %}

Credential = str  # an API key


async def stream_caller(
    caller: HTTPConnection, connection: AsyncConnection, settings: Settings, credential: Credential
) -> Principal | None:
    """Who holds the API key a live stream was opened with, checked (and failures counted)
    as a request's is."""
    return await _key_holder(caller, connection, settings, credential)
{%- endif %}
{%- endif %}
{%- if cookiecutter.auth != "api_key" %}


async def get_signed_in_user(
    database: Database,
    settings: AppSettings,
    token: Annotated[str | None, Depends(_bearer)],
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    key: Annotated[str | None, Depends(_api_key)],
{%- endif %}
) -> Principal:
    """The caller signed in as a user, authenticated on a connection given back at once.

    For endpoints that go on to check a password: they hold no pooled connection while the
    hash is computed, so a burst of them cannot starve other requests.
    """
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    if key and not token:
        raise ForbiddenError(KEYS_CANNOT_CHANGE_ACCOUNTS)
{%- endif %}
    async with database.connect() as connection:
        principal = await principal_for_token(connection, settings, token) if token else None
    if principal is None:
        raise UnauthorizedError("Sign in with your password to do this.", headers=CHALLENGE)
    return principal


SignedInUser = Annotated[Principal, Depends(get_signed_in_user)]
{%- endif %}
{%- if cookiecutter.auth == "jwt_and_api_key" %}


async def account_holder(principal: CurrentPrincipal) -> Principal:
    """The user in person: an API key may act for its owner, not change the owner's account."""
    if principal.credential != "token":
        raise ForbiddenError(KEYS_CANNOT_CHANGE_ACCOUNTS)
    return principal


AccountHolder = Annotated[Principal, Depends(account_holder)]
{%- elif cookiecutter.auth == "jwt" %}
AccountHolder = CurrentPrincipal  # only users sign in: every principal holds its account
{%- endif %}


ItemsReader = Annotated[Principal, Depends(Authorized("items:read"))]
ItemsWriter = Annotated[Principal, Depends(Authorized("items:write"))]
# A change answers with the changed item, so it also needs the right to read it.
ItemsEditor = Annotated[Principal, Depends(Authorized("items:read", "items:write"))]
Admin = Annotated[Principal, Depends(Authorized("admin"))]


async def client_address(request: Request) -> str | None:
    """The caller's IP address in canonical form, or None when the server got none usable.

    Behind a proxy the server may take it from a forwarded header, so it is checked here:
    whatever reaches the audit trail is an address, never text a client chose.
    """
    if request.client is None:
        return None
    host, _, _zone = request.client.host.partition("%")  # an IPv6 zone is free text
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


ClientAddress = Annotated[str | None, Depends(client_address)]


def origin_of(principal: Principal | None, address: str | None) -> audit.Origin:
    return audit.Origin(actor=principal.subject if principal else None, client_address=address)
