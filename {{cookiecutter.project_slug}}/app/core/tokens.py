"""Signed JWTs: short-lived access tokens and single-use refresh tokens (PyJWT, HS256).

Decoding pins the algorithm and requires every claim, so unsigned (`alg: none`), foreign,
expired, premature, mistyped or tampered tokens are all simply invalid. Both kinds name the
sign-in they belong to (`fam`), so ending a sign-in ends its access tokens too.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import jwt

from app.core.config import Settings

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "exp", "iat", "nbf", "jti", "iss", "aud", "typ", "ver", "fam"]

TokenKind = Literal["access", "refresh"]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    token_id: uuid.UUID
    version: int
    family_id: uuid.UUID  # the sign-in


def encode_token(
    settings: Settings,
    *,
    kind: TokenKind,
    user_id: uuid.UUID,
    version: int,
    token_id: uuid.UUID,
    issued_at: datetime,
    expires_at: datetime,
    family_id: uuid.UUID,
) -> str:
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "iat": issued_at,
        "nbf": issued_at,
        "exp": expires_at,
        "jti": str(token_id),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "typ": kind,
        "ver": version,
        "fam": str(family_id),
    }
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)


def decode_token(settings: Settings, token: str, kind: TokenKind) -> TokenClaims | None:
    """The claims of a valid token of this `kind`, or None for anything else."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": _REQUIRED_CLAIMS},
        )
        if claims["typ"] != kind or type(claims["ver"]) is not int:
            return None
        return TokenClaims(
            user_id=uuid.UUID(claims["sub"]),
            token_id=uuid.UUID(claims["jti"]),
            version=claims["ver"],
            family_id=uuid.UUID(claims["fam"]),
        )
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
        return None
