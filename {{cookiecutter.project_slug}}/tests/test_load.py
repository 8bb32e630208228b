"""Bursts larger than the pool are served; a pool that stays full is "busy", not an outage."""

import asyncio
import logging

import pytest
from pydantic import SecretStr
from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import QueuePool
from starlette.requests import Request

from app.core.config import Settings
from app.core.errors import BusyError, to_problem
from app.core.logging import EpisodeLog
from app.db import engine as engine_module
from app.db.engine import Database, create_engine
from app.main import create_app
from tests.conftest import Serve
from tests.test_health import UNREACHABLE_DATABASE

pytestmark = pytest.mark.anyio

BURST = 64  # concurrent requests, against a pool of ...
POOL = 2


async def test_a_burst_far_larger_than_the_pool_is_served(settings: Settings, serve: Serve) -> None:
    small_pool = settings.model_copy(update={"database_pool_size": POOL})
    async with serve(create_app(small_pool)) as http:
        created = await http.post("/api/v1/items", json={"title": "read by everyone"})
        url = f"/api/v1/items/{created.json()['id']}"

        async def read(number: int) -> int:
            response = await (http.get(url) if number % 2 else http.get("/api/v1/items"))
            return response.status_code

        statuses = await asyncio.gather(*(read(number) for number in range(BURST)))

    assert statuses == [200] * BURST


async def test_requests_queue_for_connections_first_come_first_served(
    settings: Settings,
) -> None:
    database = Database(
        create_engine(settings), settings.model_copy(update={"database_pool_size": 1})
    )
    order: list[int] = []

    async def take_turn(number: int) -> None:
        async with database.connect():
            order.append(number)
            await asyncio.sleep(0)  # let the others queue up meanwhile

    try:
        async with database.connect():  # everyone arrives while the one connection is taken
            waiting = [asyncio.create_task(take_turn(number)) for number in range(20)]
            await asyncio.sleep(0.05)
        await asyncio.gather(*waiting)
    finally:
        await database.dispose()

    assert order == list(range(20))


async def test_a_connection_given_back_goes_to_the_next_request_while_warm(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(settings)
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    database = Database(engine, settings)
    try:
        async with database.connect() as first:
            pass
        async with database.connect() as second:  # straight after: handed over as it is
            pass
        monkeypatch.setattr(engine_module, "_WARM_SECONDS", 0.0)
        async with database.connect() as third:  # gone cold: a new one from the pool
            pass
        assert pool.checkedout() == 1  # the third, kept warm
    finally:
        await database.dispose()

    assert second is first
    assert third is not first
    assert first.closed
    assert pool.checkedout() == 0  # disposing gave the warm one back too


async def test_no_warm_connection_is_reused_after_one_was_found_lost(settings: Settings) -> None:
    engine = create_engine(settings)

    def as_if_lost(context: ExceptionContext) -> None:
        context.is_disconnect = True  # what the driver's error says when the server is gone

    event.listen(engine.sync_engine, "handle_error", as_if_lost)
    database = Database(engine, settings)
    try:
        async with database.connect() as one, database.connect() as other:
            pass
        with pytest.raises(DBAPIError) as lost:
            async with database.connect() as failing:
                await failing.execute(text("SELECT * FROM no_such_table"))
        async with database.connect() as after:
            await after.execute(text("SELECT 1"))
    finally:
        await database.dispose()

    assert lost.value.connection_invalidated
    assert after is not one
    assert after is not other


async def test_waiting_past_the_pool_timeout_is_busy_and_logged_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    impatient = settings.model_copy(update={"database_pool_size": 1, "database_pool_timeout": 0.05})
    database = Database(create_engine(impatient), impatient)
    refused = 0
    try:
        async with database.connect():
            for _ in range(5):
                with pytest.raises(BusyError):
                    async with database.connect():
                        pass  # never reached: the only connection is taken
                refused += 1
    finally:
        await database.dispose()

    assert refused == 5
    busy_lines = [r for r in caplog.records if "no database connection free" in r.getMessage()]
    assert len(busy_lines) == 1
    assert busy_lines[0].levelno == logging.WARNING


async def test_a_full_pool_answers_503_busy_with_retry_after() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    response = await to_problem(request, PoolTimeoutError("QueuePool limit reached"))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert b"The service is busy" in bytes(response.body)
    assert b"unavailable" not in bytes(response.body)


def test_an_episode_of_failures_logs_a_few_lines_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.episodes")
    episode = EpisodeLog(logger, logging.ERROR, interval=60.0)
    with caplog.at_level(logging.ERROR, logger="tests.episodes"):
        for _ in range(100):
            episode.record("database unavailable: %s", "refused")

    assert [r.getMessage() for r in caplog.records] == [
        "database unavailable: refused (1 times since the last report)"
    ]


async def test_an_unreachable_database_is_an_outage_not_busy(
    settings: Settings, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = settings.model_copy(update={"database_url": SecretStr(UNREACHABLE_DATABASE)})
    async with serve(create_app(unreachable)) as http:
        responses = [await http.get("/api/v1/items") for _ in range(10)]

    assert {response.status_code for response in responses} == {503}
    assert responses[0].json()["detail"] == "The database is unavailable; try again shortly."
    # One line at most (none when an earlier test's outage was reported moments ago).
    outage_lines = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(outage_lines) <= 1
