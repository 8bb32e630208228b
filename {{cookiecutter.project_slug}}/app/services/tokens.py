"""Token pairs: issue on sign-in, rotate on refresh, revoke on logout.

Each refresh token is stored and may be used once. Presenting one that was already used
means it was copied: the whole family (every token rotated from that sign-in) is revoked.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.auth import CHALLENGE
from app.core.config import Settings
from app.core.errors import UnauthorizedError
from app.core.tokens import decode_token, encode_token
from app.db.engine import transaction
from app.models.refresh_token import RefreshToken
from app.services import audit, users

TokenPair = dict[str, Any]

_INSERT = insert(RefreshToken)
_STATE = (
    select(RefreshToken.used_at, RefreshToken.revoked_at, RefreshToken.family_id)
    .where(RefreshToken.id == bindparam("token_id"))
    .with_for_update()
)
_MARK_USED = update(RefreshToken).where(
    RefreshToken.id == bindparam("token_id"), RefreshToken.used_at.is_(None)
)
_REVOKE_FAMILY = update(RefreshToken).where(
    RefreshToken.family_id == bindparam("family"), RefreshToken.revoked_at.is_(None)
)

_INVALID = "The refresh token is invalid, expired or revoked."


async def issue_pair(
    connection: AsyncConnection,
    settings: Settings,
    user_id: uuid.UUID,
    version: int,
    family_id: uuid.UUID | None = None,
) -> TokenPair:
    """A new access token and a new stored refresh token (in a new family unless given)."""
    now = datetime.now(UTC)
    access_ttl = timedelta(minutes=settings.access_token_minutes)
    refresh_id, family = uuid.uuid4(), family_id or uuid.uuid4()
    refresh_expires = now + timedelta(days=settings.refresh_token_days)
    await connection.execute(
        _INSERT,
        {
            "id": refresh_id,
            "family_id": family,
            "user_id": user_id,
            "expires_at": refresh_expires,
            "used_at": None,
            "revoked_at": None,
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
        ),
        "refresh_token": encode_token(
            settings,
            kind="refresh",
            user_id=user_id,
            version=version,
            token_id=refresh_id,
            issued_at=now,
            expires_at=refresh_expires,
            family_id=family,
        ),
        "token_type": "bearer",
        "expires_in": int(access_ttl.total_seconds()),
    }


async def rotate(
    connection: AsyncConnection, settings: Settings, refresh_token: str, origin: audit.Origin
) -> TokenPair:
    """Trade a refresh token for a new pair; a reused token revokes its whole family."""
    claims = decode_token(settings, refresh_token, "refresh")
    if claims is None:
        raise UnauthorizedError(_INVALID, headers=CHALLENGE)
    reused = False
    async with transaction(connection):
        state = (await connection.execute(_STATE, {"token_id": claims.token_id})).first()
        if state is None or (state.revoked_at is not None and state.used_at is None):
            raise UnauthorizedError(_INVALID, headers=CHALLENGE)
        if state.used_at is not None:
            reused = True
            now = datetime.now(UTC)
            await connection.execute(_REVOKE_FAMILY, {"family": state.family_id, "revoked_at": now})
            await audit.record(
                connection, "refresh_token_reused", origin, target=f"user:{claims.user_id}"
            )
        else:
            version = await users.token_version(connection, claims.user_id)
            if version is None or version != claims.version:
                raise UnauthorizedError(_INVALID, headers=CHALLENGE)
            marked = await connection.execute(
                _MARK_USED, {"token_id": claims.token_id, "used_at": datetime.now(UTC)}
            )
            if marked.rowcount != 1:  # a concurrent request used it first
                raise UnauthorizedError(_INVALID, headers=CHALLENGE)
            pair = await issue_pair(connection, settings, claims.user_id, version, state.family_id)
    if reused:  # raised only now, so that the revocation above is committed
        raise UnauthorizedError(
            "This refresh token was already used; every token of its sign-in is now revoked.",
            headers=CHALLENGE,
        )
    return pair


async def revoke(
    connection: AsyncConnection, settings: Settings, refresh_token: str, origin: audit.Origin
) -> None:
    """Log out: every refresh token of this sign-in, rotated or not, stops working (the
    access token expires within minutes)."""
    claims = decode_token(settings, refresh_token, "refresh")
    if claims is None:
        raise UnauthorizedError(_INVALID, headers=CHALLENGE)
    async with transaction(connection):
        await connection.execute(
            _REVOKE_FAMILY, {"family": claims.family_id, "revoked_at": datetime.now(UTC)}
        )
        await audit.record(connection, "logout", origin, target=f"user:{claims.user_id}")
