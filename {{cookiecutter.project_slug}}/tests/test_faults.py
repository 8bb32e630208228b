"""The database goes away and comes back, through a real network interruption.

A small TCP proxy sits between the app and the database server. The test cuts it while
the same app instance keeps serving, then restores it: every request in between must end
in 503 problem+json within a bound that the settings give, and the first ones after must
succeed, with no restart.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from httpx import AsyncClient, Response
from pydantic import SecretStr
from sqlalchemy import make_url, text
from starlette.requests import Request

from app.core.config import Settings
from app.core.errors import to_problem
from app.db.engine import Database, create_engine, transaction
from app.main import create_app
from tests.conftest import Serve

pytestmark = pytest.mark.anyio

ITEMS = "/api/v1/items"
TIMEOUT = 1.0  # seconds: DATABASE_TIMEOUT and HEALTH_TIMEOUT in these tests
BOUND = TIMEOUT + 1.0  # what a request may take during an outage, on a busy machine


class Interruption:
    """A TCP proxy to the database that the test can interrupt in two ways, and restore.

    `refuse()` resets every connection and stops listening, as a stopped server does.
    `blackhole()` keeps every connection open but carries nothing, and accepts new ones
    that are never answered, as a network that silently drops packets does.
    """

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._ends: set[asyncio.StreamWriter] = set()
        self._carrying = True
        self.port = 0  # chosen by the system at the first start, kept after

    async def start(self) -> None:
        self._carrying = True
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def refuse(self) -> None:
        self._stop_listening()
        self._reset_all()

    def blackhole(self) -> None:
        self._carrying = False

    async def restore(self) -> None:
        """Carry traffic again. Connections that lost data on the way are reset, and the
        resets are given a moment to reach the app."""
        self._reset_all()
        if self._server is None:
            await self.start()
        self._carrying = True
        await asyncio.sleep(0.1)

    def close(self) -> None:
        self._stop_listening()
        self._reset_all()

    def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _reset_all(self) -> None:
        for end in self._ends:
            end.transport.abort()
        self._ends.clear()

    async def _accept(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        self._ends.add(to_client)
        if not self._carrying:
            await self._pump(client, None)  # accepted, and never answered
            return
        try:
            server, to_server = await asyncio.open_connection(*self._upstream)
        except OSError:
            to_client.transport.abort()
            return
        self._ends.add(to_server)
        await asyncio.gather(self._pump(client, to_server), self._pump(server, to_client))

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter | None) -> None:
        """Copy `source` to `sink` while carrying; what arrives meanwhile is dropped."""
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                if self._carrying and sink is not None:
                    sink.write(data)
                    await sink.drain()
        if sink is not None:
            sink.transport.abort()


@pytest.fixture
async def interruption(settings: Settings) -> AsyncIterator[Interruption]:
    url = make_url(settings.database_url.get_secret_value())
    assert url.host is not None
    assert url.port is not None, "DATABASE_URL must name the port for the proxy to forward to"
    proxy = Interruption(url.host, url.port)
    await proxy.start()
    yield proxy
    proxy.close()


@pytest.fixture
def proxied(settings: Settings, interruption: Interruption) -> Settings:
    """The test settings, with the database behind the proxy and short timeouts."""
    url = make_url(settings.database_url.get_secret_value())
    through_proxy = url.set(host="127.0.0.1", port=interruption.port)
    return settings.model_copy(
        update={
            "database_url": SecretStr(through_proxy.render_as_string(hide_password=False)),
            "database_timeout": TIMEOUT,
            "health_timeout": TIMEOUT,
        }
    )


async def timed(request: Callable[[], Awaitable[Response]]) -> tuple[Response, float]:
    """The response and the seconds it took; a request that hangs fails the test."""
    started = time.perf_counter()
    async with asyncio.timeout(10 * BOUND):
        response = await request()
    return response, time.perf_counter() - started


async def outage_requests(http: AsyncClient) -> dict[str, tuple[Response, float]]:
    """Reads and writes that need the database (none of them can be served from a cache),
    then the readiness probe, each on its own, in this order."""
    return {
        "read": await timed(lambda: http.get(f"{ITEMS}/{uuid.uuid4()}")),
        "create": await timed(lambda: http.post(ITEMS, json={"title": "during"})),
        "create again": await timed(lambda: http.post(ITEMS, json={"title": "during"})),
        "ready": await timed(lambda: http.get("/health/ready")),
    }


@pytest.mark.parametrize("cut", ["refused", "blackholed"])
async def test_an_outage_is_503_within_the_timeout_and_passes_without_a_restart(
    proxied: Settings, serve: Serve, interruption: Interruption, cut: str
) -> None:
    async with serve(create_app(proxied)) as http:
        # Fill the pool with connections through the proxy, then cut them off.
        before = await asyncio.gather(*(http.post(ITEMS, json={"title": "b"}) for _ in range(8)))
        if cut == "refused":
            interruption.refuse()
        else:
            interruption.blackhole()
        during = await outage_requests(http)
        await interruption.restore()
        read = await http.get(f"{ITEMS}/{before[0].json()['id']}")
        created = await http.post(ITEMS, json={"title": "after"})
        ready = await http.get("/health/ready")

    assert [response.status_code for response in before] == [201] * 8
    for name, (response, seconds) in during.items():
        assert response.status_code == 503, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json", name
        assert seconds < BOUND, (name, seconds)
    for name in ["read", "create", "create again"]:
        response, _ = during[name]
        assert response.json()["detail"] == "The database is unavailable; try again shortly."
        assert int(response.headers["retry-after"]) > 0, name
    assert (read.status_code, created.status_code, ready.status_code) == (200, 201, 200)


async def test_a_transaction_cut_off_ends_in_503_within_the_timeout(
    proxied: Settings, interruption: Interruption
) -> None:
    """Writes of several statements run in `transaction()`, which switches the connection's
    isolation level: on MySQL a statement that SQLAlchemy runs outside its error handling."""
    database = Database(create_engine(proxied), proxied)

    async def write() -> None:
        async with database.connect() as connection, transaction(connection):
            await connection.execute(text("SELECT 1"))

    outcomes: list[tuple[int, float]] = []
    try:
        for cut in (interruption.refuse, interruption.blackhole):
            await write()
            cut()
            started = time.perf_counter()
            with pytest.raises(Exception) as failure:  # noqa: PT011 - any error the handlers map
                await write()
            seconds = time.perf_counter() - started
            request = Request({"type": "http", "method": "POST", "path": "/", "headers": []})
            outcomes.append(((await to_problem(request, failure.value)).status_code, seconds))
            await interruption.restore()
        await write()  # and the next one succeeds
    finally:
        await database.dispose()

    assert [status for status, _ in outcomes] == [503, 503]
    assert all(seconds < BOUND for _, seconds in outcomes), outcomes
