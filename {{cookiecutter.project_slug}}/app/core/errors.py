"""Domain errors, and the one mapping of every failure to an RFC 9457 problem+json response.

Services raise the `DomainError` subclasses below and never see HTTP. Everything that can go
wrong in a request (validation, routing, domain rules, database conflicts) leaves through the
handlers installed by `install_error_handlers`, so clients parse exactly one error shape.
"""

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from app.core.logging import EpisodeLog, request_id_var

PROBLEM_MEDIA_TYPE = "application/problem+json"

logger = logging.getLogger(__name__)
# Outages come in runs: one line for the first failure, then one every so often with a count.
_outages = EpisodeLog(logger, logging.ERROR)
RETRY_BUSY = "1"
RETRY_OUTAGE = "5"  # seconds a client should wait after "the database is unavailable"


class DomainError(Exception):
    """A broken business rule; `status` says which HTTP status it maps to at the edge."""

    status: ClassVar[int] = HTTPStatus.BAD_REQUEST

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
{%- if cookiecutter.auth != "none" %}


class UnauthorizedError(DomainError):
    """No credentials, or credentials that do not identify an active caller."""

    status = HTTPStatus.UNAUTHORIZED


class ForbiddenError(DomainError):
    """A known caller without the right to do this."""

    status = HTTPStatus.FORBIDDEN
{%- endif %}


class NotFoundError(DomainError):
    status = HTTPStatus.NOT_FOUND


class ConflictError(DomainError):
    status = HTTPStatus.CONFLICT


class PreconditionFailedError(DomainError):
    status = HTTPStatus.PRECONDITION_FAILED
{%- if cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" %}


class GoneError(DomainError):
    """What was asked for existed once and is no longer kept."""

    status = HTTPStatus.GONE
{%- endif %}


class TooManyRequestsError(DomainError):
    """A rate limit's budget is spent; the headers say when it refills."""

    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__(
            "Too many requests; retry after the number of seconds in Retry-After.",
            headers=headers,
        )


class UnavailableError(DomainError):
    status = HTTPStatus.SERVICE_UNAVAILABLE


class BusyError(UnavailableError):
    """Every database connection stayed in use for as long as a request may wait for one.

    The database itself is fine: the service is asked for more than it can serve right now.
    """

    def __init__(self) -> None:
        super().__init__(
            "The service is busy; try again shortly.", headers={"Retry-After": RETRY_BUSY}
        )


def problem_body(status: int, detail: str, **extensions: Any) -> bytes:
    """Serialize a problem document; `title` is the standard phrase of the status."""
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "request_id": request_id_var.get(),
        **extensions,
    }
    return json.dumps(document, ensure_ascii=False).encode()


def problem_response(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    return Response(
        problem_body(status, detail, **extensions),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


# Bounds on what a validation problem repeats back: a body of many or huge unknown keys
# must not turn into a response many times its size.
_MAX_FIELD_PROBLEMS = 20
_MAX_LOC_LENGTH = 64


def _shortened(part: int | str) -> int | str:
    return part[:_MAX_LOC_LENGTH] if isinstance(part, str) else part


def _validation_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and why fields failed, without the rejected values (secrets, size)."""
    return [
        {
            "loc": [_shortened(part) for part in error["loc"]],
            "msg": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()[:_MAX_FIELD_PROBLEMS]
    ]


def _allowed_methods(request: Request) -> str:
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")  # answered as GET by the edge middleware
    return ", ".join(sorted(methods))


async def to_problem(request: Request, exc: Exception) -> Response:
    """The single translation from an exception to the problem document the client sees."""
    if isinstance(exc, PoolTimeoutError):  # a full pool is a busy service, not an outage
        exc = BusyError()
    match exc:
        case DomainError():
            return problem_response(exc.status, exc.detail, headers=exc.headers)
        case HTTPException(status_code=HTTPStatus.METHOD_NOT_ALLOWED):
            # Starlette names only the first route's methods; list every route's on this path.
            headers = {**(exc.headers or {}), "Allow": _allowed_methods(request)}
            return problem_response(exc.status_code, str(exc.detail), headers=headers)
        case HTTPException():
            return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)
        case RequestValidationError():
            return problem_response(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "The request is not valid; `errors` lists each problem.",
                errors=_validation_problems(exc),
            )
        case IntegrityError():
            logger.info("integrity error answered with 409: %s", exc.orig.__class__.__name__)
            return problem_response(
                HTTPStatus.CONFLICT, "The change conflicts with data that already exists."
            )
        case (
            OperationalError()
            | InterfaceError()
            | DBAPIError(connection_invalidated=True)  # a lost connection, in other words
            | ConnectionError()
        ):
            # The driver's own message; SQLAlchemy's would add the statement and its values.
            cause = getattr(exc, "orig", None) or exc
            _outages.record("database unavailable: %s: %s", type(cause).__name__, cause)
            return problem_response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "The database is unavailable; try again shortly.",
                headers={"Retry-After": RETRY_OUTAGE},
            )
        case _:  # only the classes registered below arrive here
            raise exc


def install_error_handlers(app: FastAPI) -> None:
    """Route every expected failure through `to_problem`.

    Unexpected exceptions are answered (500, no internals) by the request middleware, which
    sits outside these handlers and so also sees failures of the other middleware.
    """
    for exc_class in (
        DomainError,
        HTTPException,
        RequestValidationError,
        IntegrityError,
        OperationalError,
        InterfaceError,
        DBAPIError,  # only those that lost their connection are answered here
        PoolTimeoutError,
        ConnectionError,  # some drivers raise the socket's own error when connecting fails
    ):
        app.add_exception_handler(exc_class, to_problem)
