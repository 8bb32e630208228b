"""Users: sign-up, sign-in, profile and password changes, administration, token principals."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.auth import SUPERUSER_SCOPES, USER_SCOPES, Principal
from app.core.config import Settings
from app.core.errors import ConflictError, DomainError, NotFoundError
from app.core.passwords import hash_password, verify_password
from app.core.tokens import decode_token
from app.db.engine import transaction
from app.models.user import User
from app.schemas.common import one_page
from app.services import audit

UserRecord = dict[str, Any]

_PUBLIC_COLUMNS = (
    User.id,
    User.email,
    User.is_active,
    User.is_superuser,
    User.created_at,
    User.updated_at,
)
_BY_ID = select(*_PUBLIC_COLUMNS).where(User.id == bindparam("user_id"))
_SIGN_IN = select(User.id, User.password_hash, User.is_active, User.token_version).where(
    User.email == bindparam("email")
)
# Only what authorizing a request needs: one narrow row by primary key.
_TOKEN_HOLDER = select(User.is_active, User.is_superuser, User.token_version).where(
    User.id == bindparam("user_id")
)
_PASSWORD_HASH = select(User.password_hash).where(User.id == bindparam("user_id"))
_INSERT = insert(User)
_UPDATE = update(User).where(User.id == bindparam("user_id"))
_DELETE = delete(User).where(User.id == bindparam("user_id"))

_NOT_FOUND = "No user with this id."
_EMAIL_TAKEN = "A user with this email already exists."


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively: they are stored lower-cased."""
    return email.strip().lower()


async def create_user(
    connection: AsyncConnection,
    email: str,
    password: str,
    origin: audit.Origin,
    *,
    is_superuser: bool = False,
) -> UserRecord:
    now = datetime.now(UTC)
    record: UserRecord = {
        "id": uuid.uuid4(),
        "email": normalize_email(email),
        "is_active": True,
        "is_superuser": is_superuser,
        "created_at": now,
        "updated_at": now,
    }
    password_hash = await hash_password(password)
    try:
        async with transaction(connection):  # the change and its audit event, or neither
            await connection.execute(
                _INSERT, {**record, "password_hash": password_hash, "token_version": 0}
            )
            await audit.record(connection, "user_created", origin, target=f"user:{record['id']}")
    except IntegrityError:
        raise ConflictError(_EMAIL_TAKEN) from None
    return record


async def sign_in(
    connection: AsyncConnection, email: str, password: str, origin: audit.Origin
) -> tuple[uuid.UUID, int] | None:
    """The user id and token version for correct credentials of an active user, else None.

    Unknown emails cost the same time as wrong passwords. An outdated hash is replaced.
    """
    row = (await connection.execute(_SIGN_IN, {"email": normalize_email(email)})).first()
    matches, new_hash = await verify_password(password, row.password_hash if row else None)
    if row is None or not matches or not row.is_active:
        shown = "".join(c if c.isprintable() else "?" for c in normalize_email(email)[:50])
        await audit.record(connection, "login_failed", origin, target=f"email:{shown}")
        return None
    if new_hash is not None:
        await connection.execute(_UPDATE, {"user_id": row.id, "password_hash": new_hash})
    await audit.record(connection, "login_succeeded", origin, target=f"user:{row.id}")
    return row.id, row.token_version


async def principal_for_token(
    connection: AsyncConnection, settings: Settings, token: str
) -> Principal | None:
    """The principal an access token stands for, or None if it no longer stands for anyone."""
    claims = decode_token(settings, token, "access")
    if claims is None:
        return None
    row = (await connection.execute(_TOKEN_HOLDER, {"user_id": claims.user_id})).first()
    if row is None or not row.is_active or row.token_version != claims.version:
        return None
    scopes = SUPERUSER_SCOPES if row.is_superuser else USER_SCOPES
    return Principal(subject=f"user:{claims.user_id}", user_id=claims.user_id, scopes=scopes)


async def token_version(connection: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The current token version of an active user; None if gone or deactivated."""
    row = (await connection.execute(_TOKEN_HOLDER, {"user_id": user_id})).first()
    return row.token_version if row is not None and row.is_active else None


async def get_user(connection: AsyncConnection, user_id: uuid.UUID) -> UserRecord:
    row = (await connection.execute(_BY_ID, {"user_id": user_id})).mappings().first()
    if row is None:
        raise NotFoundError(_NOT_FOUND)
    return dict(row)


async def list_users(
    connection: AsyncConnection, limit: int, offset: int
) -> tuple[list[UserRecord], int | None]:
    statement = (
        select(*_PUBLIC_COLUMNS).order_by(User.created_at, User.id).limit(limit + 1).offset(offset)
    )
    rows = [dict(row) for row in (await connection.execute(statement)).mappings()]
    return one_page(rows, limit, offset)


async def update_user(
    connection: AsyncConnection,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    origin: audit.Origin,
) -> UserRecord:
    """Apply profile or administrative changes; deactivation voids every token at once."""
    current = await get_user(connection, user_id)
    if "email" in changes:
        changes = {**changes, "email": normalize_email(changes["email"])}
    values = {key: value for key, value in changes.items() if current[key] != value}
    if not values:
        return current
    values["updated_at"] = datetime.now(UTC)
    statement = _UPDATE
    if values.get("is_active") is False:
        statement = _UPDATE.values(token_version=User.token_version + 1)
    try:
        async with transaction(connection):
            await connection.execute(statement, {**values, "user_id": user_id})
            for action in _audited_changes(values):
                await audit.record(connection, action, origin, target=f"user:{user_id}")
    except IntegrityError:
        raise ConflictError(_EMAIL_TAKEN) from None
    return {**current, **values}


def _audited_changes(values: dict[str, Any]) -> list[str]:
    actions = []
    if "email" in values:
        actions.append("user_email_changed")
    if "is_active" in values:
        actions.append("user_reactivated" if values["is_active"] else "user_deactivated")
    if "is_superuser" in values:
        actions.append("user_promoted" if values["is_superuser"] else "user_demoted")
    return actions


async def change_password(
    connection: AsyncConnection,
    user_id: uuid.UUID,
    current_password: str,
    new_password: str,
    origin: audit.Origin,
) -> None:
    """Replace the password after checking the current one; every earlier token stops working."""
    password_hash = await connection.scalar(_PASSWORD_HASH, {"user_id": user_id})
    matches, _ = await verify_password(current_password, password_hash)
    if not matches:
        raise DomainError("The current password is not correct.")
    new_hash = await hash_password(new_password)
    async with transaction(connection):
        await connection.execute(
            _UPDATE.values(token_version=User.token_version + 1),
            {"user_id": user_id, "password_hash": new_hash, "updated_at": datetime.now(UTC)},
        )
        await audit.record(connection, "password_changed", origin, target=f"user:{user_id}")


async def delete_user(
    connection: AsyncConnection, user_id: uuid.UUID, origin: audit.Origin
) -> None:
    async with transaction(connection):
        result = await connection.execute(_DELETE, {"user_id": user_id})
        if result.rowcount != 1:
            raise NotFoundError(_NOT_FOUND)
        await audit.record(connection, "user_deleted", origin, target=f"user:{user_id}")
