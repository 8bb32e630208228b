"""Password reset by email: a link that works once, for a limited time, kept only as a hash.

Asking for a link answers the same, in about the same time, whether or not the address
belongs to an account: the email is written in the request's transaction and sent after it.
A link dies when it is used, when it expires, when another link of the same account is
used, and when the password changes by any other way. A reset ends every session.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core import email
from app.core.config import Settings
from app.core.errors import DomainError
from app.core.passwords import hash_password
from app.db.engine import Database, transaction
from app.models.password_reset import PasswordReset
from app.models.user import User
from app.services import audit, links, users

_ACCOUNT = select(User.id, User.is_active, User.token_version).where(
    User.email == bindparam("email")
)
_INSERT = insert(PasswordReset)
_USABLE = select(PasswordReset.id).where(*links.usable(PasswordReset))
_LOCK = (
    select(PasswordReset.user_id, PasswordReset.token_version)
    .where(*links.usable(PasswordReset))
    .with_for_update()
)
_HOLDER = (
    select(User.is_active, User.token_version)
    .where(User.id == bindparam("user_id"))
    .with_for_update()
)
_USE_ALL = update(PasswordReset).where(
    PasswordReset.user_id == bindparam("owner"), PasswordReset.used_at.is_(None)
)

_INVALID = "The reset link is invalid, expired or already used; ask for a new one."


async def request_reset(
    connection: AsyncConnection,
    settings: Settings,
    mailer: email.Mailer,
    address: str,
    origin: audit.Origin,
) -> None:
    """Email a reset link if an active account has this address; either way, audit it."""
    address = users.normalize_email(address)
    now = datetime.now(UTC)
    async with transaction(connection):
        account = (await connection.execute(_ACCOUNT, {"email": address})).first()
        if account is None or not account.is_active:
            shown = "".join(c if c.isprintable() else "?" for c in address[:50])
            await audit.record(
                connection, "password_reset_unknown", origin, target=f"email:{shown}"
            )
            return
        lifetime = timedelta(minutes=settings.reset_link_minutes)
        token, row = links.new_link(account.id, now, lifetime, token_version=account.token_version)
        await connection.execute(_INSERT, row)
        message = email.write(
            "password_reset",
            to=address,
            subject="Reset your password",
            service=settings.jwt_issuer,
            link=f"{settings.reset_page_url}?token={token}",
            minutes=str(settings.reset_link_minutes),
        )
        await mailer.send(connection, message)
        await audit.record(
            connection, "password_reset_requested", origin, target=f"user:{account.id}"
        )


async def reset_password(
    database: Database, token: str, new_password: str, origin: audit.Origin
) -> None:
    """Set a new password with a reset link's token; every session of the user ends."""
    token_hash = links.digest(token)
    async with database.connect() as connection:
        usable = await connection.scalar(
            _USABLE, {"token_hash": token_hash, "now": datetime.now(UTC)}
        )
    if usable is None:  # refused before paying for a hash
        raise DomainError(_INVALID)
    new_hash = await hash_password(new_password)
    now = datetime.now(UTC)
    async with database.connect() as connection, transaction(connection):
        link = (await connection.execute(_LOCK, {"token_hash": token_hash, "now": now})).first()
        if link is None:  # used meanwhile, by a concurrent request
            raise DomainError(_INVALID)
        holder = (await connection.execute(_HOLDER, {"user_id": link.user_id})).first()
        if holder is None or not holder.is_active or holder.token_version != link.token_version:
            raise DomainError(_INVALID)  # the password changed since, or the user is gone
        await connection.execute(_USE_ALL, {"owner": link.user_id, "used_at": now})
        await users.replace_password(connection, link.user_id, new_hash, now)
        await audit.record(connection, "password_reset", origin, target=f"user:{link.user_id}")
