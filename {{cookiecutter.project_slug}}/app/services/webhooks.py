{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
{%- set audited = cookiecutter.auth != "none" -%}
{%- set queue = cookiecutter.jobs == "queue" -%}
"""Webhook endpoints, and the life of each delivery to them.

`fan_out` runs inside `events.emit`, in the event's transaction: each enabled endpoint
{%- if jwt %} of the event's owner{% endif %} that asked for the event's type gets a delivery row,
so deliveries exist if and only if the event committed.
{%- if queue %} Each attempt is a task on the queue,
written to the outbox in the same transaction (`DELIVER_TASK`).
{%- else %} The in-process dispatcher is
woken once the transaction commits, and polls for retries that come due.
{%- endif %}

A delivery's life: `pending` until due; `sending` once claimed, with a lease (a sender that
dies leaves it to be claimed again when the lease ends); then `delivered`, `pending` again
with a later `due_at`, or `failed` after the last attempt. A failed delivery counts against
its endpoint, which is disabled after WEBHOOK_DISABLE_AFTER of them in a row.
"""

{% if not queue -%}
import asyncio
{% endif -%}
import base64
import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
{%- if not queue %}
from functools import partial
{%- endif %}
from typing import Any
{%- if not queue %}
from weakref import WeakKeyDictionary
{%- endif %}

{% if queue -%}
from sqlalchemy import bindparam, delete, insert, select, update
{%- else -%}
from sqlalchemy import Engine, bindparam, delete, insert, select, update
{%- endif %}
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.config import Settings
from app.core.errors import ConflictError, NotFoundError
from app.db.engine import {% if not queue %}after_commit, {% endif %}transaction
from app.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.schemas.common import one_page
from app.schemas.webhook import TEST_EVENT
{%- if audited and queue %}
from app.services import audit, tasks
{%- elif audited %}
from app.services import audit
{%- elif queue %}
from app.services import tasks
{%- endif %}

PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
FAILED = "failed"
{%- if queue %}
DELIVER_TASK = "webhooks.deliver"
{%- endif %}

# Endpoints per {% if jwt %}user{% else %}service{% endif %}: each one multiplies every event into another request.
MAX_ENDPOINTS = 20
_SECRET_BYTES = 32
_ERROR_CHARS = 500
_LEASE_MARGIN = 30.0  # seconds a claimed delivery is held beyond WEBHOOK_TIMEOUT
_NOT_FOUND = "No webhook endpoint with this id."

EndpointRecord = dict[str, Any]

_PUBLIC = (
    WebhookEndpoint.id,
    WebhookEndpoint.url,
    WebhookEndpoint.event_types,
    WebhookEndpoint.description,
    WebhookEndpoint.enabled,
    WebhookEndpoint.disabled_reason,
    WebhookEndpoint.failures,
    WebhookEndpoint.created_at,
    WebhookEndpoint.updated_at,
)
_BY_ID = WebhookEndpoint.id == bindparam("endpoint_id")
{%- if jwt %}
_MINE = WebhookEndpoint.owner_id == bindparam("owner")
_ONE = select(*_PUBLIC).where(_BY_ID, _MINE)
_COUNT = select(WebhookEndpoint.id).where(_MINE).limit(MAX_ENDPOINTS)
_LISTENING = select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
    _MINE, WebhookEndpoint.enabled
)
_CHANGE = update(WebhookEndpoint).where(_BY_ID, _MINE)
_DELETE = delete(WebhookEndpoint).where(_BY_ID, _MINE)
{%- else %}
_ONE = select(*_PUBLIC).where(_BY_ID)
_COUNT = select(WebhookEndpoint.id).limit(MAX_ENDPOINTS)
_LISTENING = select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(WebhookEndpoint.enabled)
_CHANGE = update(WebhookEndpoint).where(_BY_ID)
_DELETE = delete(WebhookEndpoint).where(_BY_ID)
{%- endif %}
_INSERT_ENDPOINT = insert(WebhookEndpoint)
_INSERT_DELIVERY = insert(WebhookDelivery)
_INSERT_ATTEMPT = insert(WebhookAttempt)

