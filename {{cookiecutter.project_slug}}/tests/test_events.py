{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
"""The event source: an event for each committed change, none for one rolled back, in the
order written, readable after a given event, each matching its documented schema."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from pydantic import TypeAdapter
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.engine import after_commit, transaction
from app.models.event import Event as EventRow
from app.schemas.event import Event
from app.schemas.item import ItemCreate
{%- if jwt %}
from app.services import events, items, users
{%- else %}
from app.services import events, items
{%- endif %}
{%- if jwt %}
from tests.conftest import TEST_ORIGIN, USER_PASSWORD
{%- endif %}

pytestmark = pytest.mark.anyio

EVENTS = "/api/v1/events"
ITEMS = "/api/v1/items"
_EVENT = TypeAdapter(Event)


async def _nothing() -> None:
    return None


async def _all_events(client: AsyncClient, after: str | None = None) -> list[dict[str, Any]]:
    params = {"limit": "100"} if after is None else {"limit": "100", "after": after}
    response = await client.get(EVENTS, params=params)
    assert response.status_code == 200, response.text
    page: list[dict[str, Any]] = response.json()["items"]
    return page


async def test_each_change_is_an_event_carrying_the_resource_as_the_api_returns_it(
    client: AsyncClient,
) -> None:
    created = (await client.post(ITEMS, json={"title": "draft"})).json()
    changed = await client.patch(f"{ITEMS}/{created['id']}", json={"title": "final"})
    assert changed.status_code == 200, changed.text
    deleted = await client.delete(f"{ITEMS}/{created['id']}")
    assert deleted.status_code == 204, deleted.text

    listed = await _all_events(client)

    assert [event["type"] for event in listed] == ["item.created", "item.updated", "item.deleted"]
    assert [event["data"] for event in listed] == [created, changed.json(), {"id": created["id"]}]
    assert len({event["id"] for event in listed}) == 3
    for event in listed:
        _EVENT.validate_python(event)  # the documented schema of its type
    stamps = [datetime.fromisoformat(event["timestamp"]) for event in listed]
    assert stamps == sorted(stamps)


async def test_reading_after_an_event_gives_only_the_later_ones(client: AsyncClient) -> None:
    for title in ("one", "two", "three"):
        assert (await client.post(ITEMS, json={"title": title})).status_code == 201
    first, *later = await _all_events(client)

    rest = await _all_events(client, after=first["id"])
    assert rest == later
    assert await _all_events(client, after=later[-1]["id"]) == []
    page = await client.get(EVENTS, params={"limit": "1", "after": first["id"]})
    assert page.json()["items"] == later[:1]


async def test_an_unknown_or_expired_resume_point_is_gone_not_guessed(
    client: AsyncClient, clean_tables: AsyncEngine
) -> None:
    unknown = await client.get(EVENTS, params={"after": str(uuid.uuid4())})
    assert unknown.status_code == 410
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "event" in unknown.json()["detail"]

    assert (await client.post(ITEMS, json={"title": "old"})).status_code == 201
    (old,) = await _all_events(client)
    async with clean_tables.connect() as connection:
        await connection.execute(
            update(EventRow).values(occurred_at=datetime.now(UTC) - timedelta(days=365))
        )
    assert await _all_events(client) == []  # past retention: not served, even before purging
    assert (await client.get(EVENTS, params={"after": old["id"]})).status_code == 410
    async with clean_tables.connect() as connection:
        assert await events.purge(connection, datetime.now(UTC) - timedelta(days=1)) == 1
        assert await connection.scalar(select(func.count()).select_from(EventRow)) == 0


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "-1"}, {"after": "not-a-uuid"}, {"page": "2"}],
)
async def test_bad_queries_are_refused_with_a_problem(
    client: AsyncClient, query: dict[str, str]
) -> None:
    response = await client.get(EVENTS, params=query)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
{%- if jwt %}


async def _create_then_fail(connection: AsyncConnection, owner: uuid.UUID) -> None:
    async with transaction(connection):
        await items.create_item(connection, ItemCreate(title="lost"), owner)
        raise RuntimeError("the request failed after the change")


async def test_a_rolled_back_change_leaves_no_event_and_tells_no_listener(
    clean_tables: AsyncEngine, client: AsyncClient
) -> None:
{%- else %}


async def _create_then_fail(connection: AsyncConnection) -> None:
    async with transaction(connection):
        await items.create_item(connection, ItemCreate(title="lost"))
        raise RuntimeError("the request failed after the change")


async def test_a_rolled_back_change_leaves_no_event_and_tells_no_listener(
    clean_tables: AsyncEngine,
) -> None:
{%- endif %}
    heard: list[events.Message] = []

    async def listener(message: events.Message) -> None:
        heard.append(message)

    stop = events.listen(clean_tables, listener)
    try:
{%- if jwt %}
        owner = uuid.UUID((await client.get("/api/v1/users/me")).json()["id"])
{%- endif %}
        async with clean_tables.connect() as connection:
            with pytest.raises(RuntimeError):
{%- if jwt %}
                await _create_then_fail(connection, owner)
{%- else %}
                await _create_then_fail(connection)
{%- endif %}
            assert await connection.scalar(select(func.count()).select_from(EventRow)) == 0
            assert heard == []
{%- if jwt %}
            kept = await items.create_item(connection, ItemCreate(title="kept"), owner)
{%- else %}
            kept = await items.create_item(connection, ItemCreate(title="kept"))
{%- endif %}
    finally:
        stop()
    assert [message.body["type"] for message in heard] == ["item.created"]
    assert heard[0].body["data"]["id"] == str(kept["id"])
{%- if jwt %}
    assert heard[0].owner_id == owner
{%- endif %}
    _EVENT.validate_python(heard[0].body)
{%- if jwt %}


async def test_listeners_hear_after_the_commit_and_one_failing_spares_the_rest(
    clean_tables: AsyncEngine, client: AsyncClient
) -> None:
{%- else %}


async def test_listeners_hear_after_the_commit_and_one_failing_spares_the_rest(
    clean_tables: AsyncEngine,
) -> None:
{%- endif %}
    seen_committed: list[int] = []

    async def counts(_: events.Message) -> None:
        async with clean_tables.connect() as other:  # another connection sees only commits
            seen_committed.append(
                await other.scalar(select(func.count()).select_from(EventRow)) or 0
            )

    async def broken(_: events.Message) -> None:
        raise RuntimeError("a listener's own trouble")

    stops = [events.listen(clean_tables, broken), events.listen(clean_tables, counts)]
{%- if jwt %}
    owner = uuid.UUID((await client.get("/api/v1/users/me")).json()["id"])
{%- endif %}
    try:
        async with clean_tables.connect() as connection:
            for title in ("a", "b"):
{%- if jwt %}
                await items.create_item(connection, ItemCreate(title=title), owner)
{%- else %}
                await items.create_item(connection, ItemCreate(title=title))
{%- endif %}
            with pytest.raises(RuntimeError, match="open transaction"):
                after_commit(connection, _nothing)  # outside a transaction: refused
    finally:
        for stop in stops:
            stop()
    assert seen_committed == [1, 2]
{%- if jwt %}


async def test_account_changes_are_events_of_that_account_only(
    client: AsyncClient, clean_tables: AsyncEngine
) -> None:
    me = (await client.get("/api/v1/users/me")).json()
    my_id = uuid.UUID(me["id"])
    async with clean_tables.connect() as connection:
        other = await users.create_user(connection, "other@example.com", USER_PASSWORD, TEST_ORIGIN)
        await users.update_user(connection, my_id, {"is_superuser": True}, TEST_ORIGIN)
        await users.update_user(connection, other["id"], {"is_active": False}, TEST_ORIGIN)
    changed = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": USER_PASSWORD, "new_password": "another long passphrase"},
    )
    assert changed.status_code == 204, changed.text

    async with clean_tables.connect() as connection:
        mine = await events.replay(connection, my_id, None, 10, timedelta(hours=1))
        theirs = await events.replay(connection, other["id"], None, 10, timedelta(hours=1))
    assert [event["type"] for event in mine] == ["user.updated", "user.password_changed"]
    assert mine[0]["data"]["is_superuser"] is True
    assert {event["data"]["id"] for event in mine} == {me["id"]}
    assert [(event["type"], event["data"]["is_active"]) for event in theirs] == [
        ("user.updated", False)
    ]
    for event in mine + theirs:
        _EVENT.validate_python(event)
{%- endif %}
