"""Liveness and readiness probes."""

import pytest
from httpx import AsyncClient
from pydantic import SecretStr

from app.core.config import Settings
from app.main import create_app
from tests.conftest import Serve

pytestmark = pytest.mark.anyio

{%- if cookiecutter.database == "sqlite" %}
UNREACHABLE_DATABASE = "sqlite+aiosqlite:////nonexistent-directory/unreachable.db"
{%- elif cookiecutter.database == "postgresql" %}
UNREACHABLE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/unreachable"
{%- else %}
UNREACHABLE_DATABASE = "mysql+asyncmy://root@127.0.0.1:1/unreachable"
{%- endif %}


async def test_live(client: AsyncClient) -> None:
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_the_database_answers(client: AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
{%- if cookiecutter.cache == "redis" %}
    assert response.json() == {"status": "ok", "cache": "ok"}
{%- else %}
    assert response.json() == {"status": "ok"}
{%- endif %}


async def test_not_ready_without_a_database(settings: Settings, serve: Serve) -> None:
    broken = settings.model_copy(
        update={"database_url": SecretStr(UNREACHABLE_DATABASE), "health_timeout": 1.0}
    )
    async with serve(create_app(broken)) as http:
        ready = await http.get("/health/ready")
        live = await http.get("/health/live")
        items = await http.get("/api/v1/items")

    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["detail"] == "The database did not answer in time."
    assert ready.headers["retry-after"] == "5"
    assert live.status_code == 200
    assert items.status_code == 503
    assert items.headers["retry-after"] == "5"
