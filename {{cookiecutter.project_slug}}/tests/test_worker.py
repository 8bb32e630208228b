"""The queue end to end: the outbox, a real RabbitMQ and real worker processes.

Each test has a queue of its own on the broker at BROKER_URL (deleted afterwards) and runs
`{{ cookiecutter.project_slug }}-worker run` as child processes, which it kills, or cuts off from the broker
through a TCP forwarder it controls. What ran, and how often, is read from a journal file
the test task writes (tests/worker_tasks.py) and from the outbox rows.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from sqlalchemy import make_url, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.db.engine import transaction
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from app.main import create_app
{%- endif %}
from app.models.task import Task
from app.services import tasks
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from tests.conftest import TEST_SECRET, USER_EMAIL, USER_PASSWORD, Inbox, Serve
{%- elif cookiecutter.auth == "api_key" %}
from tests.conftest import TEST_SECRET
{%- endif %}

pytestmark = pytest.mark.anyio

PROJECT = Path(__file__).resolve().parents[1]
PATIENCE = 60.0  # seconds any one expected outcome may take on a busy machine


@pytest.fixture
async def queue_settings(settings: Settings) -> AsyncIterator[Settings]:
    """The test settings with a fresh queue on the real broker, and quick retries."""
    url = settings.broker_url.get_secret_value()
    try:
        connection = await aio_pika.connect(url, timeout=5)
    except OSError as error:
        message = f"RabbitMQ is not reachable at BROKER_URL: {error}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    queue = f"{settings.task_queue}.test-{uuid.uuid4().hex[:12]}"
    yield settings.model_copy(
        update={
            "task_queue": queue,
            "task_relay_interval": 0.05,
            "task_retry_base": 0.1,
            "task_retry_cap": 0.2,
            "task_max_attempts": 3,
        }
    )
    channel = await connection.channel()
    for name in (queue, f"{queue}.undeliverable"):
        await channel.queue_delete(name)
    await channel.exchange_delete(queue)
    await connection.close()


class Worker:
    """`{{ cookiecutter.project_slug }}-worker run` in a process of its own, with the test task registered."""

    def __init__(self, settings: Settings, log: Path, **environment: str) -> None:
        self._env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "DATABASE_URL": settings.database_url.get_secret_value(),
{%- if cookiecutter.auth != "none" %}
            "SECRET_KEY": TEST_SECRET,
{%- endif %}
            "BROKER_URL": settings.broker_url.get_secret_value(),
            "TASK_QUEUE": settings.task_queue,
            "TASK_RELAY_INTERVAL": str(settings.task_relay_interval),
            "TASK_RETRY_BASE": str(settings.task_retry_base),
            "TASK_RETRY_CAP": str(settings.task_retry_cap),
            "TASK_MAX_ATTEMPTS": str(settings.task_max_attempts),
            **environment,
        }
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "app.worker", "run", "tests.worker_tasks"],
                cwd=PROJECT,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """End it at once, as a crash or an out-of-memory kill would, mid-task or not."""
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


NewWorker = Callable[..., Worker]


@pytest.fixture
def new_worker(queue_settings: Settings, tmp_path: Path) -> Iterator[NewWorker]:
    """Makes workers on the test's queue, with more environment if given; every one is
    stopped after the test, and what they logged is printed."""
    made: list[Worker] = []
    log = tmp_path / "worker.log"

    def make(**environment: str) -> Worker:
        made.append(Worker(queue_settings, log, **environment))
        return made[-1]

    yield make
    for worker in made:
        worker.stop()
    if log.exists():
        print(log.read_text(encoding="utf-8"))


class Cut:
    """A TCP forwarder to the broker. `cut()` resets every connection through it and refuses
    new ones, as a stopped broker does; `mend()` lets connections through again."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._listener: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.port = 0  # chosen at the first mend(), kept after

    async def mend(self) -> None:
        self._listener = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._listener.sockets[0].getsockname()[1]

    def cut(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        while self._open:
            self._open.pop().transport.abort()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._open.add(upstream_writer)
        await asyncio.gather(
            _copy(reader, upstream_writer), _copy(upstream_reader, writer), return_exceptions=True
        )


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    sink.transport.abort()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"not within {PATIENCE:.0f} s: {what}")


async def enqueue(engine: AsyncEngine, journal: Path, *tags: str, **extra: Any) -> list[uuid.UUID]:
    """Enqueue one test task per tag, all in one committed transaction."""
    async with engine.connect() as connection, transaction(connection):
        return [
            await tasks.enqueue(
                connection, "tests.journal", {"path": str(journal), "tag": tag, **extra}
            )
            for tag in tags
        ]


async def states(engine: AsyncEngine, task_ids: list[uuid.UUID]) -> list[str]:
    async with engine.connect() as connection:
        found = {row.id: row.state for row in await connection.execute(select(Task.id, Task.state))}
    return [found.get(task_id, "missing") for task_id in task_ids]


def lines(journal: Path) -> list[str]:
    return journal.read_text(encoding="utf-8").splitlines() if journal.exists() else []


