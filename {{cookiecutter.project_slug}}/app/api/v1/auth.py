"""Sign-up, sign-in (OAuth2 password flow), token refresh and logout. All public."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, status

from app.api.deps import ClientAddress, origin_of
from app.api.mail import Mail
from app.core.auth import CHALLENGE
from app.core.deps import AppSettings, Connection, Database
from app.core.errors import ForbiddenError, UnauthorizedError
from app.core.ratelimit import Limiter
from app.core.tokens import decode_token
from app.schemas.token import RefreshRequest, SignInForm, TokenPair
from app.schemas.user import (
    EmailRequest,
    EmailVerify,
    LinkAccepted,
    PasswordReset,
    UserRead,
    UserRegister,
)
from app.services import email_verifications, password_resets, tokens, users

router = APIRouter(prefix="/auth", tags=["auth"])

_BAD_CREDENTIALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Wrong email or password, or an inactive user."}
}
_THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many attempts from this address or for this account."}
}
_BUSY: dict[int | str, dict[str, Any]] = {
    503: {"description": "Too many passwords are being checked at once; retry after a moment."}
}
# The answer to a request for an emailed link, whether or not one was sent.
_LINK_ON_ITS_WAY = {"detail": "If an account has this address, a link is on its way to it."}
_BAD_TOKEN: dict[int | str, dict[str, Any]] = {
    401: {"description": "The refresh token is invalid, expired, used or revoked."}
}


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    summary="Create an account",
    responses={
        403: {"description": "Registration is switched off."},
        409: {"description": "The email is taken."},
        **_THROTTLED,
        **_BUSY,
    },
)
async def register(
    body: UserRegister,
    database: Database,
    settings: AppSettings,
    limiter: Limiter,
    address: ClientAddress,
    mailer: Mail,
) -> dict[str, object]:
    """Create an ordinary, active user and email a link that verifies the address. The
    server sets the id and every privilege."""
    if not settings.registration_enabled:
        raise ForbiddenError("Registration is switched off.")
    await limiter.hit(limiter.rules.register_client, address or "-")
    await limiter.hit(limiter.rules.register_account, users.normalize_email(body.email))
    origin = origin_of(None, address)
    user = await users.register(database, body.email, body.password, origin)
    async with database.connect() as connection:
        await email_verifications.send_link(
            connection, settings, mailer, user["id"], user["email"], origin
        )
    return user


@router.post(
    "/token",
    response_model=TokenPair,
    summary="Sign in",
    responses={**_BAD_CREDENTIALS, **_THROTTLED, **_BUSY},
)
async def sign_in(
    form: Annotated[SignInForm, Form()],
    database: Database,
    settings: AppSettings,
    limiter: Limiter,
    address: ClientAddress,
) -> dict[str, object]:
    """Trade an email (`username`) and password for an access and a refresh token.

    Attempts are limited per address, and failures per account from any address.
    """
    account = users.normalize_email(form.username)
    await limiter.hit(limiter.rules.sign_in_client, address or "-")
    await limiter.check(limiter.rules.sign_in_account, account)
    origin = origin_of(None, address)
    pair = await tokens.sign_in(database, settings, form.username, form.password, origin)
    if pair is None:
        await limiter.count(limiter.rules.sign_in_account, account)
        raise UnauthorizedError("Wrong email or password.", headers=CHALLENGE)
    return pair


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Refresh tokens",
    responses={**_BAD_TOKEN, **_THROTTLED},
)
async def refresh(
    body: RefreshRequest,
    connection: Connection,
    settings: AppSettings,
    limiter: Limiter,
    address: ClientAddress,
) -> dict[str, object]:
    """Trade a refresh token for a new pair. Each refresh token works once: reusing one
    revokes every token of that sign-in, access tokens included."""
    await limiter.hit(limiter.rules.refresh_client, address or "-")
    claims = decode_token(settings, body.refresh_token, "refresh")
    if claims is not None:  # a genuine token: its account has a budget of its own
        await limiter.hit(limiter.rules.refresh_account, str(claims.user_id))
    return await tokens.rotate(connection, settings, body.refresh_token, origin_of(None, address))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out",
    responses=_BAD_TOKEN,
)
async def logout(
    body: RefreshRequest, connection: Connection, settings: AppSettings, address: ClientAddress
) -> None:
    """End the sign-in the refresh token belongs to: none of its tokens, refresh or access,
    work any more."""
    await tokens.revoke(connection, settings, body.refresh_token, origin_of(None, address))


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LinkAccepted,
    summary="Ask for a password-reset email",
    responses=_THROTTLED,
)
async def request_password_reset(
    body: EmailRequest,
    connection: Connection,
    settings: AppSettings,
    limiter: Limiter,
    address: ClientAddress,
    mailer: Mail,
) -> dict[str, str]:
    """Email a single-use reset link to the address if an active account has it. The answer
    is the same either way, so it tells nobody which addresses have accounts."""
    await limiter.hit(limiter.rules.reset_client, address or "-")
    await limiter.hit(limiter.rules.reset_account, users.normalize_email(body.email))
    origin = origin_of(None, address)
    await password_resets.request_reset(connection, settings, mailer, body.email, origin)
    return _LINK_ON_ITS_WAY


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with a reset link",
    responses={
        400: {"description": "The link is invalid, expired or used, or the password changed."},
        **_BUSY,
    },
)
async def reset_password(body: PasswordReset, database: Database, address: ClientAddress) -> None:
    """Set the new password; the link stops working and every session of the account ends."""
    origin = origin_of(None, address)
    await password_resets.reset_password(database, body.token, body.new_password, origin)


@router.post(
    "/verify-email",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Confirm an email address with its link",
    responses={400: {"description": "The link is invalid, expired or used."}},
)
async def verify_email(body: EmailVerify, connection: Connection, address: ClientAddress) -> None:
    """Mark the address the link was sent to as verified; the link stops working."""
    await email_verifications.verify(connection, body.token, origin_of(None, address))


@router.post(
    "/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LinkAccepted,
    summary="Ask for a new verification link",
    responses=_THROTTLED,
)
async def resend_verification(
    body: EmailRequest,
    connection: Connection,
    settings: AppSettings,
    limiter: Limiter,
    address: ClientAddress,
    mailer: Mail,
) -> dict[str, str]:
    """Email a new link if an unverified account has the address; the answer is the same
    either way."""
    await limiter.hit(limiter.rules.verify_client, address or "-")
    await limiter.hit(limiter.rules.verify_account, users.normalize_email(body.email))
    origin = origin_of(None, address)
    await email_verifications.resend_link(connection, settings, mailer, body.email, origin)
    return _LINK_ON_ITS_WAY
