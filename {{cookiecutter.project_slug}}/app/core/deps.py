"""Request dependencies, as `Annotated` aliases that routers use as parameter types.

The graph stays flat and every dependency is a coroutine (a plain function would be run
on a worker thread, a costly detour for a lookup). A request uses one connection, taken
when its first dependency needs it and given back as soon as the endpoint returns, before
the response is serialized and sent.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.config import Settings
from app.db import engine as db


async def get_database(request: Request) -> db.Database:
    database: db.Database = request.state.database
    return database


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    database: db.Database = request.state.database
    async with database.connect() as connection:
        yield connection


Database = Annotated[db.Database, Depends(get_database)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
Connection = Annotated[AsyncConnection, Depends(get_connection, scope="function")]
