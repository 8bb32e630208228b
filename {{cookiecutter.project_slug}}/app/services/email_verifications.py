"""Email verification: a link sent to an address proves the owner of the account reads it.

New accounts get one at sign-up, and anyone can ask for a new one for an address (the answer
is the same whether or not an unverified account has it). With `REQUIRE_VERIFIED_EMAIL`
unverified accounts cannot sign in. A change of address is asked for with the current
password and takes effect only when the link sent to the new address is followed. Links
work once, for a limited time, and only while the account still has the address they were
sent for; only a hash of each token is kept.
"""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core import email
from app.core.config import Settings
from app.core.errors import ConflictError, DomainError
from app.db.engine import Database, transaction
from app.models.email_verification import EmailVerification
from app.models.user import User
from app.services import audit, links, users

_INSERT = insert(EmailVerification)
_UNVERIFIED = select(User.id).where(
    User.email == bindparam("email"),
    User.is_active.is_(True),
    User.email_verified_at.is_(None),
)
_ADDRESS = select(User.email).where(User.id == bindparam("user_id"))
_OWNER = select(User.id).where(User.email == bindparam("email"))
_LOCK = (
    select(EmailVerification.user_id, EmailVerification.email, EmailVerification.replaces)
    .where(*links.usable(EmailVerification))
    .with_for_update()
)
_HOLDER = _ADDRESS.with_for_update()
_USE_ALL = update(EmailVerification).where(
    EmailVerification.user_id == bindparam("owner"), EmailVerification.used_at.is_(None)
)
_MARK_VERIFIED = (
    update(User)
    .where(User.id == bindparam("user_id"), User.email_verified_at.is_(None))
    .values(email_verified_at=bindparam("now"))
)
_MOVE = (
    update(User)
    .where(User.id == bindparam("user_id"))
    .values(
        email=bindparam("new_email"),
        email_verified_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
)

_INVALID = "The verification link is invalid, expired or already used; ask for a new one."
_SAME = "This is already your email address."
_TAKEN = "A user with this email already exists."


async def send_link(
    connection: AsyncConnection,
    settings: Settings,
    mailer: email.Mailer,
    user_id: uuid.UUID,
    address: str,
    origin: audit.Origin,
    *,
    replaces: str | None = None,
) -> None:
    """Email a link that verifies `address` to it, in one transaction with its record; with
    `replaces`, following it moves the account from that address to this one."""
    lifetime = timedelta(hours=settings.verify_link_hours)
    token, row = links.new_link(
        user_id, datetime.now(UTC), lifetime, email=address, replaces=replaces
    )
    async with transaction(connection):
        await connection.execute(_INSERT, row)
        message = email.write(
            "verify_email",
            to=address,
            subject="Confirm your email address",
            service=settings.jwt_issuer,
            email=address,
            link=f"{settings.verify_page_url}?token={token}",
            hours=str(settings.verify_link_hours),
        )
        await mailer.send(connection, message)
        action = "email_verification_sent" if replaces is None else "email_change_requested"
        await audit.record(connection, action, origin, target=f"user:{user_id}")


async def resend_link(
    connection: AsyncConnection,
    settings: Settings,
    mailer: email.Mailer,
    address: str,
    origin: audit.Origin,
) -> None:
    """Send a new link if an active, unverified account has the address; else nothing."""
    address = users.normalize_email(address)
    user_id = await connection.scalar(_UNVERIFIED, {"email": address})
    if user_id is not None:
        await send_link(connection, settings, mailer, user_id, address, origin)


async def request_change(
    database: Database,
    settings: Settings,
    mailer: email.Mailer,
    user_id: uuid.UUID,
    current_password: str,
    new_address: str,
    origin: audit.Origin,
) -> None:
    """Check the password, then email the new address a link that makes the change."""
    await users.confirm_password(database, user_id, current_password)
    new_address = users.normalize_email(new_address)
    async with database.connect() as connection:
        current = await connection.scalar(_ADDRESS, {"user_id": user_id})
        if current == new_address:
            raise DomainError(_SAME)
        if await connection.scalar(_OWNER, {"email": new_address}) is not None:
            raise ConflictError(_TAKEN)
        await send_link(
            connection, settings, mailer, user_id, new_address, origin, replaces=current
        )


async def verify(connection: AsyncConnection, token: str, origin: audit.Origin) -> None:
    """Follow a link: mark its address verified, or move the account to it."""
    now = datetime.now(UTC)
    try:
        async with transaction(connection):
            link = (
                await connection.execute(_LOCK, {"token_hash": links.digest(token), "now": now})
            ).first()
            if link is None:
                raise DomainError(_INVALID)
            current = await connection.scalar(_HOLDER, {"user_id": link.user_id})
            if current is None or current != (link.replaces or link.email):
                raise DomainError(_INVALID)  # the address changed since, or the user is gone
            await connection.execute(_USE_ALL, {"owner": link.user_id, "used_at": now})
            if link.replaces is None:
                await connection.execute(_MARK_VERIFIED, {"user_id": link.user_id, "now": now})
                action = "email_verified"
            else:
                await connection.execute(
                    _MOVE, {"user_id": link.user_id, "new_email": link.email, "now": now}
                )
{%- if cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" %}
                await users.announce(connection, "user.updated", link.user_id)
{%- endif %}
                action = "user_email_changed"
            await audit.record(connection, action, origin, target=f"user:{link.user_id}")
    except IntegrityError:  # another account took the address since the link was sent
        raise ConflictError(_TAKEN) from None
