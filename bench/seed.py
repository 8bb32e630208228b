"""Database chores the benchmark runs inside a rendered project's own environment.

It uses the project's settings (from the environment: DATABASE_URL, SECRET_KEY), engine,
models and services, so the user is made with the real password hashing and the API key
with the real HMAC. Each command prints one JSON line for the benchmark to read.

    python seed.py recreate SERVER_URL NAME     drop and create database NAME on SERVER_URL
    python seed.py drop SERVER_URL NAME         drop database NAME
    python seed.py seed IDS_FILE CREDENTIAL     create the caller and one item per id
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.core.config import Settings, get_settings
from app.db.engine import create_engine
from app.models.item import Item
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

BENCH_EMAIL = "bench@example.com"
ORIGIN_ACTOR = "bench"


async def recreate(server_url: str, name: str, *, create: bool) -> None:
    """Drop database `name` if it exists (closing its sessions), then create it afresh."""
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    force = " WITH (FORCE)" if engine.dialect.name == "postgresql" else ""
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
            if create:
                await connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await engine.dispose()


async def seed(ids_file: Path, credential: str, password: str) -> dict[str, Any]:
    """The caller (a user, an API key or nobody) and one item per id, newest first."""
    settings = get_settings()
    engine = create_engine(settings)
    facts: dict[str, Any] = {
        "jwt_issuer": getattr(settings, "jwt_issuer", None),
        "jwt_audience": getattr(settings, "jwt_audience", None),
        "refresh_token_days": getattr(settings, "refresh_token_days", None),
        "pool_size": getattr(settings, "database_pool_size", None),
        "hash_threads": getattr(settings, "password_hash_threads", None),
    }
    try:
        async with engine.connect() as connection:
            owner_id = None
            if credential == "user":
                owner_id = await _create_user(connection, password)
                facts["email"] = BENCH_EMAIL
            elif credential == "key":
                facts["api_key"] = await _create_key(connection, settings)
            ids = [uuid.UUID(line) for line in ids_file.read_text().split()]
            await _insert_items(connection, ids, owner_id)
    finally:
        await engine.dispose()
    return facts


# These services exist only in the variants with users or keys: imported where used.


async def _create_user(connection: AsyncConnection, password: str) -> uuid.UUID:
    from app.services import audit, users

    origin = audit.Origin(actor=ORIGIN_ACTOR, client_address=None)
    user = await users.create_user(connection, BENCH_EMAIL, password, origin)
    return uuid.UUID(str(user["id"]))


async def _create_key(connection: AsyncConnection, settings: Settings) -> str:
    from app.services import api_keys, audit

    origin = audit.Origin(actor=ORIGIN_ACTOR, client_address=None)
    scopes = {"items:read", "items:write"}
    created = await api_keys.create_key(connection, settings, "bench", scopes, None, origin)
    return str(created["key"])


async def _insert_items(
    connection: AsyncConnection, ids: list[uuid.UUID], owner_id: uuid.UUID | None
) -> None:
    newest = datetime.now(UTC)
    rows = []
    for number, item_id in enumerate(ids):
        created = newest - timedelta(milliseconds=number)
        row = {
            "id": item_id,
            "title": f"Benchmark item {number}",
            "description": "Seeded by the benchmark; about as long as a real description.",
            "version": 1,
            "created_at": created,
            "updated_at": created,
        }
        if "owner_id" in Item.__table__.c:  # items belong to users where there are users
            row["owner_id"] = owner_id
        rows.append(row)
    await connection.execute(insert(Item), rows)
    if connection.in_transaction():
        await connection.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("recreate", "drop"):
        command = commands.add_parser(name)
        command.add_argument("server_url")
        command.add_argument("name")
    seeding = commands.add_parser("seed")
    seeding.add_argument("ids_file", type=Path)
    seeding.add_argument("credential", choices=["user", "key", "none"])
    args = parser.parse_args()
    if args.command == "seed":
        password = sys.stdin.readline().rstrip("\n")  # not on the command line, where ps shows it
        print(json.dumps(asyncio.run(seed(args.ids_file, args.credential, password))))
    else:
        asyncio.run(recreate(args.server_url, args.name, create=args.command == "recreate"))
        print(json.dumps({"database": args.name}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
