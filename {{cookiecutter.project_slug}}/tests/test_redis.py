"""Redis shared by several processes, and Redis failing: two real app processes never serve
each other's stale data and share rate limits; without Redis the service serves on."""

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.main import create_app
from app.models.item import Item
{%- if cookiecutter.auth != "none" %}
from tests.conftest import TEST_SECRET, Serve
{%- else %}
from tests.conftest import Serve
{%- endif %}

pytestmark = pytest.mark.anyio

ITEMS = "/api/v1/items"
PROJECT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@contextmanager
def redis_server(port: int) -> Iterator[None]:
    """A throwaway Redis on `port`, keeping nothing on disk."""
    process = subprocess.Popen(  # noqa: S603 - a fixed command line
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@asynccontextmanager
async def app_process(settings: Settings, **environment: str) -> AsyncIterator[str]:
    """The service in its own uvicorn process, configured like `settings`; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "REDIS_URL": settings.redis_url.get_secret_value(),
{%- if cookiecutter.auth != "none" %}
        "SECRET_KEY": TEST_SECRET,
{%- endif %}
        **environment,
    }
    command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
    process = subprocess.Popen(  # noqa: S603, ASYNC220 - the test's own command line
        [*command, "--port", str(port), "--no-access-log", "--no-proxy-headers"],
        cwd=PROJECT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    if (await http.get(f"{url}/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


{%- if cookiecutter.auth != "none" %}


async def test_two_processes_never_serve_each_other_s_stale_items(
    settings: Settings, clean_tables: AsyncEngine, credentials: dict[str, str]
) -> None:
    async with (
        app_process(settings) as first,
        app_process(settings) as second,
        httpx.AsyncClient(headers=credentials) as http,
    ):
{%- else %}


async def test_two_processes_never_serve_each_other_s_stale_items(
    settings: Settings, clean_tables: AsyncEngine
) -> None:
    async with (
        app_process(settings) as first,
        app_process(settings) as second,
        httpx.AsyncClient() as http,
    ):
{%- endif %}
        created = await http.post(f"{first}{ITEMS}", json={"title": "version 1"})
        assert created.status_code == 201, created.text
        item_url = f"{ITEMS}/{created.json()['id']}"
        for version in range(2, 7):
            # The second process reads (and caches) the item and the list...
            assert (await http.get(f"{second}{item_url}")).json()["title"] == (
                f"version {version - 1}"
            )
            listed = (await http.get(f"{second}{ITEMS}")).json()["items"]
            assert [entry["title"] for entry in listed] == [f"version {version - 1}"]
            # ...the first changes it, and the second's very next read is fresh.
            changed = await http.patch(f"{first}{item_url}", json={"title": f"version {version}"})
            assert changed.status_code == 200, changed.text
            fresh = await http.get(f"{second}{item_url}")
            assert fresh.json()["title"] == f"version {version}"
            assert fresh.headers["ETag"] == f'"{version}"'
            listed = (await http.get(f"{second}{ITEMS}")).json()["items"]
            assert [entry["title"] for entry in listed] == [f"version {version}"]
        assert (await http.delete(f"{first}{item_url}")).status_code == 204
        assert (await http.get(f"{second}{item_url}")).status_code == 404


async def test_two_processes_draw_on_one_rate_limit(
    settings: Settings, clean_tables: AsyncEngine
) -> None:
    async with (
        app_process(settings, RATE_LIMIT_CLIENT="6/minute") as first,
        app_process(settings, RATE_LIMIT_CLIENT="6/minute") as second,
        httpx.AsyncClient() as http,
    ):
        answers = [(await http.get(f"{url}{ITEMS}")).status_code for url in [first, second] * 3]
        assert 429 not in answers
        assert (await http.get(f"{first}{ITEMS}")).status_code == 429
        assert (await http.get(f"{second}{ITEMS}")).status_code == 429


async def test_the_service_serves_on_while_redis_is_down_and_caches_again_after(
    settings: Settings,
    serve: Serve,
    clean_tables: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    configured = settings.model_copy(
        update={"redis_url": SecretStr(f"redis://127.0.0.1:{port}/0"), "redis_timeout": 0.2}
    )
    cache_log = logging.getLogger("app.core.cache")
    with redis_server(port):
        async with serve(create_app(configured)) as http:
            cache_log.addHandler(caplog.handler)  # the app's logging setup replaced the root's
            created = await http.post(ITEMS, json={"title": "cached"})
            url = f"{ITEMS}/{created.json()['id']}"
            await http.get(url)
            await change_behind_the_api(clean_tables, created.json()["id"], "in the database")
            assert (await http.get(url)).json()["title"] == "cached"  # served by Redis

            stop = asyncio.get_running_loop().run_in_executor(None, stop_redis, port)
            await stop
            started = time.monotonic()
            answers = [await http.get(url) for _ in range(20)]
            assert {response.status_code for response in answers} == {200}
            assert answers[-1].json()["title"] == "in the database"  # the cache is bypassed
            assert (await http.post(ITEMS, json={"title": "written"})).status_code == 201
            assert time.monotonic() - started < 5  # no request waits out a timeout each
            ready = await http.get("/health/ready")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ok", "cache": "degraded"}
            cache_log.removeHandler(caplog.handler)
            outage_lines = [r for r in caplog.records if "cache unavailable" in r.getMessage()]
            assert len(outage_lines) == 1

            with redis_server(port):
                await asyncio.sleep(1.1)  # the cache rests a second after an error
                assert (await http.get("/health/ready")).json()["cache"] == "ok"
                await http.get(url)
                await change_behind_the_api(clean_tables, created.json()["id"], "later")
                assert (await http.get(url)).json()["title"] == "in the database"  # cached again


async def test_rate_limits_can_fail_closed_without_redis(
    settings: Settings, serve: Serve, clean_tables: AsyncEngine
) -> None:
    configured = settings.model_copy(
        update={
            "redis_url": SecretStr(f"redis://127.0.0.1:{free_port()}/0"),
            "redis_timeout": 0.2,
            "rate_limit_fail_open": False,
        }
    )
    async with serve(create_app(configured)) as http:
        refused = await http.get(ITEMS)
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["Retry-After"] == "1"


def stop_redis(port: int) -> None:
    """Shut the server down the way an outage would look: connections refused."""
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"SHUTDOWN NOSAVE\r\n")
        connection.recv(64)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(0.05)
        except OSError:
            return


async def change_behind_the_api(engine: AsyncEngine, item_id: str, title: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(Item).where(Item.id == uuid.UUID(item_id)).values(title=title)
        )
