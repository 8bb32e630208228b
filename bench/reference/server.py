"""The reference service: the benchmarked endpoints on bare Starlette, asyncpg, PyJWT and orjson.

It runs the statements the generated service runs on PostgreSQL, word for word, with the
same checks (token claims, token version and sign-in, API-key HMAC, ownership, input limits),
and nothing more: no dependency injection, no ORM, no validation library, no middleware.
Its numbers are the ceiling the generated service is measured against.

Configured by environment variables, all set by the benchmark:

    REFERENCE_DSN          postgresql://... of the seeded database
    REFERENCE_AUTH         jwt (bearer tokens, items owned by users), api_key or none
    SECRET_KEY, JWT_ISSUER, JWT_AUDIENCE, ACCESS_TOKEN_MINUTES, REFRESH_TOKEN_DAYS
    POOL_SIZE, HASH_THREADS

Serve it with `uvicorn server:create_app --factory --app-dir bench/reference`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs

import asyncpg
import jwt
import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Auth = Literal["jwt", "api_key", "none"]

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "exp", "iat", "nbf", "jti", "iss", "aud", "typ", "ver", "fam"]
USER_SCOPES = frozenset({"items:read", "items:write"})
ALL_SCOPES = USER_SCOPES | {"admin"}
MAX_PAGE_SIZE = 100
MAX_OFFSET = 1_000_000
TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000
LAST_USED_PRECISION = timedelta(minutes=1)
ALIVE = b'{"status":"ok"}'

# The generated service's statements, as SQLAlchemy compiles them for asyncpg.
ITEM_COLUMNS = (
    "items.id, items.title, items.description, items.version, items.created_at, items.updated_at"
)
OWNED_ITEM_COLUMNS = (
    "items.id, items.owner_id, items.title, items.description, items.version, "
    "items.created_at, items.updated_at"
)
SELECT_ITEM = "SELECT {columns} \nFROM items \nWHERE items.id = $1::UUID"
SELECT_OWNED_ITEM = SELECT_ITEM + " AND items.owner_id = $2::UUID"
LIST_ITEMS = (
    "SELECT {columns} \nFROM items "
    "ORDER BY items.created_at DESC, items.id DESC \n LIMIT $1 OFFSET $2"
)
LIST_OWNED_ITEMS = (
    "SELECT {columns} \nFROM items \nWHERE items.owner_id = $1::UUID "
    "ORDER BY items.created_at DESC, items.id DESC \n LIMIT $2 OFFSET $3"
)
INSERT_ITEM = (
    "INSERT INTO items (id, title, description, version, created_at, updated_at) VALUES "
    "($1::UUID, $2::VARCHAR, $3::VARCHAR, $4::INTEGER, "
    "$5::TIMESTAMP WITH TIME ZONE, $6::TIMESTAMP WITH TIME ZONE)"
)
INSERT_OWNED_ITEM = (
    "INSERT INTO items (id, owner_id, title, description, version, created_at, updated_at) "
    "VALUES ($1::UUID, $2::UUID, $3::VARCHAR, $4::VARCHAR, $5::INTEGER, "
    "$6::TIMESTAMP WITH TIME ZONE, $7::TIMESTAMP WITH TIME ZONE)"
)
TOKEN_HOLDER = (
    "SELECT users.is_active, users.is_superuser, users.token_version, "
    "refresh_token_families.revoked_at \nFROM users JOIN refresh_token_families "
    "ON refresh_token_families.user_id = users.id \n"
    "WHERE users.id = $1::UUID AND refresh_token_families.id = $2::UUID"
)
SIGN_IN = (
    "SELECT users.id, users.password_hash, users.is_active, users.token_version \n"
    "FROM users \nWHERE users.email = $1::VARCHAR"
)
INSERT_FAMILY = (
    "INSERT INTO refresh_token_families (id, user_id, expires_at, revoked_at, created_at) "
    "VALUES ($1::UUID, $2::UUID, $3::TIMESTAMP WITH TIME ZONE, $4::TIMESTAMP WITH TIME ZONE, "
    "$5::TIMESTAMP WITH TIME ZONE)"
)
INSERT_REFRESH_TOKEN = (
    "INSERT INTO refresh_tokens (id, family_id, user_id, expires_at, used_at, created_at) "
    "VALUES ($1::UUID, $2::UUID, $3::UUID, $4::TIMESTAMP WITH TIME ZONE, "
    "$5::TIMESTAMP WITH TIME ZONE, $6::TIMESTAMP WITH TIME ZONE)"
)
INSERT_AUDIT_EVENT = (
    "INSERT INTO audit_events (id, occurred_at, action, actor, target, client_address, "
    "request_id) VALUES ($1::UUID, $2::TIMESTAMP WITH TIME ZONE, $3::VARCHAR, $4::VARCHAR, "
    "$5::VARCHAR, $6::VARCHAR, $7::VARCHAR)"
)
KEY_BY_PREFIX = (
    "SELECT api_keys.id, api_keys.key_hash, api_keys.scopes, api_keys.expires_at, "
    "api_keys.revoked_at, api_keys.last_used_at \nFROM api_keys \n"
    "WHERE api_keys.prefix = $1::VARCHAR"
)
TOUCH_KEY = (
    "UPDATE api_keys SET last_used_at=$1::TIMESTAMP WITH TIME ZONE WHERE api_keys.id = $2::UUID"
)


@dataclass(frozen=True, slots=True)
class Config:
    dsn: str
    auth: Auth
    secret_key: str
    jwt_issuer: str
    jwt_audience: str
    access_token_minutes: int
    refresh_token_days: int
    pool_size: int
    hash_threads: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Config:
        auth = environ["REFERENCE_AUTH"]
        if auth not in ("jwt", "api_key", "none"):
            raise SystemExit(f"REFERENCE_AUTH={auth!r}: the reference knows jwt, api_key, none")
        return cls(
            dsn=environ["REFERENCE_DSN"],
            auth=auth,  # type: ignore[arg-type]  # checked just above
            secret_key=environ.get("SECRET_KEY", ""),
            jwt_issuer=environ.get("JWT_ISSUER", ""),
            jwt_audience=environ.get("JWT_AUDIENCE", ""),
            access_token_minutes=int(environ.get("ACCESS_TOKEN_MINUTES", "15")),
            refresh_token_days=int(environ.get("REFRESH_TOKEN_DAYS", "14")),
            pool_size=int(environ.get("POOL_SIZE", "20")),
            hash_threads=int(environ.get("HASH_THREADS", "2")),
        )


@dataclass(frozen=True, slots=True)
class Caller:
    scopes: frozenset[str]
    owner_id: uuid.UUID | None  # whose items the caller sees; None: every item


class Refusal(Exception):
    """An answer other than success: a status and what went wrong."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail


