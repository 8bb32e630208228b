"""API keys: create (the key is shown once), list, revoke, and authenticate requests."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.auth import Principal
from app.core.config import Settings
from app.core.errors import NotFoundError
from app.core.keys import generate_key, hash_key, key_matches, key_prefix
from app.db import queries
from app.db.engine import transaction
from app.models.api_key import ApiKey
{%- if cookiecutter.auth == "jwt_and_api_key" %}
from app.models.user import User
{%- endif %}
from app.schemas.common import one_page
from app.services import audit

ApiKeyRecord = dict[str, Any]

# Writing last_used_at on every request would turn each read into a write.
LAST_USED_PRECISION = timedelta(minutes=1)

_PUBLIC_COLUMNS = (
    ApiKey.id,
    ApiKey.prefix,
    ApiKey.name,
    ApiKey.scopes,
    ApiKey.expires_at,
    ApiKey.last_used_at,
    ApiKey.revoked_at,
    ApiKey.created_at,
)
{%- if cookiecutter.auth == "jwt_and_api_key" %}
# The key and its owner in one round trip: a deactivated owner's keys stop working.
_BY_PREFIX = (
    select(
        ApiKey.id,
        ApiKey.key_hash,
        ApiKey.scopes,
        ApiKey.expires_at,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
        ApiKey.user_id,
        User.is_active,
        User.is_superuser,
    )
    .join(User, User.id == ApiKey.user_id)
    .where(ApiKey.prefix == bindparam("prefix"))
)
{%- else %}
_BY_PREFIX = select(
    ApiKey.id,
    ApiKey.key_hash,
    ApiKey.scopes,
    ApiKey.expires_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
).where(ApiKey.prefix == bindparam("prefix"))
{%- endif %}
_INSERT = insert(ApiKey)
_TOUCH = update(ApiKey).where(ApiKey.id == bindparam("key_id"))
_REVOKE = update(ApiKey).where(ApiKey.id == bindparam("key_id"), ApiKey.revoked_at.is_(None))
{%- if cookiecutter.auth == "jwt_and_api_key" %}
_REVOKE_ALL = update(ApiKey).where(
    ApiKey.user_id == bindparam("owner_id"), ApiKey.revoked_at.is_(None)
)
{%- endif %}


def _public(row: dict[str, Any]) -> ApiKeyRecord:
    return {**row, "scopes": sorted(row["scopes"].split())}


async def create_key(
    connection: AsyncConnection,
    settings: Settings,
    name: str,
    scopes: set[str],
    expires_at: datetime | None,
    origin: audit.Origin,
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    owner_id: uuid.UUID,
{%- endif %}
) -> ApiKeyRecord:
    """Store a new key and return it with the secret `key`, which is never shown again."""
    key, prefix = generate_key()
    row = {
        "id": uuid.uuid4(),
        "prefix": prefix,
        "name": name,
        "scopes": " ".join(sorted(scopes)),
        "expires_at": expires_at,
        "last_used_at": None,
        "revoked_at": None,
        "created_at": datetime.now(UTC),
    }
    async with transaction(connection):  # the key and its audit event, or neither
        await connection.execute(
            _INSERT,
            {
                **row,
                "key_hash": hash_key(key, settings.secret_key),
{%- if cookiecutter.auth == "jwt_and_api_key" %}
                "user_id": owner_id,
{%- endif %}
            },
        )
        await audit.record(connection, "api_key_created", origin, target=f"api_key:{row['id']}")
    return {**_public(row), "key": key}


async def list_keys(
    connection: AsyncConnection,
    limit: int,
    offset: int,
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    owner_id: uuid.UUID | None,
{%- endif %}
) -> tuple[list[ApiKeyRecord], int | None]:
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    """A page of keys, oldest first: the owner's, or everyone's when `owner_id` is None."""
    statement = select(*_PUBLIC_COLUMNS)
    if owner_id is not None:
        statement = statement.where(ApiKey.user_id == owner_id)
    statement = statement.order_by(ApiKey.created_at, ApiKey.id).limit(limit + 1).offset(offset)
{%- else %}
    """A page of keys, oldest first."""
    statement = (
        select(*_PUBLIC_COLUMNS)
        .order_by(ApiKey.created_at, ApiKey.id)
        .limit(limit + 1)
        .offset(offset)
    )
{%- endif %}
    rows = [_public(dict(row)) for row in (await connection.execute(statement)).mappings()]
    return one_page(rows, limit, offset)


async def revoke_key(
    connection: AsyncConnection,
    key_id: uuid.UUID,
    origin: audit.Origin,
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    owner_id: uuid.UUID | None,
{%- endif %}
) -> None:
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    """Revoke a key for good; with `owner_id`, only one of that owner's keys."""
    statement = _REVOKE if owner_id is None else _REVOKE.where(ApiKey.user_id == owner_id)
{%- else %}
    """Revoke a key for good; revoking it again changes nothing."""
    statement = _REVOKE
{%- endif %}
    async with transaction(connection):
        result = await connection.execute(
            statement, {"key_id": key_id, "revoked_at": datetime.now(UTC)}
        )
        if result.rowcount != 1:
            raise NotFoundError("No active API key with this id.")
        await audit.record(connection, "api_key_revoked", origin, target=f"api_key:{key_id}")


{%- if cookiecutter.auth == "jwt_and_api_key" %}


async def revoke_all_keys(
    connection: AsyncConnection, owner_id: uuid.UUID, origin: audit.Origin
) -> None:
    """Revoke every active key of one owner at once."""
    async with transaction(connection):
        await connection.execute(
            _REVOKE_ALL, {"owner_id": owner_id, "revoked_at": datetime.now(UTC)}
        )
        await audit.record(connection, "api_keys_revoked", origin, target=f"user:{owner_id}")
{%- endif %}


async def principal_for_key(
    connection: AsyncConnection, settings: Settings, key: str
) -> Principal | None:
    """The principal a key stands for, or None if it is unknown, expired or revoked."""
    prefix = key_prefix(key)
    if prefix is None:
        return None
    row = await queries.fetch_one(connection, _BY_PREFIX, {"prefix": prefix})
    if row is None or not key_matches(key, row["key_hash"], settings.secret_key):
        return None
    now = datetime.now(UTC)
    expires_at = row["expires_at"]
    if row["revoked_at"] is not None or (expires_at is not None and expires_at <= now):
        return None
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    if not row["is_active"]:
        return None
{%- endif %}
    if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USED_PRECISION:
        await queries.execute(connection, _TOUCH, {"key_id": row["id"], "last_used_at": now})
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    # A key never grants more than its owner holds: "admin" only for superusers' keys.
    scopes = frozenset(row["scopes"].split())
    if not row["is_superuser"]:
        scopes -= {"admin"}
    return Principal(
        subject=f"api_key:{row['id']}", user_id=row["user_id"], scopes=scopes, credential="api_key"
    )
{%- else %}
    return Principal(subject=f"api_key:{row['id']}", scopes=frozenset(row["scopes"].split()))
{%- endif %}
