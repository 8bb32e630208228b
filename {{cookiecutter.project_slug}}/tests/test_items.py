"""The item resource end to end: HTTP in, real database, HTTP out."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from httpx import AsyncClient

from app.api.etags import parse_if_match

pytestmark = pytest.mark.anyio

ITEMS = "/api/v1/items"


async def create(client: AsyncClient, title: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(ITEMS, json={"title": title, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_returns_item_location_and_etag(client: AsyncClient) -> None:
    response = await client.post(ITEMS, json={"title": "Buy milk", "description": "2 litres"})

    assert response.status_code == 201
    item = response.json()
    assert item["title"] == "Buy milk"
    assert item["description"] == "2 litres"
    assert item["version"] == 1
    assert item["created_at"] == item["updated_at"]
    assert response.headers["location"] == f"http://localhost{ITEMS}/{item['id']}"
    assert response.headers["etag"] == '"1"'

    fetched = await client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == item
    assert fetched.headers["etag"] == '"1"'


async def test_text_round_trips_unchanged(client: AsyncClient) -> None:
    title = "Ünïcödé 😀 \"quotes\" 'single' \\ back % _ 中文"
    item = await create(client, title, description="line one\nline two")

    fetched = (await client.get(f"{ITEMS}/{item['id']}")).json()
    assert fetched["title"] == title
    assert fetched["description"] == "line one\nline two"


async def test_timestamps_are_utc(client: AsyncClient) -> None:
    before = datetime.now(UTC)
    item = await create(client, "clock")
    created = datetime.fromisoformat(item["created_at"])
    fetched = datetime.fromisoformat(
        (await client.get(f"{ITEMS}/{item['id']}")).json()["created_at"]
    )

    assert created.utcoffset() == timedelta(0)
    assert fetched == created
    assert before <= created <= datetime.now(UTC)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": "nul\x00byte"},
        {"title": "ok", "description": "d" * 2001},
        {"title": "ok", "id": str(uuid.uuid4())},
        {"title": "ok", "version": 7},
        {"title": 12},
        [],
    ],
    ids=[
        "missing-title",
        "empty-title",
        "blank-title",
        "long-title",
        "nul",
        "long-description",
        "client-id",
        "client-version",
        "number-title",
        "array-body",
    ],
)
async def test_create_rejects_invalid_bodies(client: AsyncClient, body: object) -> None:
    response = await client.post(ITEMS, json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]
    assert (await client.get(ITEMS)).json()["items"] == []


async def test_create_rejects_lone_surrogates(client: AsyncClient) -> None:
    for text in (rb'{"title": "lone \ud800"}', rb'{"title": "ok", "description": "\udfff"}'):
        response = await client.post(
            ITEMS, content=text, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, text


async def test_create_rejects_malformed_json(client: AsyncClient) -> None:
    response = await client.post(
        ITEMS, content=b'{"title": ', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"


async def test_title_at_the_length_limit_is_accepted(client: AsyncClient) -> None:
    item = await create(client, "é" * 200)
    assert len(item["title"]) == 200


async def test_get_unknown_and_malformed_ids(client: AsyncClient) -> None:
    missing = await client.get(f"{ITEMS}/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No item with this id."

    malformed = await client.get(f"{ITEMS}/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["loc"] == ["path", "item_id"]


async def test_list_pages_through_everything(client: AsyncClient) -> None:
    created = [await create(client, f"item {number:02d}") for number in range(5)]

    first = (await client.get(ITEMS, params={"limit": 2, "sort": "title"})).json()
    second = (await client.get(ITEMS, params={"limit": 2, "offset": 2, "sort": "title"})).json()
    last = (await client.get(ITEMS, params={"limit": 2, "offset": 4, "sort": "title"})).json()

    assert (first["limit"], first["offset"], first["next_offset"]) == (2, 0, 2)
    assert second["next_offset"] == 4
    assert last["next_offset"] is None
    titles = [item["title"] for page in (first, second, last) for item in page["items"]]
    assert titles == [item["title"] for item in created]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("title", ["apple", "banana", "cherry"]),
        ("-title", ["cherry", "banana", "apple"]),
        ("created_at", ["banana", "apple", "cherry"]),
        ("-created_at", ["cherry", "apple", "banana"]),
        ("updated_at", ["banana", "cherry", "apple"]),
        ("-updated_at", ["apple", "cherry", "banana"]),
    ],
)
async def test_list_sorts_by_whitelisted_fields(
    client: AsyncClient, sort: str, expected: list[str]
) -> None:
    await create(client, "banana")
    apple = await create(client, "apple")
    await create(client, "cherry")
    await client.patch(f"{ITEMS}/{apple['id']}", json={"description": "touched"})

    page = (await client.get(ITEMS, params={"sort": sort})).json()

    assert [item["title"] for item in page["items"]] == expected


async def test_default_sort_is_newest_first(client: AsyncClient) -> None:
    for title in ("old", "middle", "new"):
        await create(client, title)

    page = (await client.get(ITEMS)).json()

    assert [item["title"] for item in page["items"]] == ["new", "middle", "old"]
    assert page["limit"] == 50


async def test_search_is_case_insensitive_and_literal(client: AsyncClient) -> None:
    for title in ("Report 100%", "report draft", "100 reasons", "snake_case", "snakeXcase"):
        await create(client, title)

    async def titles(q: str) -> set[str]:
        page = (await client.get(ITEMS, params={"q": q})).json()
        return {item["title"] for item in page["items"]}

    assert await titles("REPORT") == {"Report 100%", "report draft"}
    assert await titles("100%") == {"Report 100%"}
    assert await titles("e_c") == {"snake_case"}
    assert await titles("nothing like it") == set()


async def test_filter_by_creation_time(client: AsyncClient) -> None:
    first = await create(client, "first")
    second = await create(client, "second")
    boundary = second["created_at"]

    after = (await client.get(ITEMS, params={"created_after": boundary})).json()
    before = (await client.get(ITEMS, params={"created_before": boundary})).json()
    naive = first["created_at"].replace("Z", "").replace("+00:00", "")
    from_naive = (await client.get(ITEMS, params={"created_after": naive})).json()
    shifted = datetime.fromisoformat(boundary).astimezone(timezone(timedelta(hours=5)))
    from_offset = (await client.get(ITEMS, params={"created_after": shifted.isoformat()})).json()

    assert [item["title"] for item in after["items"]] == ["second"]
    assert [item["title"] for item in before["items"]] == ["first"]
    assert {item["title"] for item in from_naive["items"]} == {"first", "second"}
    assert [item["title"] for item in from_offset["items"]] == ["second"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": -1},
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"offset": -1},
        {"offset": 10**30},
        {"sort": "description"},
        {"sort": "-id; DROP TABLE items"},
        {"q": "x" * 201},
        {"q": "nul\x00"},
        {"created_after": "yesterday"},
        {"created_after": "1700000000"},
        {"created_before": "0.5"},
        {"created_after": "0001-01-01T00:00:00+14:00"},
        {"created_before": "9999-12-31T23:59:59-14:00"},
        {"unknown": "1"},
    ],
)
async def test_list_rejects_bad_parameters(client: AsyncClient, params: dict[str, Any]) -> None:
    response = await client.get(ITEMS, params=params)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_extreme_but_valid_parameters(client: AsyncClient) -> None:
    await create(client, "only")

    far = await client.get(ITEMS, params={"offset": 1_000_000, "limit": 100})
    ancient = await client.get(ITEMS, params={"created_after": "0001-01-01T00:00:00Z"})

    assert far.status_code == 200
    assert far.json()["items"] == []
    assert [item["title"] for item in ancient.json()["items"]] == ["only"]


async def test_patch_changes_only_sent_fields(client: AsyncClient) -> None:
    item = await create(client, "draft", description="keep me")

    response = await client.patch(f"{ITEMS}/{item['id']}", json={"title": "final"})

    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "final"
    assert updated["description"] == "keep me"
    assert updated["version"] == 2
    assert updated["updated_at"] > item["updated_at"]
    assert updated["created_at"] == item["created_at"]
    assert response.headers["etag"] == '"2"'
    assert (await client.get(f"{ITEMS}/{item['id']}")).json() == updated


async def test_patch_can_clear_description_but_not_title(client: AsyncClient) -> None:
    item = await create(client, "draft", description="remove me")

    cleared = await client.patch(f"{ITEMS}/{item['id']}", json={"description": None})
    null_title = await client.patch(f"{ITEMS}/{item['id']}", json={"title": None})

    assert cleared.json()["description"] is None
    assert null_title.status_code == 422
    assert (await client.get(f"{ITEMS}/{item['id']}")).json()["title"] == "draft"


async def test_empty_patch_changes_nothing(client: AsyncClient) -> None:
    item = await create(client, "same")

    response = await client.patch(f"{ITEMS}/{item['id']}", json={})

    assert response.status_code == 200
    assert response.json() == item


async def test_if_match_prevents_lost_updates(client: AsyncClient) -> None:
    item = await create(client, "shared")
    url = f"{ITEMS}/{item['id']}"

    alice = await client.patch(url, json={"title": "alice"}, headers={"If-Match": '"1"'})
    bob = await client.patch(url, json={"title": "bob"}, headers={"If-Match": '"1"'})

    assert alice.status_code == 200
    assert bob.status_code == 412
    assert bob.headers["content-type"] == "application/problem+json"
    assert (await client.get(url)).json()["title"] == "alice"


async def test_concurrent_updates_with_the_same_if_match_let_exactly_one_win(
    client: AsyncClient,
) -> None:
    item = await create(client, "contended")
    url = f"{ITEMS}/{item['id']}"

    responses = await asyncio.gather(
        *(
            client.patch(url, json={"title": f"writer {n}"}, headers={"If-Match": '"1"'})
            for n in range(8)
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * 7
    winner = next(response.json() for response in responses if response.status_code == 200)
    assert (await client.get(url)).json() == winner
    assert winner["version"] == 2


async def test_concurrent_updates_without_if_match_lose_nothing(client: AsyncClient) -> None:
    item = await create(client, "counter")
    url = f"{ITEMS}/{item['id']}"

    responses = await asyncio.gather(
        *(client.patch(url, json={"description": f"writer {n}"}) for n in range(5))
    )

    applied = [response for response in responses if response.status_code == 200]
    assert {response.status_code for response in responses} <= {200, 409}
    assert applied
    # Every accepted change produced its own version: none overwrote another unseen.
    assert sorted(response.json()["version"] for response in applied) == list(
        range(2, 2 + len(applied))
    )
    assert (await client.get(url)).json()["version"] == 1 + len(applied)


@pytest.mark.parametrize("header", ['"2", "1"', "*", ' "1" '])
async def test_if_match_accepts_any_listed_version(client: AsyncClient, header: str) -> None:
    item = await create(client, "v1")

    response = await client.patch(
        f"{ITEMS}/{item['id']}", json={"title": "v2"}, headers={"If-Match": header}
    )

    assert response.status_code == 200


@pytest.mark.parametrize("header", ['W/"1"', "1", '""', "garbage", '"' + "9" * 5000 + '"'])
async def test_malformed_if_match_fails_the_precondition(client: AsyncClient, header: str) -> None:
    item = await create(client, "v1")
    url = f"{ITEMS}/{item['id']}"

    patched = await client.patch(url, json={"title": "v2"}, headers={"If-Match": header})
    deleted = await client.delete(url, headers={"If-Match": header})

    assert (patched.status_code, deleted.status_code) == (412, 412)
    assert (await client.get(url)).json()["version"] == 1


@pytest.mark.parametrize("header", ['"¹"', '"\u0661"', '"-1"', '"+1"', '"1 "'])
def test_only_plain_ascii_versions_are_tags(header: str) -> None:
    assert parse_if_match(header) == frozenset()


async def test_patch_unknown_item(client: AsyncClient) -> None:
    response = await client.patch(f"{ITEMS}/{uuid.uuid4()}", json={"title": "x"})
    assert response.status_code == 404


async def test_delete(client: AsyncClient) -> None:
    item = await create(client, "short-lived")
    url = f"{ITEMS}/{item['id']}"

    first = await client.delete(url)
    second = await client.delete(url)

    assert first.status_code == 204
    assert first.content == b""
    assert second.status_code == 404
    assert (await client.get(url)).status_code == 404


async def test_delete_with_if_match(client: AsyncClient) -> None:
    item = await create(client, "guarded")
    url = f"{ITEMS}/{item['id']}"
    await client.patch(url, json={"title": "changed"})

    stale = await client.delete(url, headers={"If-Match": '"1"'})
    current = await client.delete(url, headers={"If-Match": '"2"'})
    missing = await client.delete(url, headers={"If-Match": '"2"'})

    assert (stale.status_code, current.status_code, missing.status_code) == (412, 204, 404)
