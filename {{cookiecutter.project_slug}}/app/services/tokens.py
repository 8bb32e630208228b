"""Sign-ins and their token pairs: issue on sign-in, rotate on refresh, revoke on logout.

A sign-in is a family of refresh tokens. Each refresh token is stored and may be used once:
presenting one that was already used means it was copied, so the whole sign-in is revoked.
Rotation and revocation both lock the family's row before anything else, so they run one
after the other: once a revocation has answered, no token of that sign-in works again,
whatever was in flight. Access tokens name their sign-in and die with it.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.auth import CHALLENGE
from app.core.config import Settings
from app.core.errors import ForbiddenError, UnauthorizedError
from app.core.tokens import decode_token, encode_token
from app.db.engine import Database, transaction
from app.models.refresh_token import RefreshToken, RefreshTokenFamily
from app.services import audit, users

TokenPair = dict[str, Any]

_INSERT_FAMILY = insert(RefreshTokenFamily)
_INSERT_TOKEN = insert(RefreshToken)
_LOCK_FAMILY = (
    select(RefreshTokenFamily.revoked_at)
    .where(
        RefreshTokenFamily.id == bindparam("family"),
        RefreshTokenFamily.user_id == bindparam("owner"),
    )
    .with_for_update()
)
_USED_AT = (
    select(RefreshToken.used_at)
    .where(
        RefreshToken.id == bindparam("token_id"),
        RefreshToken.family_id == bindparam("family"),
    )
    .with_for_update()
)
_MARK_USED = update(RefreshToken).where(RefreshToken.id == bindparam("token_id"))
_EXTEND_FAMILY = update(RefreshTokenFamily).where(RefreshTokenFamily.id == bindparam("family"))
_REVOKE_FAMILY = update(RefreshTokenFamily).where(
    RefreshTokenFamily.id == bindparam("family"),
    RefreshTokenFamily.user_id == bindparam("owner"),
    RefreshTokenFamily.revoked_at.is_(None),
)
_PURGE = delete(RefreshTokenFamily).where(RefreshTokenFamily.expires_at < bindparam("now"))

_INVALID = "The refresh token is invalid, expired or revoked."
_UNVERIFIED = "Confirm your email address first: follow the link sent to it, or ask for a new one."
_REUSED = "This refresh token was already used; every token of its sign-in is now revoked."


async def sign_in(
    database: Database, settings: Settings, email: str, password: str, origin: audit.Origin
) -> TokenPair | None:
    """A new sign-in for correct credentials of an active user, else None.

    No connection is held while the password is checked (see `users.authenticate`).
    """
    user = await users.authenticate(database, email, password, origin)
    if user is None:
        return None
    if settings.require_verified_email and not user.verified:
        raise ForbiddenError(_UNVERIFIED)  # told only to whoever knows the password
    async with database.connect() as connection, transaction(connection):
        if user.new_hash is not None:
            await users.replace_password_hash(connection, user.id, user.new_hash)
        pair = await issue_pair(connection, settings, user.id, user.token_version)
        await audit.record(
            connection, "login_succeeded", origin.by(f"user:{user.id}"), target=f"user:{user.id}"
        )
    return pair


async def issue_pair(
    connection: AsyncConnection, settings: Settings, user_id: uuid.UUID, version: int
) -> TokenPair:
    """Start a sign-in: its family and the first access and refresh tokens."""
    now = datetime.now(UTC)
    family_id = uuid.uuid4()
    async with transaction(connection):
        await connection.execute(
            _INSERT_FAMILY,
            {
                "id": family_id,
                "user_id": user_id,
                "expires_at": now + timedelta(days=settings.refresh_token_days),
                "revoked_at": None,
                "created_at": now,
            },
        )
        return await _next_pair(connection, settings, user_id, version, family_id, now)


async def _next_pair(
    connection: AsyncConnection,
    settings: Settings,
    user_id: uuid.UUID,
    version: int,
    family_id: uuid.UUID,
    now: datetime,
) -> TokenPair:
    """Store a new refresh token of the family and sign both tokens of the pair."""
    access_ttl = timedelta(minutes=settings.access_token_minutes)
    refresh_id = uuid.uuid4()
    refresh_expires = now + timedelta(days=settings.refresh_token_days)
    await connection.execute(
        _INSERT_TOKEN,
        {
            "id": refresh_id,
            "family_id": family_id,
            "user_id": user_id,
            "expires_at": refresh_expires,
            "used_at": None,
            "created_at": now,
        },
    )
    return {
        "access_token": encode_token(
            settings,
            kind="access",
            user_id=user_id,
            version=version,
            token_id=uuid.uuid4(),
            issued_at=now,
            expires_at=now + access_ttl,
            family_id=family_id,
        ),
        "refresh_token": encode_token(
            settings,
            kind="refresh",
            user_id=user_id,
            version=version,
            token_id=refresh_id,
            issued_at=now,
            expires_at=refresh_expires,
            family_id=family_id,
        ),
        "token_type": "bearer",
        "expires_in": int(access_ttl.total_seconds()),
    }


async def rotate(
    connection: AsyncConnection, settings: Settings, refresh_token: str, origin: audit.Origin
) -> TokenPair:
    """Trade a refresh token for a new pair; a reused token revokes its whole sign-in."""
    claims = decode_token(settings, refresh_token, "refresh")
    if claims is None:
        raise UnauthorizedError(_INVALID, headers=CHALLENGE)
    user = f"user:{claims.user_id}"
    keys = {"family": claims.family_id, "owner": claims.user_id}
    reused = False
    async with transaction(connection):
        family = (await connection.execute(_LOCK_FAMILY, keys)).first()
        if family is None or family.revoked_at is not None:
            raise UnauthorizedError(_INVALID, headers=CHALLENGE)
        token = (
            await connection.execute(
                _USED_AT, {"family": claims.family_id, "token_id": claims.token_id}
            )
        ).first()
        if token is None:
            raise UnauthorizedError(_INVALID, headers=CHALLENGE)
        now = datetime.now(UTC)
        if token.used_at is not None:
            reused = True
            await connection.execute(_REVOKE_FAMILY, {**keys, "revoked_at": now})
            await audit.record(connection, "refresh_token_reused", origin.by(user), target=user)
        else:
            version = await users.token_version(connection, claims.user_id)
            if version is None or version != claims.version:
                raise UnauthorizedError(_INVALID, headers=CHALLENGE)
            await connection.execute(_MARK_USED, {"token_id": claims.token_id, "used_at": now})
            pair = await _next_pair(
                connection, settings, claims.user_id, version, claims.family_id, now
            )
            expires_at = now + timedelta(days=settings.refresh_token_days)
            await connection.execute(
                _EXTEND_FAMILY, {"family": claims.family_id, "expires_at": expires_at}
            )
            await audit.record(connection, "token_refreshed", origin.by(user), target=user)
    if reused:  # raised only now, so that the revocation above is committed
        raise UnauthorizedError(_REUSED, headers=CHALLENGE)
    return pair


async def revoke(
    connection: AsyncConnection, settings: Settings, refresh_token: str, origin: audit.Origin
) -> None:
    """Log out: every token of this sign-in, refresh or access, rotated or not, stops working."""
    claims = decode_token(settings, refresh_token, "refresh")
    if claims is None:
        raise UnauthorizedError(_INVALID, headers=CHALLENGE)
    user = f"user:{claims.user_id}"
    async with transaction(connection):
        await connection.execute(
            _REVOKE_FAMILY,
            {"family": claims.family_id, "owner": claims.user_id, "revoked_at": datetime.now(UTC)},
        )
        await audit.record(connection, "logout", origin.by(user), target=user)


async def purge_expired(connection: AsyncConnection) -> int:
    """Delete sign-ins whose every token has expired (their tokens go with them)."""
    result = await connection.execute(_PURGE, {"now": datetime.now(UTC)})
    return result.rowcount
