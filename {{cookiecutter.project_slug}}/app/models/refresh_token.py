"""Refresh tokens and the sign-ins they belong to, so that each token is used once, a stolen
one can be detected, and a whole sign-in can be ended at once."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class RefreshTokenFamily(Base):
    """One sign-in: every token rotated from it, and every access token issued with them.

    Rotation and revocation both lock this row first, so a revocation can never miss a token
    that a concurrent rotation is still writing.
    """

    __tablename__ = "refresh_token_families"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the tokens' `fam` claim
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # When the newest refresh token of the sign-in expires; the row may go after that.
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the token's `jti` claim
    family_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("refresh_token_families.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
