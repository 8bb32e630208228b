"""The task outbox and a worker's runtime, in-process: enqueue, relay, claim, retry, give up."""

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from anyio import to_thread
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import worker
from app.core.config import Settings, get_settings
from app.core.errors import NotFoundError
from app.db.engine import transaction
from app.models.task import Task
from app.services import tasks

pytestmark = pytest.mark.anyio


@pytest.fixture
def task_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"task_max_attempts": 3, "task_retry_base": 4.0, "task_retry_cap": 10.0}
    )


async def _row(engine: AsyncEngine, task_id: uuid.UUID) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (await connection.execute(select(Task).where(Task.id == task_id))).mappings().one()
    return dict(row)


async def _enqueue(engine: AsyncEngine, name: str = "tests.journal") -> uuid.UUID:
    async with engine.connect() as connection:
        return await tasks.enqueue(connection, name, {"tag": "t"})


async def _queued(engine: AsyncEngine, settings: Settings) -> uuid.UUID:
    task_id = await _enqueue(engine)
    sent: list[uuid.UUID] = []

    async def send(sent_id: uuid.UUID) -> None:
        sent.append(sent_id)

    async with engine.connect() as connection:
        await tasks.relay_due(connection, settings, send)
    assert task_id in sent
    return task_id


async def _enqueue_then_fail(connection: AsyncConnection) -> None:
    async with transaction(connection):
        await tasks.enqueue(connection, "tests.journal", {"tag": "lost"})
        raise RuntimeError("the change failed")


async def test_a_task_exists_only_if_its_transaction_commits(clean_tables: AsyncEngine) -> None:
    async with clean_tables.connect() as connection:
        async with transaction(connection):
            kept = await tasks.enqueue(connection, "tests.journal", {"tag": "kept"})
        with pytest.raises(RuntimeError):
            await _enqueue_then_fail(connection)
        ids = list(await connection.scalars(select(Task.id)))
    assert ids == [kept]
    row = await _row(clean_tables, kept)
    assert (row["state"], row["attempts"], row["payload"]) == ("pending", 0, {"tag": "kept"})


async def test_the_relay_sends_due_tasks_once_and_leases_them(
    clean_tables: AsyncEngine, settings: Settings
) -> None:
    due = [await _enqueue(clean_tables) for _ in range(3)]
    later = await _enqueue(clean_tables)
    async with clean_tables.connect() as connection:
        await connection.execute(
            update(Task)
            .where(Task.id == later)
            .values(due_at=datetime.now(UTC) + timedelta(hours=1))
        )
    sent: list[uuid.UUID] = []

    async def send(task_id: uuid.UUID) -> None:
        sent.append(task_id)

    async with clean_tables.connect() as connection:
        assert await tasks.relay_due(connection, settings, send) == 3
        assert await tasks.relay_due(connection, settings, send) == 0
    assert sorted(sent) == sorted(due)
    row = await _row(clean_tables, due[0])
    assert row["state"] == "queued"
    assert row["due_at"] > datetime.now(UTC) + timedelta(seconds=settings.task_lease - 60)


async def test_a_broker_failure_keeps_unsent_tasks_due(
    clean_tables: AsyncEngine, settings: Settings
) -> None:
    first = await _enqueue(clean_tables)
    second = await _enqueue(clean_tables)
    sent: list[uuid.UUID] = []

    async def send_one_then_fail(task_id: uuid.UUID) -> None:
        if sent:
            raise ConnectionError("the broker went away")
        sent.append(task_id)

    async with clean_tables.connect() as connection:
        with pytest.raises(ConnectionError):
            await tasks.relay_due(connection, settings, send_one_then_fail)
    states = {(await _row(clean_tables, task_id))["state"] for task_id in (first, second)}
    assert states == {"queued", "pending"}


async def test_a_task_is_claimed_only_while_sent_or_running(
    clean_tables: AsyncEngine, settings: Settings
) -> None:
    task_id = await _queued(clean_tables, settings)
    pending = await _enqueue(clean_tables)
    async with clean_tables.connect() as connection:
        assert await tasks.claim(connection, settings, pending) is None
        assert await tasks.claim(connection, settings, uuid.uuid4()) is None
        claimed = await tasks.claim(connection, settings, task_id)
        assert claimed is not None
        assert (claimed.name, claimed.attempt) == ("tests.journal", 1)
        assert claimed.payload == {"tag": "t"}
        # A worker that died mid-task left it running: its redelivery runs it again.
        again = await tasks.claim(connection, settings, task_id)
        assert again is not None
        assert again.attempt == 2
        await tasks.finish(connection, task_id)
        assert await tasks.claim(connection, settings, task_id) is None
    assert (await _row(clean_tables, task_id))["state"] == "done"