def json_response(
    content: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    # asyncpg's UUID type is not uuid.UUID, which orjson knows: str() writes it the same way.
    body = orjson.dumps(content, default=str, option=orjson.OPT_UTC_Z)
    return Response(body, status, headers, media_type="application/json")


def problem(refusal: Refusal) -> Response:
    body = orjson.dumps({"status": refusal.status, "detail": refusal.detail})
    return Response(body, refusal.status, media_type="application/problem+json")


def storable_text(value: object, max_length: int) -> str:
    """The checks the generated service's schemas make on a text field (422 otherwise)."""
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise Refusal(422, f"must be text of at most {max_length} characters without NUL")
    return value


class Reference:
    """The endpoints, over one pool; each request takes one connection for all it runs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.owned = config.auth == "jwt"  # items belong to users only with user accounts
        columns = OWNED_ITEM_COLUMNS if self.owned else ITEM_COLUMNS
        self.select_item = SELECT_ITEM.format(columns=columns)
        self.select_owned_item = SELECT_OWNED_ITEM.format(columns=columns)
        self.list_items = LIST_ITEMS.format(columns=columns)
        self.list_owned_items = LIST_OWNED_ITEMS.format(columns=columns)
        self.hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
        self.dummy_hash = self.hasher.hash("a password nobody has")
        self.hashing = ThreadPoolExecutor(config.hash_threads, "password-hashing")
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the lifespan opens the pool"
        return self._pool

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        # No reset round trip when a connection goes back, as in the generated service.
        self._pool = await asyncpg.create_pool(
            self.config.dsn, min_size=1, max_size=self.config.pool_size, reset=_keep_as_is
        )
        try:
            yield
        finally:
            await self._pool.close()
            self.hashing.shutdown(cancel_futures=True)

    def app(self) -> Starlette:
        routes = [
            Route("/health/live", live, methods=["GET"]),
            Route("/api/v1/items", self.list_or_create, methods=["GET", "POST"]),
            Route("/api/v1/items/{item_id}", self.get_item, methods=["GET"]),
        ]
        if self.config.auth == "jwt":
            routes.append(Route("/api/v1/auth/token", self.sign_in, methods=["POST"]))
        return Starlette(routes=routes, lifespan=self.lifespan)

    # -- authentication --------------------------------------------------------------------

    async def caller(self, connection: asyncpg.Connection, request: Request, scope: str) -> Caller:
        if self.config.auth == "jwt":
            found = await self._token_caller(connection, request.headers.get("authorization"))
        elif self.config.auth == "api_key":
            found = await self._key_caller(connection, request.headers.get("x-api-key"))
        else:
            found = Caller(scopes=ALL_SCOPES, owner_id=None)
        if found is None:
            raise Refusal(401, "Missing or invalid credentials.")
        if scope not in found.scopes:
            raise Refusal(403, f"This needs the {scope!r} scope.")
        return found

    async def _token_caller(
        self, connection: asyncpg.Connection, authorization: str | None
    ) -> Caller | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = jwt.decode(
                token,
                self.config.secret_key,
                algorithms=[ALGORITHM],
                audience=self.config.jwt_audience,
                issuer=self.config.jwt_issuer,
                options={"require": REQUIRED_CLAIMS},
            )
            if claims["typ"] != "access" or type(claims["ver"]) is not int:
                return None
            user_id = uuid.UUID(claims["sub"])
            uuid.UUID(claims["jti"])
            family_id = uuid.UUID(claims["fam"])
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
            return None
        row = await connection.fetchrow(TOKEN_HOLDER, user_id, family_id)
        if (
            row is None
            or not row["is_active"]
            or row["token_version"] != claims["ver"]
            or row["revoked_at"] is not None
        ):
            return None
        if row["is_superuser"]:
            return Caller(scopes=ALL_SCOPES, owner_id=None)
        return Caller(scopes=USER_SCOPES, owner_id=user_id)

    async def _key_caller(
        self, connection: asyncpg.Connection, header: str | None
    ) -> Caller | None:
        key = header or ""
        scheme, _, rest = key.partition("_")
        prefix, _, secret = rest.partition("_")
        if scheme != "sk" or len(prefix) != 12 or not secret:
            return None
        row = await connection.fetchrow(KEY_BY_PREFIX, prefix)
        if row is None:
            return None
        digest = hmac.new(self.config.secret_key.encode(), key.encode(), hashlib.sha256)
        if not hmac.compare_digest(digest.hexdigest(), row["key_hash"]):
            return None
        now = datetime.now(UTC)
        expires_at = row["expires_at"]
        if row["revoked_at"] is not None or (expires_at is not None and expires_at <= now):
            return None
        if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USED_PRECISION:
            await connection.execute(TOUCH_KEY, now, row["id"])
        return Caller(scopes=frozenset(row["scopes"].split()), owner_id=None)

    # -- items -----------------------------------------------------------------------------

    async def get_item(self, request: Request) -> Response:
        try:
            item_id = uuid.UUID(request.path_params["item_id"])
        except ValueError:
            return problem(Refusal(422, "item_id must be a UUID"))
        try:
            async with self.pool.acquire() as connection:
                caller = await self.caller(connection, request, "items:read")
                if caller.owner_id is None:
                    row = await connection.fetchrow(self.select_item, item_id)
                else:
                    row = await connection.fetchrow(
                        self.select_owned_item, item_id, caller.owner_id
                    )
        except Refusal as refusal:
            return problem(refusal)
        if row is None:
            return problem(Refusal(404, "No item with this id."))
        return json_response(dict(row), headers={"ETag": f'"{row["version"]}"'})

    async def list_or_create(self, request: Request) -> Response:
        try:
            if request.method == "POST":
                return await self._create_item(request)
            return await self._list_items(request)
        except Refusal as refusal:
            return problem(refusal)

    async def _list_items(self, request: Request) -> Response:
        limit, offset = _page(request.query_params)
        async with self.pool.acquire() as connection:
            caller = await self.caller(connection, request, "items:read")
            if caller.owner_id is None:
                rows = await connection.fetch(self.list_items, limit + 1, offset)
            else:
                rows = await connection.fetch(
                    self.list_owned_items, caller.owner_id, limit + 1, offset
                )
        has_next = len(rows) > limit and offset + limit <= MAX_OFFSET
        page = {
            "items": [dict(row) for row in rows[:limit]],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if has_next else None,
        }
        return json_response(page)

    async def _create_item(self, request: Request) -> Response:
        title, description = _item_fields(await request.body())
        now = datetime.now(UTC)
        item: dict[str, Any] = {"id": uuid.uuid4()}
        async with self.pool.acquire() as connection:
            caller = await self.caller(connection, request, "items:write")
            if self.owned:
                item["owner_id"] = caller.owner_id
            item |= {
                "title": title,
                "description": description,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            insert = INSERT_OWNED_ITEM if self.owned else INSERT_ITEM
            await connection.execute(insert, *item.values())
        headers = {
            "Location": str(request.url_for("get_item", item_id=str(item["id"]))),
            "ETag": '"1"',
        }
        return json_response(item, 201, headers)

    # -- sign-in ---------------------------------------------------------------------------

    async def sign_in(self, request: Request) -> Response:
        """The OAuth2 password grant: check the password on a thread, then start a sign-in."""
        form = parse_qs((await request.body()).decode(errors="replace"))
        email = form.get("username", [""])[0].strip().lower()
        password = form.get("password", [""])[0]
        if not email or not password or len(email) > 254 or len(password) > 128:
            return problem(Refusal(422, "username and password are required"))
        async with self.pool.acquire() as connection:
            user = await connection.fetchrow(SIGN_IN, email)
        stored = user["password_hash"] if user is not None else None
        loop = asyncio.get_running_loop()
        matches = await loop.run_in_executor(self.hashing, self._verify, password, stored)
        now = datetime.now(UTC)
        if user is None or not matches or not user["is_active"]:
            async with self.pool.acquire() as connection:
                await self._audit(connection, now, "login_failed", None, f"email:{email[:50]}")
            return problem(Refusal(401, "Wrong email or password."))
        user_id, version = user["id"], user["token_version"]
        family_id, refresh_id = uuid.uuid4(), uuid.uuid4()
        refresh_expires = now + timedelta(days=self.config.refresh_token_days)
        access_ttl = timedelta(minutes=self.config.access_token_minutes)
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(INSERT_FAMILY, family_id, user_id, refresh_expires, None, now)
            await connection.execute(
                INSERT_REFRESH_TOKEN, refresh_id, family_id, user_id, refresh_expires, None, now
            )
            actor = f"user:{user_id}"
            await self._audit(connection, now, "login_succeeded", actor, actor)
        pair = {
            "access_token": self._token(
                "access", user_id, version, uuid.uuid4(), now, now + access_ttl, family_id
            ),
            "refresh_token": self._token(
                "refresh", user_id, version, refresh_id, now, refresh_expires, family_id
            ),
            "token_type": "bearer",
            "expires_in": int(access_ttl.total_seconds()),
        }
        return json_response(pair)

    def _verify(self, password: str, stored: str | None) -> bool:
        try:
            self.hasher.verify(stored or self.dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if stored is None:
            return False
        self.hasher.check_needs_rehash(stored)
        return True

    def _token(
        self,
        kind: str,
        user_id: uuid.UUID,
        version: int,
        token_id: uuid.UUID,
        issued_at: datetime,
        expires_at: datetime,
        family_id: uuid.UUID,
    ) -> str:
        claims = {
            "sub": str(user_id),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": expires_at,
            "jti": str(token_id),
            "iss": self.config.jwt_issuer,
            "aud": self.config.jwt_audience,
            "typ": kind,
            "ver": version,
            "fam": str(family_id),
        }
        return jwt.encode(claims, self.config.secret_key, algorithm=ALGORITHM)

    @staticmethod
    async def _audit(
        connection: asyncpg.Connection,
        now: datetime,
        action: str,
        actor: str | None,
        target: str,
    ) -> None:
        await connection.execute(
            INSERT_AUDIT_EVENT, uuid.uuid4(), now, action, actor, target, None, uuid.uuid4().hex
        )


async def live(_: Request) -> Response:
    return Response(ALIVE, media_type="application/json")


async def _keep_as_is(_: asyncpg.Connection) -> None:
    """Pool reset hook: nothing to undo, since no request changes session state."""


def _page(query: Mapping[str, str]) -> tuple[int, int]:
    """`limit` (1-100, default 50) and `offset` (0-1,000,000); other parameters are refused."""
    unknown = set(query) - {"limit", "offset"}
    if unknown:
        raise Refusal(422, f"unknown query parameters: {sorted(unknown)}")
    try:
        limit, offset = int(query.get("limit", "50")), int(query.get("offset", "0"))
    except ValueError:
        raise Refusal(422, "limit and offset must be whole numbers") from None
    if not (1 <= limit <= MAX_PAGE_SIZE and 0 <= offset <= MAX_OFFSET):
        raise Refusal(422, "limit or offset out of range")
    return limit, offset


def _item_fields(body: bytes) -> tuple[str, str | None]:
    """Title and description of a new item, checked as the generated service's schema does."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refusal(422, "the body must be JSON") from None
    if not isinstance(data, dict) or not set(data) <= {"title", "description"}:
        raise Refusal(422, "the body must be an object with title and description only")
    title = storable_text(data.get("title"), TITLE_MAX_LENGTH)
    if not title.strip():
        raise Refusal(422, "title must have a visible character")
    description = data.get("description")
    if description is not None:
        description = storable_text(description, DESCRIPTION_MAX_LENGTH)
    return title, description


def create_app() -> Starlette:
    return Reference(Config.from_environment()).app()