_DELIVERY = WebhookDelivery.id == bindparam("delivery_id")
_CLAIM = (
    update(WebhookDelivery)
    .where(
        _DELIVERY,
        WebhookDelivery.state.in_((PENDING, SENDING)),
        WebhookDelivery.due_at <= bindparam("now"),
    )
    .values(state=SENDING, attempts=WebhookDelivery.attempts + 1)
)
{%- if queue %}
_LEASE_END = select(WebhookDelivery.due_at).where(_DELIVERY, WebhookDelivery.state == SENDING)
{%- endif %}
_CLAIMED = (
    select(
        WebhookDelivery.id,
        WebhookDelivery.endpoint_id,
        WebhookDelivery.event_id,
        WebhookDelivery.body,
        WebhookDelivery.attempts,
        WebhookEndpoint.url,
        WebhookEndpoint.secret,
        WebhookEndpoint.enabled,
    )
    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
    .where(_DELIVERY)
)
# Only the claim being recorded: a sender whose lease ran out does not overwrite the next.
_SETTLE = update(WebhookDelivery).where(
    _DELIVERY, WebhookDelivery.state == SENDING, WebhookDelivery.attempts == bindparam("attempt")
)
_SUCCEEDED = update(WebhookEndpoint).where(_BY_ID, WebhookEndpoint.failures > 0).values(failures=0)
_FAILED = update(WebhookEndpoint).where(_BY_ID).values(failures=WebhookEndpoint.failures + 1)
_DISABLE = update(WebhookEndpoint).where(
    _BY_ID, WebhookEndpoint.enabled, WebhookEndpoint.failures >= bindparam("limit")
)
{%- if not queue %}
_ANY_DUE = (
    select(WebhookDelivery.id)
    .where(
        WebhookDelivery.state.in_((PENDING, SENDING)),
        WebhookDelivery.due_at <= bindparam("now"),
    )
    .order_by(WebhookDelivery.due_at)
    .limit(bindparam("limit"))
)
# The same, locked: other processes skip these rows, so no attempt is sent twice.
_DUE = _ANY_DUE.with_for_update(skip_locked=True)
{%- endif %}
_PURGE = delete(WebhookDelivery).where(
    WebhookDelivery.state.in_((DELIVERED, FAILED)), WebhookDelivery.created_at < bindparam("before")
)
_ATTEMPTS = (
    select(
        WebhookAttempt.delivery_id,
        WebhookDelivery.event_id,
        WebhookDelivery.event_type,
        WebhookDelivery.state,
        WebhookAttempt.attempt,
        WebhookAttempt.status_code,
        WebhookAttempt.latency_ms,
        WebhookAttempt.response_body,
        WebhookAttempt.error,
        WebhookAttempt.attempted_at,
    )
    .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
    .where(WebhookDelivery.endpoint_id == bindparam("endpoint_id"))
    .order_by(WebhookAttempt.attempted_at.desc(), WebhookAttempt.attempt.desc())
    .limit(bindparam("limit"))
)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a sender now holds: where to, signed with what, and which attempt."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    secret: str
    event_id: uuid.UUID
    body: dict[str, Any]
    attempt: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went; `delivered` only for a 2xx answer."""

    delivered: bool
    status_code: int | None
    latency_ms: int
    response_body: str | None
    error: str | None


def _public(row: Any) -> EndpointRecord:
    return {**row, "event_types": sorted(row["event_types"].split())}


def new_secret() -> str:
    """A Standard Webhooks signing key: "whsec_" and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


async def create_endpoint(
    connection: AsyncConnection,
    url: str,
    event_types: set[str],
    description: str,
{%- if audited %}
    origin: audit.Origin,
{%- endif %}
{%- if jwt %}
    owner_id: uuid.UUID,
{%- endif %}
) -> EndpointRecord:
    """Store an endpoint; the result carries the secret, which is never shown again."""
    now = datetime.now(UTC)
    row = {
        "id": uuid.uuid4(),
        "url": url,
        "event_types": " ".join(sorted(event_types)),
        "description": description,
        "enabled": True,
        "disabled_reason": None,
        "failures": 0,
        "created_at": now,
        "updated_at": now,
    }
    secret = new_secret()
    async with transaction(connection):
{%- if jwt %}
        if len((await connection.execute(_COUNT, {"owner": owner_id})).all()) >= MAX_ENDPOINTS:
            raise ConflictError(f"At most {MAX_ENDPOINTS} webhook endpoints each; delete one.")
        await connection.execute(_INSERT_ENDPOINT, {**row, "owner_id": owner_id, "secret": secret})
{%- else %}
        if len((await connection.execute(_COUNT)).all()) >= MAX_ENDPOINTS:
            raise ConflictError(f"At most {MAX_ENDPOINTS} webhook endpoints; delete one.")
        await connection.execute(_INSERT_ENDPOINT, {**row, "secret": secret})
{%- endif %}
{%- if audited %}
        await audit.record(connection, "webhook_created", origin, target=f"webhook:{row['id']}")
{%- endif %}
    return {**_public(row), "secret": secret}