async def test_failures_back_off_then_the_task_is_dead_until_retried(
    clean_tables: AsyncEngine, task_settings: Settings
) -> None:
    task_id = await _queued(clean_tables, task_settings)
    async with clean_tables.connect() as connection:
        claimed = await tasks.claim(connection, task_settings, task_id)
        assert claimed is not None
        before = datetime.now(UTC)
        assert await tasks.fail(connection, task_settings, claimed, "boom") == "pending"
    row = await _row(clean_tables, task_id)
    assert row["last_error"] == "boom"
    waited = (row["due_at"] - before).total_seconds()
    assert 2.0 - 0.5 <= waited <= 4.0 + 0.5  # half the base, up to the base

    last = tasks.Claimed(id=task_id, name="tests.journal", payload={}, attempt=3)
    async with clean_tables.connect() as connection:
        assert await tasks.fail(connection, task_settings, last, "x" * 5000) == "dead"
        dead = await tasks.list_tasks(connection, "dead", 10)
        assert [task["id"] for task in dead] == [task_id]
        assert len(dead[0]["last_error"]) == 2000
        await tasks.retry_dead(connection, task_id)
        with pytest.raises(NotFoundError):
            await tasks.retry_dead(connection, task_id)
    row = await _row(clean_tables, task_id)
    assert (row["state"], row["attempts"]) == ("pending", 0)


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 4.0), (2, 8.0), (3, 10.0), (30, 10.0)])
def test_backoff_doubles_up_to_the_cap_with_jitter(
    task_settings: Settings, attempt: int, ceiling: float
) -> None:
    waits = [tasks.backoff(task_settings, attempt) for _ in range(200)]
    assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
    assert len(set(waits)) > 1


@pytest.fixture
async def runtime(
    task_settings: Settings, clean_tables: AsyncEngine
) -> AsyncIterator[worker.Runtime]:
    running = worker.Runtime(task_settings)
    yield running
    await running.close()


async def test_the_runtime_runs_a_task_once_and_records_failures(
    runtime: worker.Runtime,
    clean_tables: AsyncEngine,
    task_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[dict[str, Any]] = []

    async def record(_: worker.Runtime, payload: dict[str, Any]) -> None:
        ran.append(payload)

    async def explode(*_: object) -> None:
        raise ValueError("nope")

    monkeypatch.setitem(worker.HANDLERS, "tests.journal", record)
    done = await _queued(clean_tables, task_settings)
    await runtime.run(done)
    await runtime.run(done)  # a second delivery of a finished task
    assert ran == [{"tag": "t"}]
    assert (await _row(clean_tables, done))["state"] == "done"

    monkeypatch.setitem(worker.HANDLERS, "tests.journal", explode)
    failing = await _queued(clean_tables, task_settings)
    await runtime.run(failing)
    row = await _row(clean_tables, failing)
    assert (row["state"], row["last_error"]) == ("pending", "ValueError('nope')")

    async with clean_tables.connect() as connection:
        unknown = await tasks.enqueue(connection, "no.such.task", {})
        await tasks.relay_due(connection, task_settings, _ignore)
    await runtime.run(unknown)
    assert "no handler" in (await _row(clean_tables, unknown))["last_error"]


async def _ignore(_: uuid.UUID) -> None:
    return None


@pytest.fixture
def environment(
    settings: Settings, clean_tables: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point the commands at the test database, as a deployment's environment does."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
{%- if cookiecutter.auth != "none" %}
    monkeypatch.setenv("SECRET_KEY", settings.secret_key.get_secret_value())
{%- endif %}
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("environment")
async def test_operators_list_dead_tasks_and_retry_them(
    clean_tables: AsyncEngine, task_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id = await _queued(clean_tables, task_settings)
    async with clean_tables.connect() as connection:
        last = tasks.Claimed(id=task_id, name="tests.journal", payload={}, attempt=3)
        await tasks.fail(connection, task_settings, last, "RuntimeError('smtp down')")

    assert await _in_thread(["dead"]) == 0
    listed = capsys.readouterr()
    assert str(task_id) in listed.out
    assert "RuntimeError('smtp down')" in listed.out
    assert "1 dead task(s)" in listed.err

    assert await _in_thread(["retry", str(task_id)]) == 0
    assert (await _row(clean_tables, task_id))["state"] == "pending"
    assert await _in_thread(["retry", str(task_id)]) == 1
    assert "No dead task" in capsys.readouterr().err


@pytest.mark.usefixtures("environment")
async def test_operators_purge_tasks_done_long_ago(
    clean_tables: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    old, recent, waiting = [await _enqueue(clean_tables) for _ in range(3)]
    async with clean_tables.connect() as connection:
        for task_id, age in ((old, timedelta(days=8)), (recent, timedelta(days=1))):
            await connection.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(state="done", updated_at=datetime.now(UTC) - age)
            )

    assert await _in_thread(["purge-done", "--days", "7"]) == 0
    assert "deleted 1 done task(s)" in capsys.readouterr().out
    async with clean_tables.connect() as connection:
        left = set(await connection.scalars(select(Task.id)))
    assert left == {recent, waiting}


async def _in_thread(argv: list[str]) -> int:
    """The commands run their own event loop, so they run beside the test's."""
    return await to_thread.run_sync(worker.main, argv)


def test_health_follows_the_relay_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heartbeat = tmp_path / "alive"
    monkeypatch.setattr(worker, "HEARTBEAT", heartbeat)
    assert worker.main(["health"]) == 1
    heartbeat.touch()
    assert worker.main(["health"]) == 0
