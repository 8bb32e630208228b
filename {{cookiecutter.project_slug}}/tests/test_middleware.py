"""Request id, security headers, trusted hosts, body-size limit and CORS."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import health
from app.core.config import Settings
from app.core.middleware import EdgeMiddleware
from app.main import create_app
from tests.conftest import Serve

pytestmark = pytest.mark.anyio

ITEMS = "/api/v1/items"


async def test_request_id_is_made_when_missing(client: AsyncClient) -> None:
    response = await client.get("/health/live")

    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    assert request_id.isalnum()


async def test_sane_incoming_request_id_is_echoed(client: AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "abc-123.def_456"})
    assert response.headers["x-request-id"] == "abc-123.def_456"


@pytest.mark.parametrize("incoming", ["", "x" * 129, "has space", "new\\nline", "<script>"])
async def test_unsafe_incoming_request_id_is_replaced(client: AsyncClient, incoming: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": incoming})

    assert response.headers["x-request-id"] != incoming
    assert len(response.headers["x-request-id"]) == 32


async def test_security_headers(client: AsyncClient) -> None:
    api = await client.get(ITEMS)
    docs = await client.get("/docs")

    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert api.headers["referrer-policy"] == "no-referrer"
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "strict-transport-security" not in api.headers
    assert docs.status_code == 200
    assert "content-security-policy" not in docs.headers
    assert docs.headers["x-frame-options"] == "DENY"


async def test_hsts_only_over_https(settings: Settings, serve: Serve) -> None:
    async with serve(create_app(settings), base_url="https://localhost") as https:
        response = await https.get("/health/live")
    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "localhost.evil.example",
        "127.0.0.2:8000",
        "[::1]evil.example",
        "localhost:x",
    ],
)
async def test_untrusted_host_is_rejected(client: AsyncClient, host: str) -> None:
    response = await client.get(ITEMS, headers={"Host": host})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000", "LOCALHOST"])
async def test_trusted_hosts_with_and_without_port(client: AsyncClient, host: str) -> None:
    response = await client.get(ITEMS, headers={"Host": host})
    assert response.status_code == 200


async def test_health_answers_any_host(client: AsyncClient) -> None:
    response = await client.get("/health/live", headers={"Host": "10.0.0.7:8000"})
    assert response.status_code == 200


async def test_no_redirect_echoes_an_untrusted_host(client: AsyncClient) -> None:
    for path in ("/health/live/", f"{ITEMS}/"):
        response = await client.get(path, headers={"Host": "evil.example"})
        assert response.status_code in {400, 404}, path
        assert "location" not in response.headers


class Recording:
    """The outermost layer: keeps every message the server is sent."""

    def __init__(self, app: ASGIApp, sent: list[Message]) -> None:
        self.app = app
        self.sent = sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_and_keep(message: Message) -> None:
            self.sent.append(message)
            await send(message)

        await self.app(scope, receive, send_and_keep)


@pytest.mark.parametrize(
    "path",
    [ITEMS, f"{ITEMS}/00000000-0000-0000-0000-000000000000", "/health/live", "/health/ready"],
)
async def test_head_answers_like_get_without_the_body(
    settings: Settings, serve: Serve, path: str
) -> None:
    sent: list[Message] = []
    app = create_app(settings)
    app.add_middleware(Recording, sent=sent)
    async with serve(app) as http:
        get = await http.get(path)
        sent.clear()
        head = await http.head(path)

    assert head.status_code == get.status_code
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["content-type"] == get.headers["content-type"]
    assert set(head.headers) == set(get.headers)
    bodies = [message["body"] for message in sent if message["type"] == "http.response.body"]
    assert bodies == [b""]


async def test_head_adds_no_operations_to_the_api_document(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    assert all("head" not in operations for operations in document["paths"].values())
    assert document["paths"]["/health/live"].keys() == {"get"}


@pytest.fixture
async def small_body_client(settings: Settings, serve: Serve) -> AsyncIterator[AsyncClient]:
    async with serve(create_app(settings.model_copy(update={"max_body_bytes": 64}))) as http:
        yield http


async def test_declared_oversized_body_is_413(small_body_client: AsyncClient) -> None:
    response = await small_body_client.post(ITEMS, json={"title": "x" * 100})

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert (await small_body_client.get(ITEMS)).json()["items"] == []


async def answered_by_the_edge(scope: Scope, **options: Any) -> list[Message]:
    """What EdgeMiddleware sends for `scope` when neither the app nor the body may be used."""
    sent: list[Message] = []

    async def never_called_app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not run")

    async def receive() -> Message:
        raise AssertionError("the body must not be read")

    async def send(message: Message) -> None:
        sent.append(message)

    await EdgeMiddleware(never_called_app, **options)(scope, receive, send)
    return sent


async def test_declared_oversized_body_is_refused_before_reading_it() -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/items",
        "headers": [(b"content-length", b"65")],
    }
    sent = await answered_by_the_edge(
        scope, allowed_hosts=["*"], max_body_bytes=64, constant_answers={}
    )

    assert sent[0]["status"] == 413


async def test_the_liveness_probe_is_answered_at_the_edge(client: AsyncClient) -> None:
    """The app behind the edge never sees a liveness probe, and its answer is the one the
    OpenAPI document describes."""
    sent = await answered_by_the_edge(
        {"type": "http", "method": "GET", "path": "/health/live", "headers": []},
        allowed_hosts=["example.com"],
        max_body_bytes=64,
        constant_answers={"/health/live": health.ALIVE},
    )

    headers = dict(sent[0]["headers"])
    assert sent[0]["status"] == 200
    assert headers[b"content-type"] == b"application/json"
    assert len(headers[b"x-request-id"]) == 32
    assert sent[1]["body"] == (await client.get("/health/live")).content == b'{"status":"ok"}'


async def test_streamed_oversized_body_is_413(small_body_client: AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        yield b"x" * 100
        yield b'"}'

    response = await small_body_client.post(
        ITEMS, content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["status"] == 413


async def test_body_within_limit_is_accepted(small_body_client: AsyncClient) -> None:
    response = await small_body_client.post(ITEMS, json={"title": "short"})
    assert response.status_code == 201


async def test_malformed_content_length_is_400(client: AsyncClient) -> None:
    response = await client.post(
        ITEMS, content=b"{}", headers={"content-length": "abc", "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["status"] == 400


@pytest.fixture
async def cors_client(settings: Settings, serve: Serve) -> AsyncIterator[AsyncClient]:
    allowed = settings.model_copy(update={"cors_origins": ["https://app.example"]})
    async with serve(create_app(allowed)) as http:
        yield http


async def test_cors_allows_configured_origin(cors_client: AsyncClient) -> None:
    response = await cors_client.get(ITEMS, headers={"Origin": "https://app.example"})

    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "ETag" in response.headers["access-control-expose-headers"]


async def test_cors_preflight(cors_client: AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "PATCH"}
    allowed = await cors_client.options(
        ITEMS, headers={"Origin": "https://app.example", **preflight}
    )
    refused = await cors_client.options(
        ITEMS, headers={"Origin": "https://evil.example", **preflight}
    )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert "origin" in refused.json()["detail"]


async def test_no_cors_headers_without_configured_origins(client: AsyncClient) -> None:
    response = await client.get(ITEMS, headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers
