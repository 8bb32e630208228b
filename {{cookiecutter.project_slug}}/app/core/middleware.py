"""Pure ASGI middleware: request context and access log, host check, body-size limit, CORS.

Pure ASGI (not `BaseHTTPMiddleware`) keeps each layer to a function call per message, and lets
the body limit stop a streamed upload part-way.
"""

import logging
import re
import time
import uuid
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import problem_body, problem_response
from app.core.logging import request_id_var

access_logger = logging.getLogger("app.access")
error_logger = logging.getLogger("app.error")

_INCOMING_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_DOCS_PATHS = ("/docs", "/redoc")
_SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
# The interactive docs load Swagger UI / ReDoc scripts, so only API responses get this policy.
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


async def _send_problem(send: Send, status: int, detail: str) -> None:
    body = problem_body(status, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Outermost layer: request id, security headers, access log and the last-resort 500.

    An incoming `X-Request-ID` is kept when it is short and plain; otherwise a new one is made.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _INCOMING_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        extra_headers = [*_SECURITY_HEADERS, (b"x-request-id", request_id.encode())]
        if not scope["path"].startswith(_DOCS_PATHS):
            extra_headers.append(_API_CSP)
        if scope.get("scheme") == "https":
            extra_headers.append(_HSTS)

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if response_started:  # too late for a problem document; let the server close
                error_logger.warning(
                    "failed after responding to %s %s", scope["method"], scope["path"]
                )
                raise
            error_logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            await _send_problem(send_with_headers, 500, "An unexpected error occurred.")
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            access_logger.info(
                "%s %s %d %.2fms",
                scope["method"],
                scope["path"],
                status,
                duration_ms,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )
            request_id_var.reset(token)


class TrustedHostMiddleware:
    """Rejects requests whose Host header is not listed, with a problem document.

    The two health probes are exempt: orchestrators call them by pod or container address.
    """

    _EXEMPT = frozenset({"/health/live", "/health/ready"})

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allow_any = "*" in allowed_hosts
        self.allowed = frozenset(host.lower() for host in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.allow_any
            or scope["path"] in self._EXEMPT
            or _host_without_port(Headers(scope=scope).get("host", "")) in self.allowed
        ):
            await self.app(scope, receive, send)
            return
        await _send_problem(send, 400, "The Host header names a host this service does not serve.")


_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[^:\[\]]*)(?::[0-9]{1,5})?")


def _host_without_port(host: str) -> str | None:
    """`example.com:8000` -> `example.com`, `[::1]:8000` -> `[::1]`; None when malformed."""
    match = _HOST.fullmatch(host.lower())
    return match.group(1) if match else None


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, whether declared by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                await _send_problem(send, 400, "Content-Length must be a whole number of bytes.")
                return
            if int(declared) > self.max_bytes:
                await _send_problem(send, 413, self._too_large)
                return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._too_large)
            return message

        await self.app(scope, limited_receive, send)

    @property
    def _too_large(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes."


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, with rejected preflights answered as problem documents."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:  # noqa: PLR2004
            return response
        reason = bytes(response.body).decode()
        return problem_response(response.status_code, f"CORS preflight rejected: {reason}.")
