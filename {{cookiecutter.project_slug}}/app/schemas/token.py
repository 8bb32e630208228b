"""Sign-in form and token bodies (OAuth2 password flow)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.passwords import PASSWORD_MAX_LENGTH
from app.models.user import EMAIL_MAX_LENGTH
from app.schemas.common import NO_NUL_PATTERN

# Long enough for any token this service issues; a bound keeps decoding cheap.
_TOKEN_MAX_LENGTH = 2048


class SignInForm(BaseModel):
    """The OAuth2 password grant, sent as form data (so Swagger's Authorize button works)."""

    grant_type: Literal["password"] | None = None
    username: Annotated[
        str, Field(max_length=EMAIL_MAX_LENGTH, pattern=NO_NUL_PATTERN, description="The email.")
    ]
    password: Annotated[str, Field(max_length=PASSWORD_MAX_LENGTH, pattern=NO_NUL_PATTERN)]


class RefreshRequest(BaseModel):
    """A refresh token, to rotate (refresh) or to revoke (logout)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"refresh_token": "eyJhbGciOi..."}]}
    )

    refresh_token: Annotated[str, Field(min_length=1, max_length=_TOKEN_MAX_LENGTH)]


class TokenPair(BaseModel):
    """A short-lived access token for `Authorization: Bearer`, and a single-use refresh token."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOi...",
                    "refresh_token": "eyJhbGciOi...",
                    "token_type": "bearer",
                    "expires_in": 900,
                }
            ]
        }
    )

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds until the access token expires.")