async def list_endpoints(
{%- if jwt %}
    connection: AsyncConnection, owner_id: uuid.UUID, limit: int, offset: int
{%- else %}
    connection: AsyncConnection, limit: int, offset: int
{%- endif %}
) -> tuple[list[EndpointRecord], int | None]:
    """A page of endpoints, oldest first."""
    statement = select(*_PUBLIC)
{%- if jwt %}
    statement = statement.where(WebhookEndpoint.owner_id == owner_id)
{%- endif %}
    statement = (
        statement.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        .limit(limit + 1)
        .offset(offset)
    )
    rows = [_public(row) for row in (await connection.execute(statement)).mappings()]
    return one_page(rows, limit, offset)


{% if jwt -%}
async def get_endpoint(
    connection: AsyncConnection, endpoint_id: uuid.UUID, owner_id: uuid.UUID
) -> EndpointRecord:
{%- else -%}
async def get_endpoint(connection: AsyncConnection, endpoint_id: uuid.UUID) -> EndpointRecord:
{%- endif %}
    """One endpoint; NotFoundError when there is none{% if jwt %} of the owner's{% endif %} with this id."""
{%- if jwt %}
    params = {"endpoint_id": endpoint_id, "owner": owner_id}
{%- else %}
    params = {"endpoint_id": endpoint_id}
{%- endif %}
    row = (await connection.execute(_ONE, params)).mappings().one_or_none()
    if row is None:
        raise NotFoundError(_NOT_FOUND)
    return _public(row)


async def update_endpoint(
    connection: AsyncConnection,
    endpoint_id: uuid.UUID,
    changes: dict[str, Any],
{%- if audited %}
    origin: audit.Origin,
{%- endif %}
{%- if jwt %}
    owner_id: uuid.UUID,
{%- endif %}
) -> EndpointRecord:
    """Apply `changes` (the fields of WebhookUpdate that were given) and return the result.
    Enabling clears the failure count and the reason it was disabled."""
    values = {**changes, "updated_at": datetime.now(UTC)}
    if "event_types" in values:
        values["event_types"] = " ".join(sorted(values["event_types"]))
    if values.get("enabled"):
        values.update(failures=0, disabled_reason=None)
{%- if jwt %}
    params = {"endpoint_id": endpoint_id, "owner": owner_id}
{%- else %}
    params = {"endpoint_id": endpoint_id}
{%- endif %}
    async with transaction(connection):
        if (await connection.execute(_CHANGE.values(values), params)).rowcount != 1:
            raise NotFoundError(_NOT_FOUND)
{%- if audited %}
        await audit.record(connection, "webhook_updated", origin, target=f"webhook:{endpoint_id}")
{%- endif %}
        row = (await connection.execute(_ONE, params)).mappings().one()
    return _public(row)


async def delete_endpoint(
    connection: AsyncConnection,
    endpoint_id: uuid.UUID,
{%- if audited %}
    origin: audit.Origin,
{%- endif %}
{%- if jwt %}
    owner_id: uuid.UUID,
{%- endif %}
) -> None:
    """Delete an endpoint with its deliveries; nothing more is sent to it."""
{%- if jwt %}
    params = {"endpoint_id": endpoint_id, "owner": owner_id}
{%- else %}
    params = {"endpoint_id": endpoint_id}
{%- endif %}
    async with transaction(connection):
        if (await connection.execute(_DELETE, params)).rowcount != 1:
            raise NotFoundError(_NOT_FOUND)
{%- if audited %}
        await audit.record(connection, "webhook_deleted", origin, target=f"webhook:{endpoint_id}")
{%- endif %}


