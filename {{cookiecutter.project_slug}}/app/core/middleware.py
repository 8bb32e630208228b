"""Pure ASGI middleware: the edge of every request (id, host check, body-size limit, headers,
access log) and CORS.

Pure ASGI (not `BaseHTTPMiddleware`) keeps each layer to a function call per message, and lets
the body limit stop a streamed upload part-way.
"""

import logging
import os
import re
import time
from collections.abc import Mapping, Sequence

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import problem_body, problem_response
from app.core.logging import request_id_var

access_logger = logging.getLogger("app.access")
error_logger = logging.getLogger("app.error")

_INCOMING_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_READ_HEADERS = frozenset({b"host", b"x-request-id", b"content-length", b"transfer-encoding"})
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


def _without_body(send: Send) -> Send:
    """`send` for a HEAD request: the status and headers of the GET answer, not its body."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return send_head


async def _send_json(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class EdgeMiddleware:
    """The outermost layer, in one pass over the request headers: request id, host check,
    body-size limit, security headers, access log and the last-resort 500.

    One layer instead of one per concern: every layer is a call and a closure per message
    on every request. An incoming `X-Request-ID` is kept when it is short and plain;
    otherwise a new one is made. The health probes skip the host check: orchestrators call
    them by pod or container address. Bodies over `max_body_bytes` get 413, whether their
    size is declared by Content-Length or found while they stream in.
    """

    _HOST_EXEMPT = frozenset({"/health/live", "/health/ready"})

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Sequence[str],
        max_body_bytes: int,
        constant_answers: Mapping[str, bytes],
    ) -> None:
        self.app = app
        self.allow_any_host = "*" in allowed_hosts
        self.allowed_hosts = frozenset(host.lower() for host in allowed_hosts)
        self.max_body_bytes = max_body_bytes
        # JSON bodies of GET routes that never change (the liveness probe): sent from here,
        # without routing, since orchestrators ask every few seconds.
        self.constant_answers = constant_answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        wanted = {name: value for name, value in scope["headers"] if name in _READ_HEADERS}
        incoming_id = wanted.get(b"x-request-id", b"")
        request_id = (
            incoming_id.decode()
            if _INCOMING_REQUEST_ID.fullmatch(incoming_id)
            else os.urandom(16).hex()
        )
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        method = scope["method"]
        if method == "HEAD":  # answered as GET without the body (RFC 9110, 9.3.2)
            scope = {**scope, "method": "GET"}
            send = _without_body(send)
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
            refusal = self._refusal(
                scope["path"], wanted.get(b"host", b""), wanted.get(b"content-length")
            )
            if refusal is not None:
                await _send_problem(send_with_headers, *refusal)
            elif scope["method"] == "GET" and scope["path"] in self.constant_answers:
                await _send_json(send_with_headers, self.constant_answers[scope["path"]])
            elif b"transfer-encoding" in wanted:
                await self.app(scope, self._limited(receive), send_with_headers)
            else:  # the server delivers no more than Content-Length bytes
                await self.app(scope, receive, send_with_headers)
        except Exception:
            if response_started:  # too late for a problem document; let the server close
                error_logger.warning("failed after responding to %s %s", method, scope["path"])
                raise
            error_logger.exception("unhandled error on %s %s", method, scope["path"])
            await _send_problem(send_with_headers, 500, "An unexpected error occurred.")
        finally:
            if access_logger.isEnabledFor(logging.INFO):  # production often drops these
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                access_logger.info(
                    "%s %s %d %.2fms",
                    method,
                    scope["path"],
                    status,
                    duration_ms,
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": duration_ms,
                    },
                )
            request_id_var.reset(token)

    def _refusal(
        self, path: str, host: bytes, declared_length: bytes | None
    ) -> tuple[int, str] | None:
        """Why the request is refused before the app sees it, if it is."""
        if not (
            self.allow_any_host
            or path in self._HOST_EXEMPT
            or _host_without_port(host.decode("latin-1")) in self.allowed_hosts
        ):
            return 400, "The Host header names a host this service does not serve."
        if declared_length is not None:
            if not declared_length.isdigit():
                return 400, "Content-Length must be a whole number of bytes."
            if int(declared_length) > self.max_body_bytes:
                return 413, self._too_large
        return None

    def _limited(self, receive: Receive) -> Receive:
        """`receive`, failing with 413 once the streamed body passes the limit."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, self._too_large)
            return message

        return limited_receive

    @property
    def _too_large(self) -> str:
        return f"The request body is larger than {self.max_body_bytes} bytes."


_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[^:\[\]]*)(?::[0-9]{1,5})?")


def _host_without_port(host: str) -> str | None:
    """`example.com:8000` -> `example.com`, `[::1]:8000` -> `[::1]`; None when malformed."""
    match = _HOST.fullmatch(host.lower())
    return match.group(1) if match else None


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, with rejected preflights answered as problem documents."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:  # noqa: PLR2004
            return response
        reason = bytes(response.body).decode()
        return problem_response(response.status_code, f"CORS preflight rejected: {reason}.")
