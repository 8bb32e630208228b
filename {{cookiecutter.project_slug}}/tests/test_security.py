"""Every route outside an explicit public list refuses anonymous callers.

A new endpoint that forgets its auth dependency fails `test_every_other_route_needs_credentials`.
"""

import re
import uuid

import pytest
from fastapi.routing import iter_route_contexts
from httpx import AsyncClient

from app.core.auth import CHALLENGE
from app.core.config import Settings
from app.main import create_app
from tests.conftest import Serve

pytestmark = pytest.mark.anyio

# Reachable without credentials, on purpose. Adding to this list is a security decision.
PUBLIC_PATHS = {
    "/health/live",
    "/health/ready",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    "/api/v1/auth/register",
    "/api/v1/auth/token",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
    "/api/v1/auth/verify-email",
    "/api/v1/auth/verify-email/resend",
{%- endif %}
}


def _routes(settings: Settings) -> list[tuple[str, str]]:
    app = create_app(settings)
    return [
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if context.path is not None
        for method in sorted(context.methods or ())
    ]


async def test_every_other_route_needs_credentials(settings: Settings, serve: Serve) -> None:
    routes = _routes(settings)
    protected = [(method, path) for method, path in routes if path not in PUBLIC_PATHS]
    assert len(protected) >= 5
    assert {path for _, path in routes} >= PUBLIC_PATHS, "a public path no longer exists"

    async with serve(create_app(settings), headers={}) as anonymous:
        for method, path in protected:
            url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            response = await anonymous.request(method, url, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == CHALLENGE["WWW-Authenticate"]
            assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "headers",
    [
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "bearer eyJhbGciOiJub25lIn0.e30."},
{%- endif %}
{%- if cookiecutter.auth in ["api_key", "jwt_and_api_key"] %}
        {"X-API-Key": "not-a-key"},
        {"X-API-Key": "sk_000000000000_" + "A" * 43},
        {"X-API-Key": ""},
{%- endif %}
    ],
)
async def test_malformed_credentials_are_401(
    settings: Settings, serve: Serve, headers: dict[str, str]
) -> None:
    async with serve(create_app(settings), headers=headers) as caller:
        response = await caller.get("/api/v1/items")

    assert response.status_code == 401
    assert response.json()["detail"] == "Missing or invalid credentials."
    assert response.headers["www-authenticate"] == CHALLENGE["WWW-Authenticate"]


async def test_insufficient_rights_are_403(client: AsyncClient) -> None:
{%- if cookiecutter.auth == "api_key" %}
    reader_key = {"name": "reader", "scopes": ["items:read"]}
    created = await client.post("/api/v1/api-keys", json=reader_key)
    reader = {"X-API-Key": created.json()["key"]}

    response = await client.post("/api/v1/items", json={"title": "x"}, headers=reader)
{%- else %}
    response = await client.get("/api/v1/audit-events")  # an ordinary user is no administrator
{%- endif %}

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "scope" in response.json()["detail"]


async def test_protected_operations_document_401_and_403(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    protected = [
        operation
        for path, operations in document["paths"].items()
        if path not in PUBLIC_PATHS
        for operation in operations.values()
    ]

    assert protected
    for operation in protected:
        assert operation.get("security"), operation["summary"]
        assert {"401", "403"} <= set(operation["responses"]), operation["summary"]
