"""The response cache: hits skip the database, writes invalidate what they affect at once,
and authorization is checked on every request, cached answer or not."""

import asyncio
import uuid
{%- if cookiecutter.auth == "api_key" %}
from datetime import UTC, datetime
{%- endif %}
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
{% if cookiecutter.cache == "redis" %}
from app.core.cache import Cache, RedisCache, connect_redis
{%- else %}
from app.core.cache import Cache, MemoryCache
{%- endif %}
{%- if cookiecutter.cache == "redis" or cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from app.core.config import Settings
{%- endif %}
{%- if cookiecutter.auth == "api_key" %}
from app.models.api_key import ApiKey
{%- endif %}
from app.models.item import Item
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from app.models.user import User
from app.services import tokens, users
from tests.conftest import TEST_ORIGIN
{%- endif %}

pytestmark = pytest.mark.anyio

ITEMS = "/api/v1/items"


async def create(http: AsyncClient, title: str) -> dict[str, Any]:
    response = await http.post(ITEMS, json={"title": title})
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


async def change_behind_the_api(engine: AsyncEngine, item_id: str, title: str) -> None:
    """Edit the row directly: only a request that skips the cache can see this."""
    async with engine.begin() as connection:
        await connection.execute(
            update(Item).where(Item.id == uuid.UUID(item_id)).values(title=title)
        )


async def test_reads_are_served_from_the_cache_until_a_write(
    client: AsyncClient, clean_tables: AsyncEngine
) -> None:
    item = await create(client, "original")
    url = f"{ITEMS}/{item['id']}"
    assert (await client.get(url)).json()["title"] == "original"
    assert (await client.get(ITEMS)).json()["items"][0]["title"] == "original"

    await change_behind_the_api(clean_tables, item["id"], "changed behind the cache")
    assert (await client.get(url)).json()["title"] == "original"  # a hit: no query ran
    assert (await client.get(ITEMS)).json()["items"][0]["title"] == "original"

    await create(client, "another")  # any write of this owner's invalidates their pages
    assert (await client.get(url)).json()["title"] == "changed behind the cache"
    titles = [entry["title"] for entry in (await client.get(ITEMS)).json()["items"]]
    assert titles == ["another", "changed behind the cache"]


async def test_nobody_reads_their_own_write_stale(client: AsyncClient) -> None:
    item = await create(client, "first")
    url = f"{ITEMS}/{item['id']}"
    await client.get(url)
    await client.get(ITEMS)

    patched = await client.patch(url, json={"title": "second"})
    assert patched.status_code == 200
    read = await client.get(url)
    assert read.json()["title"] == "second"
    assert read.headers["ETag"] == patched.headers["ETag"] == '"2"'
    assert [entry["title"] for entry in (await client.get(ITEMS)).json()["items"]] == ["second"]

    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.get(ITEMS)).json()["items"] == []
{%- if cookiecutter.cache == "redis" %}


async def test_a_load_that_races_an_invalidation_is_not_kept(settings: Settings) -> None:
{%- else %}


async def test_a_load_that_races_an_invalidation_is_not_kept() -> None:
{%- endif %}
    """A reader that queried before a write finished must not cache what it read."""
{%- if cookiecutter.cache == "redis" %}
    client = connect_redis(settings)
    cache: Cache = RedisCache(client, ttl=60)
{%- else %}
    cache: Cache = MemoryCache(ttl=60, max_bytes=1_000_000)
{%- endif %}
    scope = f"test:{uuid.uuid4()}"
    loading = asyncio.Event()
    release = asyncio.Event()

    async def slow_stale_load() -> bytes:
        loading.set()
        await release.wait()
        return b"stale"

    async def fresh_load() -> bytes:
        return b"fresh"

    reader = asyncio.create_task(cache.fetch(scope, "key", slow_stale_load))
    await loading.wait()
    await cache.invalidate(scope)  # the write commits while the reader is still loading
    release.set()
    assert await reader == b"stale"  # the racing reader answers with what it read...
    assert await cache.fetch(scope, "key", fresh_load) == b"fresh"  # ...and keeps nothing
    assert await cache.fetch(scope, "key", slow_stale_load) == b"fresh"  # a hit now
{%- if cookiecutter.cache == "redis" %}
    await client.aclose()
{%- endif %}
{%- if cookiecutter.cache == "memory" %}


async def test_entries_expire_after_the_ttl() -> None:
    """Another process's write reaches this one's cache no later than CACHE_TTL seconds."""
    cache = MemoryCache(ttl=0.2, max_bytes=1_000_000)
    loads = 0

    async def load() -> bytes:
        nonlocal loads
        loads += 1
        return str(loads).encode()

    assert await cache.fetch("scope", "key", load) == b"1"
    assert await cache.fetch("scope", "key", load) == b"1"
    await asyncio.sleep(0.3)
    assert await cache.fetch("scope", "key", load) == b"2"


