"""The worker process: relays the task outbox to RabbitMQ and runs the tasks it receives.

`{{ cookiecutter.project_slug }}-worker run` starts one worker process (run more of them, or more
replicas, to scale out). Each runs taskiq's receiver, which acknowledges a message only after
its task ran, so a worker that dies mid-task leaves the task to another; and a relay loop,
which sends due outbox rows to the broker. Tasks are plain async functions registered with
`@handler("name")` and enqueued with `app.services.tasks.enqueue` in the transaction of the
change that asks for them.

The other commands are for operators: `dead` lists the tasks that ran out of attempts with
their last error, `retry ID` gives one a fresh set of attempts, `purge-done` deletes the
record of tasks done long ago (run it daily), and `health` exits non-zero when this
container's worker has stopped relaying (the container health check).
"""

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from taskiq import TaskiqEvents, TaskiqState
from taskiq.acks import AcknowledgeType
from taskiq.cli.worker.args import WorkerArgs
from taskiq.cli.worker.run import start_listen
from taskiq_aio_pika import AioPikaBroker, Exchange, Queue

{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
from app.core import email
{% endif -%}
from app.core.config import Settings, get_settings
from app.core.errors import DomainError
from app.core.logging import EpisodeLog, configure_logging
from app.db.engine import Database, create_engine
{%- if cookiecutter.webhooks == "yes" %}
from app.services import deliveries, tasks, webhooks
{%- else %}
from app.services import tasks
{%- endif %}

logger = logging.getLogger(__name__)

# A task: called with the worker's runtime (settings, database) and the task's payload.
Handler = Callable[["Runtime", dict[str, Any]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}

# Touched by the relay at each round; `health` reads its age.
HEARTBEAT = Path(tempfile.gettempdir()) / "{{ cookiecutter.project_slug }}-worker.alive"
_SEND_TIMEOUT = 5.0  # seconds for the broker to take one message
_LISTED_TASKS = 100


class _Broker(AioPikaBroker):
    """Says when its queue is declared and bound: messages sent before would be dropped."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.ready = asyncio.Event()

    async def startup(self) -> None:
        await super().startup()  # runs the startup handlers first, then connects
        self.ready.set()


_settings = get_settings()
# Nothing connects until the worker (or a test) starts the broker.
broker = _Broker(
    url=_settings.broker_url.get_secret_value(),
    exchange=Exchange(name=_settings.task_queue),
    task_queues=[Queue(name=_settings.task_queue)],
    dead_letter_queue=Queue(name=f"{_settings.task_queue}.undeliverable"),
    qos=_settings.worker_concurrency,
)


def handler(name: str) -> Callable[[Handler], Handler]:
    """Register an async function as the task `name`."""

    def register(function: Handler) -> Handler:
        HANDLERS[name] = function
        return function

    return register


class Runtime:
{%- if cookiecutter.webhooks == "yes" %}
    """What the tasks of one worker process share: the settings, the database, and the HTTP
    client webhooks go out on."""
{%- else %}
    """What the tasks of one worker process share: the settings and the database."""
{%- endif %}

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database = Database(create_engine(settings), settings)
{%- if cookiecutter.webhooks == "yes" %}
        self.http = deliveries.new_client(settings)
{%- endif %}
        self._relay: asyncio.Task[None] | None = None

    async def run(self, task_id: uuid.UUID) -> None:
        """Run a task once if it is there to run, and record how it went."""
        async with self.database.connect() as connection:
            task = await tasks.claim(connection, self.settings, task_id)
        if task is None:
            logger.info("task %s is not waiting to run; message ignored", task_id)
            return
        function = HANDLERS.get(task.name)
        try:
            if function is None:
                raise LookupError(f"no handler for task {task.name!r}")
            await function(self, task.payload)
        except Exception as error:  # any failure is the task's to record
            async with self.database.connect() as connection:
                state = await tasks.fail(connection, self.settings, task, repr(error))
            logger.warning(
                "task %s (%s) failed on attempt %d, now %s: %r",
                task.id,
                task.name,
                task.attempt,
                state,
                error,
            )
            return
        async with self.database.connect() as connection:
            await tasks.finish(connection, task.id)

    def start_relay(self) -> None:
        self._relay = asyncio.create_task(self._relay_forever())

    async def _relay_forever(self) -> None:
        """Send due tasks, then look again after the interval (at once after a full batch).

        While the database or the broker is away, tasks stay in the outbox and the loop
        tries again each interval.
        """
        outage = EpisodeLog(logger, logging.WARNING)
        await broker.ready.wait()
        while True:
            try:
                async with self.database.connect() as connection:
                    sent = await tasks.relay_due(connection, self.settings, send)
            except Exception as error:  # the loop outlives any outage
                outage.record("cannot relay tasks: %r", error)
                sent = 0
            else:
                HEARTBEAT.touch()
            if not sent:
                await asyncio.sleep(self.settings.task_relay_interval)

    async def close(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay
{%- if cookiecutter.webhooks == "yes" %}
        await self.http.aclose()
{%- endif %}
        await self.database.dispose()


_runtime: list[Runtime] = []  # the one of this process, once the worker started


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def _start(_: TaskiqState) -> None:
    configure_logging(_settings.log_level, json_lines=_settings.log_json)
    runtime = Runtime(_settings)
    runtime.start_relay()
    _runtime.append(runtime)


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def _stop(_: TaskiqState) -> None:
    while _runtime:
        await _runtime.pop().close()


@broker.task(task_name="run_task")
async def run_task(task_id: str) -> None:
    """The one message the broker carries: the id of an outbox row to run."""
    await _runtime[0].run(uuid.UUID(task_id))


{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


@handler(email.SEND_TASK)
async def send_email(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Deliver an email a request wrote to the outbox; a refusing server means a retry."""
    await email.deliver(runtime.settings, email.Message(**payload))
{%- endif %}
{%- if cookiecutter.webhooks == "yes" %}


@handler(webhooks.DELIVER_TASK)
async def deliver_webhook(runtime: Runtime, payload: dict[str, Any]) -> None:
    """One attempt at a webhook delivery. A failed attempt is recorded and its retry
    enqueued by the delivery itself (with the webhook backoff), so the task is done."""
    await deliveries.attempt_by_id(
        runtime.database, runtime.settings, runtime.http, uuid.UUID(payload["delivery_id"])
    )
{%- endif %}


async def send(task_id: uuid.UUID) -> None:
    """Publish one task, with its outbox id as the message's task id."""
    async with asyncio.timeout(_SEND_TIMEOUT):
        await run_task.kicker().with_task_id(str(task_id)).kiq(str(task_id))


def _run_worker(modules: list[str]) -> int:
    start_listen(
        WorkerArgs(
            broker="app.worker:broker",
            modules=modules,
            configure_logging=False,
            workers=1,
            max_async_tasks=_settings.worker_concurrency,
            ack_type=AcknowledgeType.WHEN_EXECUTED,
        )
    )
    return 0


async def _with_database(work: Callable[[Database], Awaitable[None]]) -> None:
    settings = get_settings()
    database = Database(create_engine(settings), settings)
    try:
        await work(database)
    finally:
        await database.dispose()


async def _print_dead(database: Database) -> None:
    async with database.connect() as connection:
        dead = await tasks.list_tasks(connection, tasks.DEAD, _LISTED_TASKS)
    for task in dead:
        print(
            f"{task['id']}  {task['name']}  attempts={task['attempts']}  "
            f"at={task['updated_at']:%Y-%m-%d %H:%M:%S}Z  {task['last_error']}"
        )
    print(f"{len(dead)} dead task(s)", file=sys.stderr)


def _healthy(settings: Settings) -> bool:
    """Whether the relay of this container went round lately (each round touches the file)."""
    try:
        age = time.time() - HEARTBEAT.stat().st_mtime
    except FileNotFoundError:
        return False
    return age < max(30.0, 10 * settings.task_relay_interval)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="{{ cookiecutter.project_slug }}-worker")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a worker process until stopped")
    run.add_argument("modules", nargs="*", help="more modules whose tasks to register")
    commands.add_parser("dead", help="list the tasks that ran out of attempts")
    retry = commands.add_parser("retry", help="run a dead task again, with fresh attempts")
    retry.add_argument("task_id", type=uuid.UUID)
    purge = commands.add_parser("purge-done", help="delete tasks done more than DAYS ago")
    purge.add_argument("--days", type=float, default=7.0)
    commands.add_parser("health", help="exit 1 unless this container's worker is relaying")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "run":
        return _run_worker(args.modules)
    if args.command == "health":
        return 0 if _healthy(settings) else 1
    configure_logging(settings.log_level, json_lines=settings.log_json)
    if args.command == "dead":
        asyncio.run(_with_database(_print_dead))
        return 0
    if args.command == "purge-done":
        before = datetime.now(UTC) - timedelta(days=args.days)

        async def _purge(database: Database) -> None:
            async with database.connect() as connection:
                print(f"deleted {await tasks.purge_done(connection, before)} done task(s)")

        asyncio.run(_with_database(_purge))
        return 0

    async def _retry(database: Database) -> None:
        async with database.connect() as connection:
            await tasks.retry_dead(connection, args.task_id)

    try:
        asyncio.run(_with_database(_retry))
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    print(f"task {args.task_id} is due again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
