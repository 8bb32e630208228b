"""Your own account, and user administration for superusers."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from app.api.deps import (
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    KEYS_CANNOT_CHANGE_ACCOUNTS,
{%- endif %}
    AccountHolder,
    Admin,
    ClientAddress,
    CurrentPrincipal,
    SignedInUser,
    origin_of,
)
from app.api.mail import Mail
{%- if cookiecutter.cache != "none" %}
from app.api.v1.items import forget_items_of
{%- endif %}
{%- if cookiecutter.auth == "jwt_and_api_key" %}
from app.core.auth import Principal
{%- endif %}
{%- if cookiecutter.cache != "none" %}
from app.core.cache import ResponseCache
{%- endif %}
from app.core.deps import AppSettings, Connection, Database
{%- if cookiecutter.auth == "jwt_and_api_key" %}
from app.core.errors import ConflictError, ForbiddenError
{%- else %}
from app.core.errors import ConflictError
{%- endif %}
from app.schemas.common import PageQuery
from app.schemas.user import (
    EmailChange,
    LinkAccepted,
    PasswordChange,
    UserAdminUpdate,
    UserPage,
    UserRead,
)
from app.services import email_verifications, users

router = APIRouter(prefix="/users", tags=["users"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No user with this id."}}
_TAKEN: dict[int | str, dict[str, Any]] = {409: {"description": "The email is taken."}}
# The last superuser could otherwise leave nobody able to administer the service.
_SELF_LOCKOUT = "Superusers cannot deactivate, demote or delete themselves; ask another one."
{%- if cookiecutter.auth == "jwt_and_api_key" %}


def _refuse_own_account_by_key(principal: Principal, user_id: uuid.UUID) -> None:
    """An admin key acts for its owner on others, never on the owner's own account."""
    if principal.credential == "api_key" and user_id == principal.user_id:
        raise ForbiddenError(KEYS_CANNOT_CHANGE_ACCOUNTS)
{%- endif %}


@router.get("/me", response_model=UserRead, summary="Get your account")
async def read_me(principal: CurrentPrincipal, connection: Connection) -> dict[str, Any]:
    """The account of the caller."""
    return await users.get_user(connection, principal.user_id)


@router.post(
    "/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LinkAccepted,
    summary="Change your email address",
    responses={
        400: {"description": "The current password is not correct, or the address is yours."},
        **_TAKEN,
        503: {"description": "Too many passwords are being checked at once; retry shortly."},
    },
)
async def change_email(
    body: EmailChange,
    principal: AccountHolder,
    database: Database,
    settings: AppSettings,
    address: ClientAddress,
    mailer: Mail,
) -> dict[str, str]:
    """Ask to move your account to a new address: it changes when you follow the link sent
    to that address (`POST /api/v1/auth/verify-email`), not before."""
    await email_verifications.request_change(
        database,
        settings,
        mailer,
        principal.user_id,
        body.current_password,
        body.email,
        origin_of(principal, address),
    )
    return {"detail": "A link that makes the change is on its way to the new address."}


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change your password",
    responses={
        400: {"description": "The current password is not correct."},
        503: {"description": "Too many passwords are being checked at once; retry shortly."},
    },
)
async def change_password(
    body: PasswordChange,
    principal: SignedInUser,
    database: Database,
    address: ClientAddress,
) -> None:
    """Set a new password. Every token issued before stops working at once."""
    await users.change_password(
        database,
        principal.user_id,
        body.current_password,
        body.new_password,
        origin_of(principal, address),
    )


@router.get("", response_model=UserPage, summary="List users")
async def list_users(
    query: Annotated[PageQuery, Query()], _: Admin, connection: Connection
) -> dict[str, Any]:
    """Every user, oldest first. Superusers only."""
    page, next_offset = await users.list_users(connection, query.limit, query.offset)
    return {"items": page, "limit": query.limit, "offset": query.offset, "next_offset": next_offset}


@router.get("/{user_id}", response_model=UserRead, summary="Get a user", responses=_NOT_FOUND)
async def read_user(user_id: uuid.UUID, _: Admin, connection: Connection) -> dict[str, Any]:
    """One user. Superusers only."""
    return await users.get_user(connection, user_id)


@router.patch(
    "/{user_id}",
    response_model=UserRead,
    summary="Update a user",
    responses={
        **_NOT_FOUND,
        409: {"description": "The email is taken, or the change would leave no active superuser."},
    },
)
async def update_user(
    user_id: uuid.UUID,
    body: UserAdminUpdate,
    principal: Admin,
    connection: Connection,
    address: ClientAddress,
) -> dict[str, Any]:
    """Change a user's email, activity or superuser flag. Deactivation voids every token of
    that user at once{% if cookiecutter.auth == "jwt_and_api_key" %} and revokes their API keys for good{% endif %}. Superusers only, not to lock themselves
    out, and at least one active superuser always remains."""
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    _refuse_own_account_by_key(principal, user_id)
{%- endif %}
    if user_id == principal.user_id and (body.is_active is False or body.is_superuser is False):
        raise ConflictError(_SELF_LOCKOUT)
    return await users.update_user(
        connection, user_id, body.model_dump(exclude_none=True), origin_of(principal, address)
    )


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user",
    responses={
        **_NOT_FOUND,
        409: {"description": "Superusers cannot delete themselves, nor the last superuser."},
    },
)
async def delete_user(
    user_id: uuid.UUID,
    principal: Admin,
    connection: Connection,
{%- if cookiecutter.cache != "none" %}
    cache: ResponseCache,
{%- endif %}
    address: ClientAddress,
) -> None:
    """Delete a user with their items and tokens. Superusers only, and not themselves."""
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    _refuse_own_account_by_key(principal, user_id)
{%- endif %}
    if user_id == principal.user_id:
        raise ConflictError(_SELF_LOCKOUT)
    await users.delete_user(connection, user_id, origin_of(principal, address))
{%- if cookiecutter.cache != "none" %}
    await forget_items_of(cache, user_id)
{%- endif %}