{% if jwt -%}
async def send_test(
    connection: AsyncConnection, endpoint_id: uuid.UUID, owner_id: uuid.UUID
) -> dict[str, Any]:
{%- else -%}
async def send_test(connection: AsyncConnection, endpoint_id: uuid.UUID) -> dict[str, Any]:
{%- endif %}
    """Queue a `webhook.test` event to this endpoint only, delivered like any other (even
    while it is disabled: that is how its owner checks a fix); returns the event."""
    now = datetime.now(UTC)
    body = {
        "id": str(uuid.uuid4()),
        "type": TEST_EVENT,
        "timestamp": now.isoformat(),
        "data": {"endpoint_id": str(endpoint_id)},
    }
    async with transaction(connection):
{%- if jwt %}
        await get_endpoint(connection, endpoint_id, owner_id)
{%- else %}
        await get_endpoint(connection, endpoint_id)
{%- endif %}
        await _add_deliveries(connection, [endpoint_id], body, now)
    return body


async def list_attempts(
{%- if jwt %}
    connection: AsyncConnection, endpoint_id: uuid.UUID, owner_id: uuid.UUID, limit: int
{%- else %}
    connection: AsyncConnection, endpoint_id: uuid.UUID, limit: int
{%- endif %}
) -> list[dict[str, Any]]:
    """The latest attempts at delivering to one endpoint, newest first."""
{%- if jwt %}
    await get_endpoint(connection, endpoint_id, owner_id)
{%- else %}
    await get_endpoint(connection, endpoint_id)
{%- endif %}
    rows = await connection.execute(_ATTEMPTS, {"endpoint_id": endpoint_id, "limit": limit})
    return [dict(row) for row in rows.mappings()]


{%- if jwt %}


async def fan_out(connection: AsyncConnection, body: dict[str, Any], owner_id: uuid.UUID) -> None:
    """A delivery of the event `body` to each enabled endpoint of `owner_id` that asked for
    its type, in the event's open transaction."""
    listening = await connection.execute(_LISTENING, {"owner": owner_id})
{%- else %}


async def fan_out(connection: AsyncConnection, body: dict[str, Any]) -> None:
    """A delivery of the event `body` to each enabled endpoint that asked for its type, in
    the event's open transaction."""
    listening = await connection.execute(_LISTENING)
{%- endif %}
    wanted = [row.id for row in listening if body["type"] in row.event_types.split()]
    if wanted:
        await _add_deliveries(connection, wanted, body, datetime.now(UTC))


async def _add_deliveries(
    connection: AsyncConnection, endpoints: list[uuid.UUID], body: dict[str, Any], now: datetime
) -> None:
    rows = [
        {
            "id": uuid.uuid4(),
            "endpoint_id": endpoint_id,
            "event_id": uuid.UUID(body["id"]),
            "event_type": body["type"],
            "body": body,
            "state": PENDING,
            "attempts": 0,
            "due_at": now,
            "created_at": now,
        }
        for endpoint_id in endpoints
    ]
    await connection.execute(_INSERT_DELIVERY, rows)
{%- if queue %}
    for row in rows:
        await _schedule(connection, row["id"], now)
{%- else %}
    after_commit(connection, partial(_wake, connection.engine.sync_engine))
{%- endif %}
{%- if queue %}


async def _schedule(connection: AsyncConnection, delivery_id: uuid.UUID, due_at: datetime) -> None:
    await tasks.enqueue(connection, DELIVER_TASK, {"delivery_id": str(delivery_id)}, due_at=due_at)


async def look_again_after_lease(connection: AsyncConnection, delivery_id: uuid.UUID) -> None:
    """For a delivery another sender holds: a task for when that sender's lease ends. A
    pending delivery has its own task already; a settled one needs none."""
    async with transaction(connection):
        lease_end = await connection.scalar(_LEASE_END, {"delivery_id": delivery_id})
        if lease_end is not None:
            await _schedule(connection, delivery_id, lease_end)
{%- else %}


# The dispatchers running in this process, by engine (see `wake_on_commit`).
_dispatchers: WeakKeyDictionary[Engine, asyncio.Event] = WeakKeyDictionary()


def wake_on_commit(engine: Engine, wake: asyncio.Event) -> None:
    """Set `wake` whenever a transaction on `engine` commits new deliveries."""
    _dispatchers[engine] = wake


async def _wake(engine: Engine) -> None:
    wake = _dispatchers.get(engine)
    if wake is not None:
        wake.set()
{%- endif %}


