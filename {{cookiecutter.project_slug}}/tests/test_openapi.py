"""The API document is complete: a new endpoint cannot skip its summary, docs or examples."""

from typing import Any

import pytest
from httpx import AsyncClient

from app.core.config import Settings
from app.main import create_app
from tests.conftest import Serve

pytestmark = pytest.mark.anyio

METHODS = {"get", "post", "put", "patch", "delete"}
DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")


def _has_example(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return bool(schema.get("examples"))


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in METHODS
    ]


@pytest.fixture
async def document(client: AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_every_operation_is_documented(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 7
    for name, operation in operations:
        assert operation.get("summary"), f"{name} has no summary"
        assert operation.get("description"), f"{name} has no description"
        assert operation.get("tags"), f"{name} has no tags"
        schemas = [
            content["schema"]
            for response in operation["responses"].values()
            for content in response.get("content", {}).values()
        ]
        if "requestBody" in operation:
            schemas += [c["schema"] for c in operation["requestBody"]["content"].values()]
        assert any(_has_example(document, schema) for schema in schemas), f"{name}: no example"
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, f"{name} documents no success response"
        for code in success:
            if code != "204":
                assert operation["responses"][code]["content"], f"{name} {code} has no model"


async def test_error_responses_are_documented_as_problems(document: dict[str, Any]) -> None:
    for name, operation in _operations(document):
        for code, response in operation["responses"].items():
            if code[0] in "45":
                assert list(response["content"]) == ["application/problem+json"], (name, code)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "examples" in document["components"]["schemas"]["Problem"]


async def test_patch_documents_title_as_never_null(document: dict[str, Any]) -> None:
    title = document["components"]["schemas"]["ItemUpdate"]["properties"]["title"]
    assert title["type"] == "string"
    assert "anyOf" not in title


async def test_body_errors_are_documented(document: dict[str, Any]) -> None:
    create = document["paths"]["/api/v1/items"]["post"]["responses"]
    assert {"400", "413", "422"} <= set(create)


async def test_validation_errors_are_documented(document: dict[str, Any]) -> None:
    list_items = document["paths"]["/api/v1/items"]["get"]
    assert "422" in list_items["responses"]
    limit = next(p for p in list_items["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)


@pytest.mark.parametrize(
    ("environment", "enabled", "served"),
    [
        ("production", None, False),
        ("production", True, True),
        ("development", None, True),
        ("development", False, False),
    ],
)
async def test_docs_are_off_in_production_unless_enabled(
    settings: Settings, serve: Serve, environment: str, enabled: bool | None, served: bool
) -> None:
    changes: dict[str, Any] = {"environment": environment}
    if enabled is not None:  # unset stays unset, so that the default itself is tested
        changes["docs_enabled"] = enabled
    chosen = settings.model_copy(update=changes)
    async with serve(create_app(chosen)) as http:
        statuses = {(await http.get(path)).status_code for path in DOCS_PATHS}

    assert statuses == ({200} if served else {404})
