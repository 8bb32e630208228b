"""Request dependencies, as `Annotated` aliases that routers use as parameter types.

The graph stays flat: one connection per request, opened once and shared by everything the
request needs, and closed (rolling back anything unfinished) when the request ends.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.config import Settings


def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with get_engine(request).connect() as connection:
        yield connection


Engine = Annotated[AsyncEngine, Depends(get_engine)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
Connection = Annotated[AsyncConnection, Depends(get_connection)]
