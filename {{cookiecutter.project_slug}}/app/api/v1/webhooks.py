{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
{%- set audited = cookiecutter.auth != "none" -%}
"""Webhooks: register the URLs events are sent to, test them, and see how deliveries went.

{%- if cookiecutter.auth == "jwt" %}
Each user manages their own endpoints, which hear only that user's events.
{%- elif cookiecutter.auth == "jwt_and_api_key" %}
Each user manages their own endpoints, which hear only that user's events: signed in, or
with one of their keys that holds the `admin` scope (an endpoint hears every event of its
owner, more than a narrower key may read).
{%- elif cookiecutter.auth == "api_key" %}
The service's endpoints, managed with keys that hold the `admin` scope.
{%- else %}
The service's endpoints, open like the rest of this API: run it behind a gateway.
{%- endif %}
`RECEIVERS` documents what a receiver gets, one OpenAPI webhook per event type.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

{% if cookiecutter.auth == "jwt_and_api_key" -%}
from fastapi import APIRouter, Depends, Query, status
{%- else -%}
from fastapi import APIRouter, Query, status
{%- endif %}
from pydantic import BaseModel

{% if cookiecutter.auth == "jwt_and_api_key" -%}
from app.api.deps import ClientAddress, CurrentPrincipal, origin_of
from app.core.auth import Principal
{% elif cookiecutter.auth == "jwt" -%}
from app.api.deps import ClientAddress, CurrentPrincipal, origin_of
{% elif cookiecutter.auth == "api_key" -%}
from app.api.deps import Admin, ClientAddress, origin_of
{% endif -%}
from app.core.deps import Connection
{%- if cookiecutter.auth == "jwt_and_api_key" %}
from app.core.errors import ForbiddenError
{%- endif %}
from app.schemas.common import PageQuery
from app.schemas.webhook import (
    DELIVERED,
    AttemptList,
    AttemptQuery,
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookRead,
    WebhookTest,
    WebhookUpdate,
    types_of,
)
from app.services import webhooks

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
{%- if cookiecutter.auth == "jwt_and_api_key" %}


async def endpoint_manager(principal: CurrentPrincipal) -> Principal:
    """A signed-in user, or a key of theirs with the admin scope."""
    if principal.credential == "api_key" and not principal.is_admin:
        raise ForbiddenError("Manage webhooks while signed in, or with an admin key.")
    return principal


Manager = Annotated[Principal, Depends(endpoint_manager)]
{%- elif cookiecutter.auth == "jwt" %}
Manager = CurrentPrincipal
{%- elif cookiecutter.auth == "api_key" %}
Manager = Admin
{%- endif %}
_MISSING: dict[int | str, dict[str, Any]] = {
    404: {"description": "No webhook endpoint{% if jwt %} of yours{% endif %} with this id."}
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    summary="Register a webhook endpoint",
    responses={409: {"description": "You have as many endpoints as allowed."}},
)
async def create_endpoint(
    body: WebhookCreate,
{%- if audited %}
    principal: Manager,
{%- endif %}
    connection: Connection,
{%- if audited %}
    address: ClientAddress,
{%- endif %}
) -> dict[str, Any]:
    """Send the events of `event_types` to `url`, signed per Standard Webhooks. The response
    carries the signing `secret`: store it now, it is never shown again."""
    return await webhooks.create_endpoint(
        connection,
        body.url,
        body.event_types,
        body.description,
{%- if audited %}
        origin_of(principal, address),
{%- endif %}
{%- if jwt %}
        principal.user_id,
{%- endif %}
    )


@router.get("", response_model=WebhookPage, summary="List webhook endpoints")
async def list_endpoints(
    query: Annotated[PageQuery, Query()],
{%- if jwt %}
    principal: Manager,
{%- elif audited %}
    _: Manager,
{%- endif %}
    connection: Connection,
) -> dict[str, Any]:
    """{% if jwt %}Your{% else %}The{% endif %} endpoints, oldest first; never their secrets."""
{%- if jwt %}
    page, next_offset = await webhooks.list_endpoints(
        connection, principal.user_id, query.limit, query.offset
    )
{%- else %}
    page, next_offset = await webhooks.list_endpoints(connection, query.limit, query.offset)
{%- endif %}
    return {"items": page, "limit": query.limit, "offset": query.offset, "next_offset": next_offset}


@router.get(
    "/{endpoint_id}",
    response_model=WebhookRead,
    summary="Read a webhook endpoint",
    responses=_MISSING,
)
async def read_endpoint(
    endpoint_id: uuid.UUID,
{%- if jwt %}
    principal: Manager,
{%- elif audited %}
    _: Manager,
{%- endif %}
    connection: Connection,
) -> dict[str, Any]:
    """One endpoint, with why it was disabled if the service disabled it."""
{%- if jwt %}
    return await webhooks.get_endpoint(connection, endpoint_id, principal.user_id)
{%- else %}
    return await webhooks.get_endpoint(connection, endpoint_id)
{%- endif %}


@router.patch(
    "/{endpoint_id}",
    response_model=WebhookRead,
    summary="Change a webhook endpoint",
    responses=_MISSING,
)
async def update_endpoint(
    endpoint_id: uuid.UUID,
    body: WebhookUpdate,
{%- if audited %}
    principal: Manager,
{%- endif %}
    connection: Connection,
{%- if audited %}
    address: ClientAddress,
{%- endif %}
) -> dict[str, Any]:
    """Change the URL, the event types or the description, or disable or enable it.
    Enabling clears the count of failed deliveries."""
    return await webhooks.update_endpoint(
        connection,
        endpoint_id,
        body.model_dump(exclude_unset=True),
{%- if audited %}
        origin_of(principal, address),
{%- endif %}
{%- if jwt %}
        principal.user_id,
{%- endif %}
    )


@router.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook endpoint",
    responses=_MISSING,
)
async def delete_endpoint(
    endpoint_id: uuid.UUID,
{%- if audited %}
    principal: Manager,
{%- endif %}
    connection: Connection,
{%- if audited %}
    address: ClientAddress,
{%- endif %}
) -> None:
    """Delete an endpoint and the record of its deliveries; nothing more is sent to it."""
{%- if jwt %}
    await webhooks.delete_endpoint(
        connection, endpoint_id, origin_of(principal, address), principal.user_id
    )
{%- elif audited %}
    await webhooks.delete_endpoint(connection, endpoint_id, origin_of(principal, address))
{%- else %}
    await webhooks.delete_endpoint(connection, endpoint_id)
{%- endif %}


@router.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WebhookTest,
    summary="Send a test event",
    responses=_MISSING,
)
async def send_test_event(
    endpoint_id: uuid.UUID,
{%- if jwt %}
    principal: Manager,
{%- elif audited %}
    _: Manager,
{%- endif %}
    connection: Connection,
) -> dict[str, Any]:
    """Send a `webhook.test` event to this endpoint only, the way every event is sent
    (signed, retried); the response is that event. See how it went under `deliveries`."""
{%- if jwt %}
    return await webhooks.send_test(connection, endpoint_id, principal.user_id)
{%- else %}
    return await webhooks.send_test(connection, endpoint_id)
{%- endif %}


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=AttemptList,
    summary="List recent delivery attempts",
    responses=_MISSING,
)
async def list_attempts(
    endpoint_id: uuid.UUID,
    query: Annotated[AttemptQuery, Query()],
{%- if jwt %}
    principal: Manager,
{%- elif audited %}
    _: Manager,
{%- endif %}
    connection: Connection,
) -> dict[str, Any]:
    """The latest attempts at delivering to this endpoint, newest first: the answer's
    status and start, how long it took, or what went wrong."""
{%- if jwt %}
    attempts = await webhooks.list_attempts(connection, endpoint_id, principal.user_id, query.limit)
{%- else %}
    attempts = await webhooks.list_attempts(connection, endpoint_id, query.limit)
{%- endif %}
    return {"items": attempts}


_RECEIVED = {
    "description": "Any 2xx: received. Anything else, a timeout or a redirect: sent again later."
}
_HEADERS = (
    "Sent as a POST with the headers `webhook-id` (the event's id, the same on every attempt), "
    "`webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` and the base64 "
    "HMAC-SHA256 of `id.timestamp.body` with the endpoint's secret), per Standard Webhooks."
)


def _receiver(schema: type[BaseModel]) -> Callable[[BaseModel], Awaitable[None]]:
    """An operation whose body is `schema`, for the document; it never runs."""

    async def receive(event: BaseModel) -> None:
        del event

    receive.__annotations__["event"] = schema
    return receive


def _receivers() -> APIRouter:
    """What receivers get, for the OpenAPI document's `webhooks`: one operation per type."""
    receivers = APIRouter()
    for schema in DELIVERED:
        for kind in types_of(schema):
            receivers.add_api_route(
                kind,
                _receiver(schema),
                methods=["POST"],
                summary=kind,
                description=f"{schema.__doc__}\n\n{_HEADERS}",
                responses={200: _RECEIVED},
                operation_id=f"webhook_{kind.replace('.', '_')}",
            )
    return receivers


RECEIVERS = _receivers()
