"""Password hashing: argon2id for new hashes; older bcrypt hashes still verify and get upgraded.

Hashing is slow on purpose, so it runs on a few worker threads of its own and never blocks
the event loop. Those threads are bounded, and so is the queue in front of them: a flood of
sign-ins is told to come back shortly (503 with `Retry-After`) instead of piling up, and it
never holds database connections, so ordinary requests keep being served. Past that point
`ShedPasswordChecks` refuses such requests at the door, before any parsing.
"""

import asyncio
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

from passlib.context import CryptContext
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import PROBLEM_MEDIA_TYPE, UnavailableError, problem_body

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
T = TypeVar("T")
_BUSY = "Too many password checks at once; try again in a moment."
_RETRY_AFTER = "1"


def _lower_thread_priority() -> None:
    """On Linux each thread has its own nice value: let requests go before hashing."""
    if sys.platform == "linux":
        os.nice(10)


class PasswordHasher:
    """Runs hashing on `threads` threads with at most `backlog` calls waiting for one."""

    def __init__(self, threads: int, backlog: int) -> None:
        self._threads = threads
        self._capacity = threads + backlog
        self._admitted = 0
        self._executor: ThreadPoolExecutor | None = None

    @property
    def has_room(self) -> bool:
        return self._admitted < self._capacity

    def ensure_room(self) -> None:
        """Refuse (503) when every thread is busy and the backlog is full."""
        if not self.has_room:
            raise UnavailableError(_BUSY, headers={"Retry-After": _RETRY_AFTER})

    async def run(self, function: Callable[..., T], *args: object) -> T:
        self.ensure_room()
        if self._executor is None:  # threads start on first use, never at import
            self._executor = ThreadPoolExecutor(
                self._threads, "password-hashing", initializer=_lower_thread_priority
            )
        self._admitted += 1
        work = asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        work.add_done_callback(self._release)
        # A caller that gives up (a dropped connection) leaves the thread busy: its place
        # is given back only when the work is done, not when the caller leaves.
        return await asyncio.shield(work)

    def _release(self, _: object) -> None:
        self._admitted -= 1

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class ShedPasswordChecks:
    """ASGI middleware: when no password check could start, a POST to an endpoint that
    checks one is refused (503, `Retry-After`) before the framework reads its body.

    A flood of sign-ins then costs a lookup per request instead of routing and form parsing,
    and the other requests keep their share of the event loop.
    """

    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in self.paths
            and not _hasher.has_room
        ):
            body = problem_body(503, _BUSY)
            headers = [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", _RETRY_AFTER.encode()),
            ]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


# Sized from settings by the application's lifespan (`configure_hashing`).
_hasher = PasswordHasher(threads=2, backlog=32)


def configure_hashing(threads: int, backlog: int) -> PasswordHasher:
    """Replace the process's hasher; the lifespan calls this with the settings' sizes."""
    global _hasher  # noqa: PLW0603 - one hasher per process, sized once at startup
    _hasher.shutdown()
    _hasher = PasswordHasher(threads, backlog)
    return _hasher


def ensure_room() -> None:
    """Refuse a password check at once, before any other work, when it would be refused
    later anyway: a flood of sign-ins then costs no database work at all."""
    _hasher.ensure_room()


async def hash_password(password: str) -> str:
    return str(await _hasher.run(_context.hash, password))


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Whether `password` matches, and a new hash to store when the old one is outdated.

    Without a hash (unknown user) a dummy hash is checked, so a login for an unknown email
    takes as long as one with a wrong password.
    """
    return await _hasher.run(_verify, password, password_hash)


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