async def claim(
    connection: AsyncConnection, settings: Settings, delivery_id: uuid.UUID
) -> Claimed | None:
    """Take a due delivery to attempt it; None when it is not there to attempt (delivered,
    failed, not yet due, claimed by another sender, or gone)."""
    async with transaction(connection):
        claimed = await _claim(connection, settings, [delivery_id])
    return claimed[0] if claimed else None
{%- if not queue %}


async def claim_due(connection: AsyncConnection, settings: Settings, limit: int) -> list[Claimed]:
    """Take up to `limit` due deliveries, oldest first. Other processes skip the rows
    locked here, so two replicas never send the same attempt. An idle look is one plain
    read: no transaction, no lock."""
    params = {"now": datetime.now(UTC), "limit": limit}
    if (await connection.execute(_ANY_DUE, params)).first() is None:
        return []
    async with transaction(connection):
        due = list(await connection.scalars(_DUE, params))
        return await _claim(connection, settings, due)
{%- endif %}


async def _claim(
    connection: AsyncConnection, settings: Settings, deliveries: list[uuid.UUID]
) -> list[Claimed]:
    """Mark `deliveries` as sending, with a lease; those of a disabled endpoint fail unsent."""
    now = datetime.now(UTC)
    leased_until = now + timedelta(seconds=settings.webhook_timeout + _LEASE_MARGIN)
    claimed: list[Claimed] = []
    for delivery_id in deliveries:
        taken = await connection.execute(
            _CLAIM, {"delivery_id": delivery_id, "now": now, "due_at": leased_until}
        )
        if taken.rowcount != 1:
            continue
        row = (await connection.execute(_CLAIMED, {"delivery_id": delivery_id})).one()
        if not row.enabled:
            await connection.execute(
                _SETTLE, {"delivery_id": delivery_id, "attempt": row.attempts, "state": FAILED}
            )
            continue
        claimed.append(
            Claimed(
                id=row.id,
                endpoint_id=row.endpoint_id,
                url=row.url,
                secret=row.secret,
                event_id=row.event_id,
                body=row.body,
                attempt=row.attempts,
            )
        )
    return claimed


async def record(
    connection: AsyncConnection, settings: Settings, delivery: Claimed, outcome: Outcome
) -> str:
    """Keep the attempt, then settle the delivery: delivered, due again after a backoff, or
    failed after the last attempt (which counts against the endpoint). Returns its state."""
    now = datetime.now(UTC)
    if outcome.delivered:
        state = DELIVERED
    elif delivery.attempt >= settings.webhook_max_attempts:
        state = FAILED
    else:
        state = PENDING
    due_at = now + timedelta(seconds=backoff(settings, delivery.attempt))
    endpoint = {"endpoint_id": delivery.endpoint_id}
    async with transaction(connection):
        await connection.execute(
            _INSERT_ATTEMPT,
            {
                "id": uuid.uuid4(),
                "delivery_id": delivery.id,
                "attempt": delivery.attempt,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "response_body": outcome.response_body,
                "error": None if outcome.error is None else outcome.error[:_ERROR_CHARS],
                "attempted_at": now,
            },
        )
        settled = await connection.execute(
            _SETTLE,
            {
                "delivery_id": delivery.id,
                "attempt": delivery.attempt,
                "state": state,
                "due_at": due_at,
            },
        )
        if settled.rowcount != 1:  # the lease ran out and another sender took it over
            return SENDING
        if state == DELIVERED:
            await connection.execute(_SUCCEEDED, endpoint)
        elif state == FAILED:
            await connection.execute(_FAILED, endpoint)
            reason = (
                f"disabled after {settings.webhook_disable_after} failed deliveries in a row; "
                f"the last: {outcome.error}"
            )
            await connection.execute(
                _DISABLE,
                {
                    **endpoint,
                    "limit": settings.webhook_disable_after,
                    "enabled": False,
                    "disabled_reason": reason[:200],
                    "updated_at": now,
                },
            )
{%- if queue %}
        else:
            await _schedule(connection, delivery.id, due_at)
{%- endif %}
    return state


async def purge(connection: AsyncConnection, before: datetime) -> int:
    """Delete the settled (delivered or failed) deliveries made before `before`, with their
    attempts; return how many there were."""
    return (await connection.execute(_PURGE, {"before": before})).rowcount


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds before the attempt after `attempt`: doubling from the base up to the cap, of
    which a random half is kept, so that deliveries failing together do not retry together."""
    ceiling = min(settings.webhook_retry_cap, settings.webhook_retry_base * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret
