"""The task outbox: written with the change that asks for a task, run by the worker.

A task's life: `pending` in the outbox until it is due; `queued` once the relay has sent it
to the broker; `running` once a worker claimed it; then `done`, or `pending` again with a
later `due_at` after a failure, or `dead` after the last attempt. A queued or running task
whose lease ran out (its message or its worker was lost) is sent again.

Delivery is at least once, and claiming makes it idempotent: a message for a task that is
already done, dead or waiting for its next try is acknowledged and ignored. A task that
finished its work but died before it was marked done runs again, so handlers should make
repeating their last step harmless.
"""

import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.config import Settings
from app.core.errors import NotFoundError
from app.db.engine import transaction
from app.models.task import Task

PENDING = "pending"
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
DEAD = "dead"
STATES = (PENDING, QUEUED, RUNNING, DONE, DEAD)

_RELAY_BATCH = 100
_ERROR_CHARS = 2000

TaskRecord = dict[str, Any]
Send = Callable[[uuid.UUID], Awaitable[None]]

_INSERT = insert(Task)
# Due rows, locked so that relays in other worker processes take other rows meanwhile.
_DUE = (
    select(Task.id)
    .where(Task.state.in_((PENDING, QUEUED, RUNNING)), Task.due_at <= bindparam("now"))
    .order_by(Task.due_at)
    .limit(_RELAY_BATCH)
    .with_for_update(skip_locked=True)
)
_BY_ID = Task.id == bindparam("task_id")
_SET_STATE = update(Task).where(_BY_ID)
_CLAIM = (
    update(Task)
    .where(_BY_ID, Task.state.in_((QUEUED, RUNNING)))
    .values(state=RUNNING, attempts=Task.attempts + 1)
)
_CLAIMED = select(Task.name, Task.payload, Task.attempts).where(_BY_ID)
_REVIVE = update(Task).where(_BY_ID, Task.state == DEAD)
_PURGE = delete(Task).where(Task.state == DONE, Task.updated_at < bindparam("before"))
_LISTED = (
    Task.id,
    Task.name,
    Task.state,
    Task.attempts,
    Task.due_at,
    Task.last_error,
    Task.created_at,
    Task.updated_at,
)

_NO_DEAD_TASK = "No dead task with this id."


@dataclass(frozen=True, slots=True)
class Claimed:
    """A task a worker now runs: what to run, with what, and which attempt this is."""

    id: uuid.UUID
    name: str
    payload: dict[str, Any]
    attempt: int


{% if cookiecutter.webhooks == "yes" -%}
async def enqueue(
    connection: AsyncConnection,
    name: str,
    payload: dict[str, Any],
    due_at: datetime | None = None,
) -> uuid.UUID:
    """Write a task to the outbox, due now or at `due_at`. Inside `transaction()` it is sent
    only if the transaction commits; outside, it is committed at once."""
    now = datetime.now(UTC)
{%- else -%}
async def enqueue(connection: AsyncConnection, name: str, payload: dict[str, Any]) -> uuid.UUID:
    """Write a task to the outbox. Inside `transaction()` it is sent only if the transaction
    commits; outside, it is committed at once."""
    now = datetime.now(UTC)
{%- endif %}
    task_id = uuid.uuid4()
    await connection.execute(
        _INSERT,
        {
            "id": task_id,
            "name": name,
            "payload": payload,
            "state": PENDING,
            "attempts": 0,
{%- if cookiecutter.webhooks == "yes" %}
            "due_at": now if due_at is None else due_at,
{%- else %}
            "due_at": now,
{%- endif %}
            "last_error": None,
            "created_at": now,
            "updated_at": now,
        },
    )
    return task_id


