"""Signed JWTs: short-lived access tokens and single-use refresh tokens (PyJWT, HS256).

Decoding pins the algorithm and requires every claim, so unsigned (`alg: none`), foreign,
expired, premature, mistyped or tampered tokens are all simply invalid. Both kinds name the
sign-in they belong to (`fam`), so ending a sign-in ends its access tokens too.
"""

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
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
    verified = _verified(
        token,
        kind,
        settings.secret_key.get_secret_value(),
        settings.jwt_audience,
        settings.jwt_issuer,
    )
    if verified is None:
        return None
    claims, not_before, expires = verified
    return claims if not_before <= time.time() < expires else None


{%- if cookiecutter.websockets == "yes" %}


def expires_at(settings: Settings, token: str) -> int | None:
    """When a valid access token expires (Unix time): a live stream ends with its token."""
    verified = _verified(
        token,
        "access",
        settings.secret_key.get_secret_value(),
        settings.jwt_audience,
        settings.jwt_issuer,
    )
    return None if verified is None else verified[2]
{%- endif %}


@lru_cache(maxsize=4096)
def _verified(
    token: str, kind: TokenKind, secret: str, audience: str, issuer: str
) -> tuple[TokenClaims, int, int] | None:
    """Signature and claims of a token, checked once: a client sends the same access token
    with every request, and verifying it costs more than the rest of a cached read. The
    times are checked on every use, by `decode_token`."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_nbf": False},
        )
        if claims["typ"] != kind or not all(
            type(claims[name]) is int for name in ("ver", "nbf", "exp")
        ):
            return None
        decoded = TokenClaims(
            user_id=uuid.UUID(claims["sub"]),
            token_id=uuid.UUID(claims["jti"]),
            version=claims["ver"],
            family_id=uuid.UUID(claims["fam"]),
        )
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
        return None
    return decoded, claims["nbf"], claims["exp"]