async def test_the_cache_holds_at_most_its_byte_budget() -> None:
    cache = MemoryCache(ttl=60, max_bytes=100)

    async def forty_bytes() -> bytes:
        return b"x" * 40

    for key in "abcd":
        await cache.fetch("scope", key, forty_bytes)

    async def other() -> bytes:
        return b"reloaded"

    held = [await cache.fetch("scope", key, other) == b"x" * 40 for key in "abcd"]
    assert held.count(True) <= 2  # 100 bytes hold two entries of 40
{%- endif %}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


async def test_a_deactivated_user_is_refused_though_their_item_is_cached(
    client: AsyncClient, clean_tables: AsyncEngine
) -> None:
    item = await create(client, "mine")
    url = f"{ITEMS}/{item['id']}"
    assert (await client.get(url)).status_code == 200
    async with clean_tables.begin() as connection:
        await connection.execute(update(User).values(is_active=False))
    assert (await client.get(url)).status_code == 401
    assert (await client.get(ITEMS)).status_code == 401


async def test_superusers_never_see_a_stale_page_of_everyone_s_items(
    settings: Settings, client: AsyncClient, clean_tables: AsyncEngine
) -> None:
    async with clean_tables.connect() as connection:
        admin = await users.create_user(
            connection, "admin@example.com", "an admin password", TEST_ORIGIN, is_superuser=True
        )
        pair = await tokens.issue_pair(connection, settings, admin["id"], version=0)
    as_admin = {"Authorization": f"Bearer {pair['access_token']}"}

    async def everyone_s() -> list[str]:
        page = (await client.get(ITEMS, headers=as_admin)).json()
        return [entry["id"] for entry in page["items"]]

    assert await everyone_s() == []
    item = await create(client, "a user's item")
    assert await everyone_s() == [item["id"]]
    # A superuser's change shows in the owner's own cached views.
    url = f"{ITEMS}/{item['id']}"
    await client.get(url)
    await client.patch(url, json={"title": "edited by an admin"}, headers=as_admin)
    assert (await client.get(url)).json()["title"] == "edited by an admin"
    assert (await client.delete(url, headers=as_admin)).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.get(ITEMS)).json()["items"] == []
    # Deleting a user deletes their items: no page of everyone's keeps them.
    await create(client, "gone with its owner")
    assert len(await everyone_s()) == 1
    owner = (await client.get("/api/v1/users/me")).json()["id"]
    assert (await client.delete(f"/api/v1/users/{owner}", headers=as_admin)).status_code == 204
    assert await everyone_s() == []
{%- elif cookiecutter.auth == "api_key" %}


async def test_a_revoked_key_is_refused_though_the_item_is_cached(
    client: AsyncClient, clean_tables: AsyncEngine
) -> None:
    item = await create(client, "cached")
    url = f"{ITEMS}/{item['id']}"
    assert (await client.get(url)).status_code == 200
    async with clean_tables.begin() as connection:
        await connection.execute(update(ApiKey).values(revoked_at=datetime.now(UTC)))
    assert (await client.get(url)).status_code == 401
{%- endif %}


async def test_conditional_reads_answer_304_without_a_body(client: AsyncClient) -> None:
    item = await create(client, "tagged")
    url = f"{ITEMS}/{item['id']}"
    first = await client.get(url)
    tag = first.headers["ETag"]
    assert tag == '"1"'
{%- if cookiecutter.auth != "none" %}
    assert first.headers["Cache-Control"] == "private, no-cache"
{%- else %}
    assert first.headers["Cache-Control"] == "no-cache"
{%- endif %}
    for held in (tag, f"W/{tag}", f'"7", {tag}', "*"):
        again = await client.get(url, headers={"If-None-Match": held})
        assert again.status_code == 304, held
        assert again.content == b""
        assert again.headers["ETag"] == tag
    assert (await client.get(url, headers={"If-None-Match": '"0"'})).status_code == 200

    page = await client.get(ITEMS)
    page_tag = page.headers["ETag"]
    assert page_tag.startswith('"')
    assert page_tag != tag
    assert (await client.get(ITEMS, headers={"If-None-Match": page_tag})).status_code == 304
    await client.patch(url, json={"title": "changed"})
    changed = await client.get(ITEMS, headers={"If-None-Match": page_tag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != page_tag
    assert (await client.get(url, headers={"If-None-Match": tag})).status_code == 200
