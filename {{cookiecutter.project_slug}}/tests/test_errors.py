"""Every failure leaves as application/problem+json with the request id, never a traceback."""

import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
from app.api.deps import CurrentPrincipal
{% endif -%}
from app.core.config import Settings
from app.core.deps import Connection
from app.core.errors import ConflictError
from app.db.engine import transaction
from app.main import create_app
from app.models import Item
from app.schemas.item import ItemCreate
from app.services import items
from tests.conftest import Serve

pytestmark = pytest.mark.anyio

PROBLEM_KEYS = {"type", "title", "status", "detail", "request_id"}


def assert_problem(response_json: dict[str, object], status: int) -> None:
    assert set(response_json) >= PROBLEM_KEYS
    assert response_json["status"] == status
    assert response_json["type"] == "about:blank"


async def test_unknown_route_is_a_404_problem(client: AsyncClient) -> None:
    response = await client.get("/nope", headers={"X-Request-ID": "trace-me"})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert_problem(response.json(), 404)
    assert response.json()["request_id"] == "trace-me"


async def test_wrong_method_is_a_405_problem_with_allow(client: AsyncClient) -> None:
    response = await client.put("/api/v1/items")

    assert response.status_code == 405
    assert_problem(response.json(), 405)
    assert response.headers["allow"] == "GET, HEAD, POST"


async def test_every_method_of_the_path_is_allowed(client: AsyncClient) -> None:
    response = await client.post(f"/api/v1/items/{uuid.uuid4()}")

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH"


async def test_body_that_is_not_utf8_is_a_400_problem(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/items", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert_problem(response.json(), 400)


async def test_validation_problem_lists_fields_without_echoing_input(client: AsyncClient) -> None:
    secret = "s3cr3t-" + "x" * 300
    response = await client.post("/api/v1/items", json={"title": secret})

    body = response.json()
    assert_problem(body, 422)
    assert body["errors"][0]["loc"] == ["body", "title"]
    assert body["errors"][0]["type"].endswith("too_long")
    assert secret not in response.text


@pytest.fixture
async def failing_client(settings: Settings, serve: Serve) -> AsyncIterator[AsyncClient]:
    """The real app plus routes that fail in the ways a real endpoint can."""
    app: FastAPI = create_app(settings)

    @app.get("/test/crash")
    async def crash() -> None:
        raise RuntimeError("internal detail: password=hunter2")

    @app.get("/test/duplicate")
    async def duplicate() -> None:
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key"))

    @app.post("/test/half-write")
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    async def half_write(connection: Connection, principal: CurrentPrincipal) -> None:
        async with transaction(connection):
            item = ItemCreate(title="never stored")
            await items.create_item(connection, item, principal.user_id)
{%- else %}
    async def half_write(connection: Connection) -> None:
        async with transaction(connection):
            await items.create_item(connection, ItemCreate(title="never stored"))
{%- endif %}
            raise ConflictError("second statement broke a rule")

    async with serve(app) as http:
        yield http


async def test_unexpected_error_is_a_bare_500_problem(failing_client: AsyncClient) -> None:
    response = await failing_client.get("/test/crash")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert_problem(response.json(), 500)
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"] == response.json()["request_id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_integrity_error_is_a_409_problem(failing_client: AsyncClient) -> None:
    response = await failing_client.get("/test/duplicate")

    assert response.status_code == 409
    assert_problem(response.json(), 409)
    assert "duplicate key" not in response.text


async def test_failed_request_rolls_its_transaction_back(
    failing_client: AsyncClient, clean_tables: AsyncEngine
) -> None:
    response = await failing_client.post("/test/half-write")

    assert response.status_code == 409
    async with clean_tables.connect() as connection:
        titles = (await connection.execute(select(Item.title))).scalars().all()
    assert titles == []


async def test_request_id_is_unique_per_request(client: AsyncClient) -> None:
    ids = {
        (await client.get(f"/api/v1/items/{uuid.uuid4()}")).json()["request_id"] for _ in range(3)
    }
    assert len(ids) == 3