async def relay_due(connection: AsyncConnection, settings: Settings, send: Send) -> int:
    """Send every due task to the broker; return how many were sent.

    The tasks are marked queued, with a lease, and committed before they are sent, so a
    worker that receives one at once finds it queued. If sending fails (the broker is
    away) the unsent ones are due again at once and the error is raised; if this process
    dies before sending, they are sent again when their lease ends.
    """
    now = datetime.now(UTC)
    leased_until = now + timedelta(seconds=settings.task_lease)
    async with transaction(connection):
        due = list(await connection.scalars(_DUE, {"now": now}))
        if due:
            await connection.execute(
                _SET_STATE, [_changes(task_id, QUEUED, leased_until, now) for task_id in due]
            )
    for sent, task_id in enumerate(due):
        try:
            await send(task_id)
        except Exception:  # whatever the broker raised
            await connection.execute(
                _SET_STATE, [_changes(unsent, PENDING, now, now) for unsent in due[sent:]]
            )
            raise
    return len(due)


def _changes(task_id: uuid.UUID, state: str, due_at: datetime, now: datetime) -> dict[str, Any]:
    return {"task_id": task_id, "state": state, "due_at": due_at, "updated_at": now}


async def claim(
    connection: AsyncConnection, settings: Settings, task_id: uuid.UUID
) -> Claimed | None:
    """Take a sent task to run it; None when it is not there to run (done, dead, waiting
    for a later try, or gone)."""
    now = datetime.now(UTC)
    leased_until = now + timedelta(seconds=settings.task_lease)
    async with transaction(connection):
        claimed = await connection.execute(
            _CLAIM, {"task_id": task_id, "due_at": leased_until, "updated_at": now}
        )
        if claimed.rowcount != 1:
            return None
        row = (await connection.execute(_CLAIMED, {"task_id": task_id})).one()
    return Claimed(id=task_id, name=row.name, payload=row.payload, attempt=row.attempts)


async def finish(connection: AsyncConnection, task_id: uuid.UUID) -> None:
    """Mark a claimed task done: no later delivery runs it again."""
    await connection.execute(
        _SET_STATE,
        {"task_id": task_id, "state": DONE, "last_error": None, "updated_at": datetime.now(UTC)},
    )


async def fail(connection: AsyncConnection, settings: Settings, task: Claimed, error: str) -> str:
    """Record a failed run: try again after a backoff, or keep it as dead after the last
    attempt. Returns the new state."""
    now = datetime.now(UTC)
    state = DEAD if task.attempt >= settings.task_max_attempts else PENDING
    await connection.execute(
        _SET_STATE,
        {
            "task_id": task.id,
            "state": state,
            "due_at": now + timedelta(seconds=backoff(settings, task.attempt)),
            "last_error": error[:_ERROR_CHARS],
            "updated_at": now,
        },
    )
    return state


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds before the try after `attempt`: doubling from the base up to the cap, of which
    a random half is kept, so that tasks failing together do not retry together."""
    ceiling = min(settings.task_retry_cap, settings.task_retry_base * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


async def list_tasks(connection: AsyncConnection, state: str, limit: int) -> list[TaskRecord]:
    """Tasks in one state, most recently changed first."""
    statement = (
        select(*_LISTED)
        .where(Task.state == state)
        .order_by(Task.updated_at.desc(), Task.id)
        .limit(limit)
    )
    return [dict(row) for row in (await connection.execute(statement)).mappings()]


async def retry_dead(connection: AsyncConnection, task_id: uuid.UUID) -> None:
    """Give a dead task a fresh set of attempts, due now; its last error stays until then."""
    revived = await connection.execute(
        _REVIVE,
        {"task_id": task_id, "state": PENDING, "attempts": 0, "due_at": datetime.now(UTC)},
    )
    if revived.rowcount != 1:
        raise NotFoundError(_NO_DEAD_TASK)


async def purge_done(connection: AsyncConnection, before: datetime) -> int:
    """Delete the tasks done before `before`; return how many there were."""
    return (await connection.execute(_PURGE, {"before": before})).rowcount
