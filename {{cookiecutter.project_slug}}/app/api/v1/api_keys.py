"""API keys: create (the key is shown once), list and revoke."""

import uuid
from typing import Annotated, Any

{% if cookiecutter.auth == "jwt_and_api_key" -%}
from fastapi import APIRouter, Depends, Query, status

from app.api.deps import AccountHolder, ClientAddress, CurrentPrincipal, SignedInUser, origin_of
from app.core.auth import Principal
from app.core.deps import AppSettings, Connection, Database
from app.core.errors import ForbiddenError
{%- else -%}
from fastapi import APIRouter, Query, status

from app.api.deps import Admin, ClientAddress, origin_of
from app.core.deps import AppSettings, Connection
{%- endif %}
from app.schemas.api_key import ApiKeyCreate, ApiKeyCreated, ApiKeyPage
from app.schemas.common import PageQuery
{%- if cookiecutter.auth == "jwt_and_api_key" %}
from app.services import api_keys, users
{%- else %}
from app.services import api_keys
{%- endif %}

router = APIRouter(prefix="/api-keys", tags=["api keys"])
{%- if cookiecutter.auth == "jwt_and_api_key" %}


async def key_manager(principal: CurrentPrincipal) -> Principal:
    """A signed-in user, or an admin key: an ordinary key cannot revoke its owner's other
    keys. Only a signed-in user who gives the password can create keys."""
    if principal.credential == "api_key" and not principal.is_admin:
        raise ForbiddenError("Manage API keys while signed in, or with an admin key.")
    return principal


KeyManager = Annotated[Principal, Depends(key_manager)]
_KEY_CALLER: dict[int | str, dict[str, Any]] = {
    403: {"description": "Called with an API key that lacks the admin scope."}
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create an API key",
    responses={
        400: {"description": "The current password is not correct."},
        403: {"description": "A scope you do not hold was asked for, or called with a key."},
        503: {"description": "Too many passwords are being checked at once; retry shortly."},
    },
)
async def create_key(
    body: ApiKeyCreate,
    principal: SignedInUser,
    database: Database,
    settings: AppSettings,
    address: ClientAddress,
) -> dict[str, Any]:
    """Create a key owned by you, with at most the scopes you hold. Signed in only, with your
    current password: keys are not made with keys, nor with a stolen access token alone. The
    response carries the key itself: store it now, it is never shown again."""
    if not body.scopes <= principal.scopes:
        raise ForbiddenError("A key cannot hold scopes its owner does not have.")
    await users.confirm_password(database, principal.user_id, body.current_password)
    async with database.connect() as connection:  # taken only once the password is checked
        return await api_keys.create_key(
            connection,
            settings,
            body.name,
            set(body.scopes),
            body.expires_at,
            origin_of(principal, address),
            owner_id=principal.user_id,
        )


@router.get("", response_model=ApiKeyPage, summary="List API keys", responses=_KEY_CALLER)
async def list_keys(
    query: Annotated[PageQuery, Query()], principal: KeyManager, connection: Connection
) -> dict[str, Any]:
    """Your keys, oldest first; administrators see everyone's. Never the keys themselves."""
    owner = None if principal.is_admin else principal.user_id
    page, next_offset = await api_keys.list_keys(connection, query.limit, query.offset, owner)
    return {"items": page, "limit": query.limit, "offset": query.offset, "next_offset": next_offset}


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    responses={**_KEY_CALLER, 404: {"description": "No active key of yours with this id."}},
)
async def revoke_key(
    key_id: uuid.UUID, principal: KeyManager, connection: Connection, address: ClientAddress
) -> None:
    """Revoke one of your keys (administrators: any key). It stops working at once."""
    owner = None if principal.is_admin else principal.user_id
    await api_keys.revoke_key(connection, key_id, origin_of(principal, address), owner)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke all your API keys")
async def revoke_all_keys(
    principal: AccountHolder, connection: Connection, address: ClientAddress
) -> None:
    """Revoke every active key you own, in one step (after a leak, say). Signed in only."""
    await api_keys.revoke_all_keys(connection, principal.user_id, origin_of(principal, address))
{%- else %}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create an API key",
)
async def create_key(
    body: ApiKeyCreate,
    principal: Admin,
    connection: Connection,
    settings: AppSettings,
    address: ClientAddress,
) -> dict[str, Any]:
    """Create a key. The response carries the key itself: store it now, it is never shown
    again. Needs the `admin` scope."""
    return await api_keys.create_key(
        connection,
        settings,
        body.name,
        set(body.scopes),
        body.expires_at,
        origin_of(principal, address),
    )


@router.get("", response_model=ApiKeyPage, summary="List API keys")
async def list_keys(
    query: Annotated[PageQuery, Query()], _: Admin, connection: Connection
) -> dict[str, Any]:
    """Every key, oldest first, by prefix and name; never the keys. Needs `admin`."""
    page, next_offset = await api_keys.list_keys(connection, query.limit, query.offset)
    return {"items": page, "limit": query.limit, "offset": query.offset, "next_offset": next_offset}


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    responses={404: {"description": "No active key with this id."}},
)
async def revoke_key(
    key_id: uuid.UUID, principal: Admin, connection: Connection, address: ClientAddress
) -> None:
    """Revoke a key; it stops working at once. Needs the `admin` scope."""
    await api_keys.revoke_key(connection, key_id, origin_of(principal, address))
{%- endif %}