async def test_committed_tasks_run_once_each_and_rolled_back_ones_never(
    clean_tables: AsyncEngine, new_worker: NewWorker, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    new_worker().start()
    await _warm_up(clean_tables, journal)
    with pytest.raises(RuntimeError):
        await _enqueue_and_roll_back(clean_tables, journal)
    task_ids = await enqueue(clean_tables, journal, *(f"task-{n}" for n in range(5)))
    committed = time.perf_counter()

    async def started() -> bool:
        return "start task-0" in lines(journal)

    await eventually(started, "the first task started")
    print(f"from commit to the task's start: {(time.perf_counter() - committed) * 1000:.0f} ms")

    async def all_done() -> bool:
        return await states(clean_tables, task_ids) == ["done"] * 5

    await eventually(all_done, "every task done")
    await asyncio.sleep(0.5)  # room for a duplicate run to show
    expected = {f"{step} task-{n}" for n in range(5) for step in ("start", "end")}
    assert sorted(lines(journal)) == sorted(expected | {"start warm-up", "end warm-up"})


async def _warm_up(engine: AsyncEngine, journal: Path) -> None:
    """Wait until a worker runs tasks: it has started and reached the broker."""
    (task_id,) = await enqueue(engine, journal, "warm-up")

    async def done() -> bool:
        return await states(engine, [task_id]) == ["done"]

    await eventually(done, "a worker runs tasks")


async def _enqueue_and_roll_back(engine: AsyncEngine, journal: Path) -> None:
    async with engine.connect() as connection, transaction(connection):
        await tasks.enqueue(connection, "tests.journal", {"path": str(journal), "tag": "lost"})
        raise RuntimeError("the request failed after asking for the task")


async def test_a_worker_killed_mid_task_leaves_it_to_the_next(
    clean_tables: AsyncEngine, new_worker: NewWorker, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    first, second = new_worker(), new_worker()
    (task_id,) = await enqueue(clean_tables, journal, "slow", seconds=2)
    first.start()

    async def started() -> bool:
        return lines(journal) == ["start slow"]

    await eventually(started, "the first worker started the task")
    first.kill()
    assert await states(clean_tables, [task_id]) == ["running"]

    second.start()

    async def done() -> bool:
        return await states(clean_tables, [task_id]) == ["done"]

    await eventually(done, "the second worker finished the task")
    assert lines(journal) == ["start slow", "start slow", "end slow"]


async def test_failures_retry_with_backoff_then_die_until_retried_by_hand(
    clean_tables: AsyncEngine, new_worker: NewWorker, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    new_worker().start()
    (task_id,) = await enqueue(clean_tables, journal, "doomed", fail=True)

    async def dead() -> bool:
        return await states(clean_tables, [task_id]) == ["dead"]

    await eventually(dead, "the task is dead after its attempts")
    assert lines(journal) == ["start doomed"] * 3
    async with clean_tables.connect() as connection:
        (listed,) = await tasks.list_tasks(connection, tasks.DEAD, 10)
        assert (listed["id"], listed["attempts"]) == (task_id, 3)
        assert listed["last_error"] == "RuntimeError('doomed failed as asked')"
        await tasks.retry_dead(connection, task_id)

    async def ran_again() -> bool:
        return len(lines(journal)) > 3

    await eventually(ran_again, "the task ran again after the retry by hand")

{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


async def test_a_broker_outage_delays_tasks_and_loses_none(
    queue_settings: Settings,
    clean_tables: AsyncEngine,
    new_worker: NewWorker,
    tmp_path: Path,
    serve: Serve,
) -> None:
{%- else %}


async def test_a_broker_outage_delays_tasks_and_loses_none(
    queue_settings: Settings, clean_tables: AsyncEngine, new_worker: NewWorker, tmp_path: Path
) -> None:
{%- endif %}
    journal = tmp_path / "journal"
    upstream = make_url(queue_settings.broker_url.get_secret_value())
    forwarder = Cut(upstream.host or "127.0.0.1", upstream.port or 5672)
    await forwarder.mend()
    proxied = upstream.set(
        host="127.0.0.1", port=forwarder.port, query={"reconnect_interval": "0.5"}
    )
    new_worker(BROKER_URL=proxied.render_as_string(hide_password=False)).start()
    await _warm_up(clean_tables, journal)

    forwarder.cut()
    during = await enqueue(clean_tables, journal, *(f"during-{n}" for n in range(5)))
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    async with serve(create_app(queue_settings), headers={}) as http:  # never waits for it
        asked = await http.post("/api/v1/auth/password-reset", json={"email": USER_EMAIL})
    assert asked.status_code == 202, asked.text
{%- endif %}
    await asyncio.sleep(1.0)
    assert set(await states(clean_tables, during)) <= {"pending", "queued"}
    assert not [line for line in lines(journal) if "during" in line]

    await forwarder.mend()
    returned = time.perf_counter()

    async def delivered() -> bool:  # the email asked for too, where there is one
        async with clean_tables.connect() as connection:
            return set(await connection.scalars(select(Task.state))) == {"done"}

    try:
        await eventually(delivered, "every task delivered after the broker returned")
    finally:
        forwarder.cut()
    print(f"from the broker's return to the outbox drained: {time.perf_counter() - returned:.1f} s")
    await asyncio.sleep(0.5)
    runs = [line for line in lines(journal) if line.startswith("start during")]
    assert sorted(runs) == sorted(f"start during-{n}" for n in range(5))
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


async def test_an_email_a_request_asks_for_is_sent_by_the_worker(
    queue_settings: Settings,
    new_worker: NewWorker,
    inbox: tuple[Inbox, int],
    serve: Serve,
) -> None:
    received, port = inbox
    mail = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": "none"}
    new_worker(EMAIL_BACKEND="smtp", **mail).start()
    async with serve(create_app(queue_settings), headers={}) as http:
        registered = await http.post(
            "/api/v1/auth/register", json={"email": "ada@example.com", "password": USER_PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        asked = await http.post("/api/v1/auth/password-reset", json={"email": "ada@example.com"})
        assert asked.status_code == 202, asked.text

    async def arrived() -> bool:  # beside the link that verifies the address, in any order
        return "Reset your password" in {message["Subject"] for message in received.messages}

    await eventually(arrived, "the reset email arrived")
    assert {message["To"] for message in received.messages} == {"ada@example.com"}
{%- endif %}
