"""Password hashing: argon2id for new hashes; older bcrypt hashes still verify and get upgraded.

Hashing is slow on purpose, so it runs in a worker thread and never blocks the event loop.
"""

import asyncio
from functools import lru_cache

from passlib.context import CryptContext

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128

# OWASP's recommended argon2id settings: 19 MiB of memory, 2 passes, 1 lane.
_context = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated="auto",
    argon2__memory_cost=19_456,
    argon2__time_cost=2,
    argon2__parallelism=1,
)


async def hash_password(password: str) -> str:
    return str(await asyncio.to_thread(_context.hash, password))


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Whether `password` matches, and a new hash to store when the old one is outdated.

    Without a hash (unknown user) a dummy hash is checked, so a login for an unknown email
    takes as long as one with a wrong password.
    """
    return await asyncio.to_thread(_verify, password, password_hash)


def _verify(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    if password_hash is None:
        _context.verify(password, _dummy_hash())
        return False, None
    try:
        matches, new_hash = _context.verify_and_update(password, password_hash)
    except ValueError:  # an unreadable hash, or bcrypt refusing more than 72 bytes
        return False, None
    return bool(matches), new_hash


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return str(_context.hash("a password nobody has"))
