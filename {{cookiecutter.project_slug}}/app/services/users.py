{%- set events = cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" -%}
"""Users: sign-up, sign-in, profile and password changes, administration, token principals.

Functions that check or make a password hash take the database rather than a connection:
they take short turns on connections around their statements, so none is held while a hash
is computed.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

{% if events -%}
from pydantic import TypeAdapter
{% endif -%}
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.auth import SUPERUSER_SCOPES, USER_SCOPES, Principal
from app.core.config import Settings
from app.core.errors import ConflictError, DomainError, NotFoundError
from app.core.passwords import ensure_room, hash_password, verify_password
from app.core.tokens import decode_token
from app.db import queries
from app.db.engine import Database, transaction
{%- if cookiecutter.auth == "jwt_and_api_key" %}
from app.models.api_key import ApiKey
{%- endif %}
from app.models.refresh_token import RefreshTokenFamily
from app.models.user import User
from app.schemas.common import one_page
{%- if events %}
from app.schemas.user import UserRead
from app.services import audit, events
{%- else %}
from app.services import audit
{%- endif %}

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
_SIGN_IN = select(
    User.id, User.password_hash, User.is_active, User.token_version, User.email_verified_at
).where(User.email == bindparam("email"))
# Only what authorizing a request needs, in one round trip: the user's flags and whether
# the sign-in the token belongs to is still open.
_TOKEN_HOLDER = (
    select(User.is_active, User.is_superuser, User.token_version, RefreshTokenFamily.revoked_at)
    .join(RefreshTokenFamily, RefreshTokenFamily.user_id == User.id)
    .where(User.id == bindparam("user_id"), RefreshTokenFamily.id == bindparam("family_id"))
)
_TOKEN_VERSION = select(User.is_active, User.token_version).where(User.id == bindparam("user_id"))
_PASSWORD_HASH = select(User.password_hash).where(User.id == bindparam("user_id"))
# Locked together, so that concurrent demotions cannot leave nobody to administer.
_ACTIVE_SUPERUSERS = (
    select(User.id)
    .where(User.is_superuser.is_(True), User.is_active.is_(True))
    .order_by(User.id)
    .with_for_update()
)
_INSERT = insert(User)
_UPDATE = update(User).where(User.id == bindparam("user_id"))
_DELETE = delete(User).where(User.id == bindparam("user_id"))
{%- if cookiecutter.auth == "jwt_and_api_key" %}
_REVOKE_KEYS = update(ApiKey).where(
    ApiKey.user_id == bindparam("owner"), ApiKey.revoked_at.is_(None)
)
{%- endif %}

{%- if events %}
_AS_SENT = TypeAdapter(UserRead)  # an event carries the account as the API returns it
{%- endif %}

_NOT_FOUND = "No user with this id."
_EMAIL_TAKEN = "A user with this email already exists."
_NOT_THE_CURRENT = "The current password is not correct."
_LAST_SUPERUSER = "At least one active superuser must remain."


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A user whose password was just checked; `new_hash` replaces an outdated hash."""

    id: uuid.UUID
    token_version: int
    new_hash: str | None
    verified: bool


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively: they are stored lower-cased."""
    return email.strip().lower()


async def register(
    database: Database, email: str, password: str, origin: audit.Origin
) -> UserRecord:
    """Sign-up: an ordinary active user whose address is not verified yet. The hash is made
    before a connection is taken."""
    password_hash = await hash_password(password)
    async with database.connect() as connection:
        return await _insert(
            connection, email, password_hash, origin, is_superuser=False, verified=False
        )


async def create_user(
    connection: AsyncConnection,
    email: str,
    password: str,
    origin: audit.Origin,
    *,
    is_superuser: bool = False,
) -> UserRecord:
    """A user made by an operator (the CLI) or a test; the operator vouches for the address."""
    password_hash = await hash_password(password)
    return await _insert(
        connection, email, password_hash, origin, is_superuser=is_superuser, verified=True
    )


async def _insert(
    connection: AsyncConnection,
    email: str,
    password_hash: str,
    origin: audit.Origin,
    *,
    is_superuser: bool,
    verified: bool,
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
    try:
        async with transaction(connection):  # the change and its audit event, or neither
            await connection.execute(
                _INSERT,
                {
                    **record,
                    "password_hash": password_hash,
                    "token_version": 0,
                    "email_verified_at": now if verified else None,
                },
            )
            await audit.record(connection, "user_created", origin, target=f"user:{record['id']}")
    except IntegrityError:
        raise ConflictError(_EMAIL_TAKEN) from None
    return record


async def authenticate(
    database: Database, email: str, password: str, origin: audit.Origin
) -> Authenticated | None:
    """The user for correct credentials of an active user; None (audited) otherwise.

    Unknown emails cost the same time as wrong passwords.
    """
    ensure_room()
    async with database.connect() as connection:
        row = (await connection.execute(_SIGN_IN, {"email": normalize_email(email)})).first()
    matches, new_hash = await verify_password(password, row.password_hash if row else None)
    if row is None or not matches or not row.is_active:
        shown = "".join(c if c.isprintable() else "?" for c in normalize_email(email)[:50])
        async with database.connect() as connection:
            await audit.record(connection, "login_failed", origin, target=f"email:{shown}")
        return None
    return Authenticated(
        id=row.id,
        token_version=row.token_version,
        new_hash=new_hash,
        verified=row.email_verified_at is not None,
    )


async def replace_password_hash(
    connection: AsyncConnection, user_id: uuid.UUID, password_hash: str
) -> None:
    """Store a stronger hash of the same password; tokens stay valid."""
    await connection.execute(_UPDATE, {"user_id": user_id, "password_hash": password_hash})


async def confirm_password(database: Database, user_id: uuid.UUID, password: str) -> None:
    """Refuse (400) unless `password` is the user's current password."""
    ensure_room()
    async with database.connect() as connection:
        password_hash = await connection.scalar(_PASSWORD_HASH, {"user_id": user_id})
    matches, _ = await verify_password(password, password_hash)
    if not matches:
        raise DomainError(_NOT_THE_CURRENT)


async def principal_for_token(
    connection: AsyncConnection, settings: Settings, token: str
) -> Principal | None:
    """The principal an access token stands for, or None if it no longer stands for anyone."""
    claims = decode_token(settings, token, "access")
    if claims is None:
        return None
    row = await queries.fetch_one(
        connection, _TOKEN_HOLDER, {"user_id": claims.user_id, "family_id": claims.family_id}
    )
    if (
        row is None
        or not row["is_active"]
        or row["token_version"] != claims.version
        or row["revoked_at"] is not None
    ):
        return None
    scopes = SUPERUSER_SCOPES if row["is_superuser"] else USER_SCOPES
    return Principal(subject=f"user:{claims.user_id}", user_id=claims.user_id, scopes=scopes)


async def token_version(connection: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The current token version of an active user; None if gone or deactivated."""
    row = (await connection.execute(_TOKEN_VERSION, {"user_id": user_id})).first()
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
    """Apply profile or administrative changes; deactivation voids every token{% if cookiecutter.auth == "jwt_and_api_key" %} and
    revokes every API key{% endif %} at once, for good."""
    current = await get_user(connection, user_id)
    if "email" in changes:
        changes = {**changes, "email": normalize_email(changes["email"])}
    values = {key: value for key, value in changes.items() if current[key] != value}
    if not values:
        return current
    values["updated_at"] = datetime.now(UTC)
    if "email" in values:  # set by an administrator: the owner has not confirmed it yet
        values["email_verified_at"] = None
    deactivating = values.get("is_active") is False
    statement = _UPDATE.values(token_version=User.token_version + 1) if deactivating else _UPDATE
    try:
        async with transaction(connection):
            if deactivating or values.get("is_superuser") is False:
                await _keep_a_superuser(connection, user_id)
            await connection.execute(statement, {**values, "user_id": user_id})
{%- if cookiecutter.auth == "jwt_and_api_key" %}
            if deactivating:
                await connection.execute(
                    _REVOKE_KEYS, {"owner": user_id, "revoked_at": values["updated_at"]}
                )
{%- endif %}
            for action in _audited_changes(values):
                await audit.record(connection, action, origin, target=f"user:{user_id}")
{%- if events %}
            await announce(connection, "user.updated", user_id)
{%- endif %}
    except IntegrityError:
        raise ConflictError(_EMAIL_TAKEN) from None
    return {**current, **values}


async def _keep_a_superuser(connection: AsyncConnection, losing: uuid.UUID) -> None:
    """Refuse a change that would leave no active superuser, even under concurrent changes:
    the active superusers stay locked until the transaction ends."""
    remaining = set(await connection.scalars(_ACTIVE_SUPERUSERS)) - {losing}
    if not remaining:
        raise ConflictError(_LAST_SUPERUSER)


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
    database: Database,
    user_id: uuid.UUID,
    current_password: str,
    new_password: str,
    origin: audit.Origin,
) -> None:
    """Replace the password after checking the current one; every earlier token stops working."""
    await confirm_password(database, user_id, current_password)
    new_hash = await hash_password(new_password)
    async with database.connect() as connection, transaction(connection):
        await replace_password(connection, user_id, new_hash, datetime.now(UTC))
        await audit.record(connection, "password_changed", origin, target=f"user:{user_id}")


async def replace_password(
    connection: AsyncConnection, user_id: uuid.UUID, password_hash: str, now: datetime
) -> None:
    """Store a new password; every token issued before stops working."""
    await connection.execute(
        _UPDATE.values(token_version=User.token_version + 1),
        {"user_id": user_id, "password_hash": password_hash, "updated_at": now},
    )
{%- if events %}
    await announce(connection, "user.password_changed", user_id)


async def announce(connection: AsyncConnection, type_: str, user_id: uuid.UUID) -> None:
    """Tell the account's owner what changed, in the open transaction, with the account as
    the API shows it."""
    user = _AS_SENT.validate_python(await get_user(connection, user_id))
    await events.emit(connection, type_, _AS_SENT.dump_python(user, mode="json"), user_id)
{%- endif %}


async def delete_user(
    connection: AsyncConnection, user_id: uuid.UUID, origin: audit.Origin
) -> None:
    async with transaction(connection):
        await _keep_a_superuser(connection, user_id)
        result = await connection.execute(_DELETE, {"user_id": user_id})
        if result.rowcount != 1:
            raise NotFoundError(_NOT_FOUND)
        await audit.record(connection, "user_deleted", origin, target=f"user:{user_id}")
