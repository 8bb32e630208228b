"""Authentication and authorization dependencies for routers.

`CurrentPrincipal` authenticates; `ItemsReader`, `ItemsWriter` and `Admin` also check a scope.
They share the request's one connection, so authorizing costs one narrow query.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
{%- if cookiecutter.auth == "jwt" %}
from fastapi.security import OAuth2PasswordBearer
{%- elif cookiecutter.auth == "api_key" %}
from fastapi.security import APIKeyHeader
{%- else %}
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
{%- endif %}

from app.core.auth import CHALLENGE, Principal, Scope
from app.core.deps import AppSettings, Connection
from app.core.errors import ForbiddenError, UnauthorizedError
from app.services import audit
{%- if cookiecutter.auth == "jwt" %}
from app.services.users import principal_for_token
{%- elif cookiecutter.auth == "api_key" %}
from app.services.api_keys import principal_for_key
{%- else %}
from app.services.api_keys import principal_for_key
from app.services.users import principal_for_token
{%- endif %}
{%- if cookiecutter.auth != "api_key" %}

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
{%- endif %}
{%- if cookiecutter.auth == "api_key" %}

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
{%- elif cookiecutter.auth == "jwt_and_api_key" %}
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
{%- endif %}


async def get_principal(
    connection: Connection,
    settings: AppSettings,
{%- if cookiecutter.auth != "api_key" %}
    token: Annotated[str | None, Depends(_bearer)],
{%- endif %}
{%- if cookiecutter.auth != "jwt" %}
    key: Annotated[str | None, Depends(_api_key)],
{%- endif %}
) -> Principal:
    """The authenticated caller; 401 with a challenge when there is none."""
{%- if cookiecutter.auth == "jwt" %}
    principal = await principal_for_token(connection, settings, token) if token else None
{%- elif cookiecutter.auth == "api_key" %}
    principal = await principal_for_key(connection, settings, key) if key else None
{%- else %}
    principal = None
    if token:
        principal = await principal_for_token(connection, settings, token)
    elif key:
        principal = await principal_for_key(connection, settings, key)
{%- endif %}
    if principal is None:
        raise UnauthorizedError("Missing or invalid credentials.", headers=CHALLENGE)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
{%- if cookiecutter.auth == "jwt_and_api_key" %}


def account_holder(principal: CurrentPrincipal) -> Principal:
    """The user in person: an API key may act for its owner, not change the owner's account."""
    if principal.credential != "token":
        raise ForbiddenError("Sign in to change your account; API keys cannot.")
    return principal


AccountHolder = Annotated[Principal, Depends(account_holder)]
{%- elif cookiecutter.auth == "jwt" %}
AccountHolder = CurrentPrincipal  # only users sign in: every principal holds its account
{%- endif %}


def require(scope: Scope) -> Callable[[Principal], Principal]:
    """A dependency that lets through only principals holding `scope` (403 otherwise)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if scope not in principal.scopes:
            raise ForbiddenError(f"This needs the {scope!r} scope.")
        return principal

    return check


ItemsReader = Annotated[Principal, Depends(require("items:read"))]
ItemsWriter = Annotated[Principal, Depends(require("items:write"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


ClientAddress = Annotated[str | None, Depends(client_address)]


def origin_of(principal: Principal | None, address: str | None) -> audit.Origin:
    return audit.Origin(actor=principal.subject if principal else None, client_address=address)
