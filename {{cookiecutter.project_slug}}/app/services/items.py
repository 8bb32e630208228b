{%- set events = cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" -%}
"""Item rules and persistence, with SQLAlchemy Core statements built once at import.

Functions take the request's connection and return plain dicts; the router shapes them
through the response model. No statement re-reads a row that the function already knows.
Statements run through `app.db.queries`, the one seam to the driver.
{%- if events %}

Every change writes its event (`item.created`, `item.updated`, `item.deleted`) in the same
transaction: an event exists if and only if its change committed.
{%- endif %}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}

`owner_id` confines a call to one user's items (None: every item, for superusers). Another
user's item is reported as missing, so nobody learns which ids exist.
{%- endif %}
"""

import re
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

{% if events -%}
from pydantic import TypeAdapter
{% endif -%}
from sqlalchemy import Executable, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.errors import ConflictError, NotFoundError, PreconditionFailedError
from app.db import queries
{%- if events %}
from app.db.engine import transaction
{%- endif %}
from app.models.item import Item
from app.schemas.common import one_page
{%- if events %}
from app.schemas.item import ItemCreate, ItemListQuery, ItemRead
from app.services import events
{%- else %}
from app.schemas.item import ItemCreate, ItemListQuery
{%- endif %}

ItemRecord = dict[str, Any]

{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
_COLUMNS = (
    Item.id,
    Item.owner_id,
    Item.title,
    Item.description,
    Item.version,
    Item.created_at,
    Item.updated_at,
)
{%- else %}
_COLUMNS = (Item.id, Item.title, Item.description, Item.version, Item.created_at, Item.updated_at)
{%- endif %}
_LIKE_SPECIALS = re.compile(r"[/%_]")
_SORT_COLUMNS = {"created_at": Item.created_at, "updated_at": Item.updated_at, "title": Item.title}

_SELECT_BY_ID = select(*_COLUMNS).where(Item.id == bindparam("item_id"))
_INSERT = insert(Item)
_UPDATE_IF_VERSION = update(Item).where(
    Item.id == bindparam("item_id"), Item.version == bindparam("expected_version")
)
_DELETE = delete(Item).where(Item.id == bindparam("item_id"))
_DELETE_IF_VERSION = _DELETE.where(Item.version == bindparam("expected_version"))
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
_OWNED = Item.owner_id == bindparam("owner_id")
_SELECT_OWNED = _SELECT_BY_ID.where(_OWNED)
_DELETE_OWNED = _DELETE.where(_OWNED)
{%- endif %}

{%- if events %}
_AS_SENT = TypeAdapter(ItemRead)  # an event carries the item as the API returns it
{%- endif %}

_NOT_FOUND = "No item with this id."
_STALE = "The item's current version does not match If-Match; fetch it again."
_ATTEMPTS = 3
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


async def create_item(
    connection: AsyncConnection, data: ItemCreate, owner_id: uuid.UUID
) -> ItemRecord:
{%- else %}


async def create_item(connection: AsyncConnection, data: ItemCreate) -> ItemRecord:
{%- endif %}
    """Insert a new item; id and timestamps are made here, so nothing is read back."""
    now = datetime.now(UTC)
    record: ItemRecord = {
        "id": uuid.uuid4(),
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
        "owner_id": owner_id,
{%- endif %}
        "title": data.title,
        "description": data.description,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
{%- if events %}
    async with transaction(connection):
        await queries.execute(connection, _INSERT, record)
        await _emit(connection, "item.created", record)
{%- else %}
    await queries.execute(connection, _INSERT, record)
{%- endif %}
    return record
{%- if events %}


async def _emit(connection: AsyncConnection, type_: str, item: ItemRecord) -> None:
    data = _AS_SENT.dump_python(_AS_SENT.validate_python(item), mode="json")
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    await events.emit(connection, type_, data, item["owner_id"])
{%- else %}
    await events.emit(connection, type_, data)
{%- endif %}
{%- endif %}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


async def get_item(
    connection: AsyncConnection, item_id: uuid.UUID, owner_id: uuid.UUID | None
) -> ItemRecord:
    if owner_id is None:
        row = await queries.fetch_one(connection, _SELECT_BY_ID, {"item_id": item_id})
    else:
        row = await queries.fetch_one(
            connection, _SELECT_OWNED, {"item_id": item_id, "owner_id": owner_id}
        )
{%- else %}


async def get_item(connection: AsyncConnection, item_id: uuid.UUID) -> ItemRecord:
    row = await queries.fetch_one(connection, _SELECT_BY_ID, {"item_id": item_id})
{%- endif %}
    if row is None:
        raise NotFoundError(_NOT_FOUND)
    return dict(row)
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


async def list_items(
    connection: AsyncConnection, query: ItemListQuery, owner_id: uuid.UUID | None
) -> tuple[list[ItemRecord], int | None]:
{%- else %}


async def list_items(
    connection: AsyncConnection, query: ItemListQuery
) -> tuple[list[ItemRecord], int | None]:
{%- endif %}
    """One page of items, and the offset of the next page (None on the last page).

    One row more than the page is fetched to learn whether another page exists, which
    costs far less than counting every match.
    """
    params: dict[str, Any] = {"limit": query.limit + 1, "offset": query.offset}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    if owner_id is not None:
        params["owner_id"] = owner_id
{%- endif %}
    if query.q is not None:
        params["q"] = _LIKE_SPECIALS.sub(r"/\g<0>", query.q)
    if query.created_after is not None:
        params["created_after"] = query.created_after
    if query.created_before is not None:
        params["created_before"] = query.created_before
    statement = _list_statement(frozenset(params), query.sort)
    rows = await queries.fetch_all(connection, statement, params)
    return one_page([dict(row) for row in rows], query.limit, query.offset)


@lru_cache(maxsize=256)
def _list_statement(filters: frozenset[str], sort: str) -> Executable:
    """The list statement for one combination of filters and sort order, built once.

    Every value is a bound parameter, so each combination compiles a single time.
    """
    statement = select(*_COLUMNS)
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    if "owner_id" in filters:
        statement = statement.where(Item.owner_id == bindparam("owner_id"))
{%- endif %}
    if "q" in filters:  # case-insensitive substring; "/" escapes the wildcards % and _
        statement = statement.where(Item.title.icontains(bindparam("q"), escape="/"))
    if "created_after" in filters:
        statement = statement.where(Item.created_at >= bindparam("created_after"))
    if "created_before" in filters:
        statement = statement.where(Item.created_at < bindparam("created_before"))
    column = _SORT_COLUMNS[sort.removeprefix("-")]
    order = (column.desc(), Item.id.desc()) if sort[0] == "-" else (column, Item.id)
    return statement.order_by(*order).limit(bindparam("limit")).offset(bindparam("offset"))


async def update_item(
    connection: AsyncConnection,
    item_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: frozenset[int] | None,
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    owner_id: uuid.UUID | None,
{%- endif %}
) -> ItemRecord:
    """Apply `changes` if the item still has a version in `if_match` (None: any version).

    The UPDATE only matches the version that was read, so a concurrent writer is never
    silently overwritten. A caller that named a version and lost the race gets 412; one that
    did not is retried on the fresh row, and gets 409 only under sustained contention.
    """
    for _ in range(_ATTEMPTS):
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
        current = await get_item(connection, item_id, owner_id)
{%- else %}
        current = await get_item(connection, item_id)
{%- endif %}
        if if_match is not None and current["version"] not in if_match:
            raise PreconditionFailedError(_STALE)
        if not changes:
            return current
        values = {**changes, "version": current["version"] + 1, "updated_at": datetime.now(UTC)}
{%- if events %}
        async with transaction(connection):
            matched = await queries.execute(
                connection,
                _UPDATE_IF_VERSION,
                {**values, "item_id": item_id, "expected_version": current["version"]},
            )
            if matched == 1:
                updated = {**current, **values}
                await _emit(connection, "item.updated", updated)
                return updated
{%- else %}
        matched = await queries.execute(
            connection,
            _UPDATE_IF_VERSION,
            {**values, "item_id": item_id, "expected_version": current["version"]},
        )
        if matched == 1:
            return {**current, **values}
{%- endif %}
        if if_match is not None:
            raise PreconditionFailedError(_STALE)
    raise ConflictError("The item is being changed by other requests; retry.")
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}

{% if events %}
async def delete_item(
    connection: AsyncConnection,
    item_id: uuid.UUID,
    if_match: frozenset[int] | None,
    owner_id: uuid.UUID | None,
) -> uuid.UUID:
    """Delete the item; with `if_match`, only while it still has one of those versions.

    Returns whose item it was, which a superuser's call learns by reading it first.
    """
    async with transaction(connection):
        owner = await _delete(connection, item_id, if_match, owner_id)
        await events.emit(connection, "item.deleted", {"id": str(item_id)}, owner)
    return owner


async def _delete(
    connection: AsyncConnection,
    item_id: uuid.UUID,
    if_match: frozenset[int] | None,
    owner_id: uuid.UUID | None,
) -> uuid.UUID:
{% else %}
async def delete_item(
    connection: AsyncConnection,
    item_id: uuid.UUID,
    if_match: frozenset[int] | None,
    owner_id: uuid.UUID | None,
) -> uuid.UUID:
    """Delete the item; with `if_match`, only while it still has one of those versions.

    Returns whose item it was, which a superuser's call learns by reading it first.
    """
{%- endif %}
    if if_match is None and owner_id is not None:
        matched = await queries.execute(
            connection, _DELETE_OWNED, {"item_id": item_id, "owner_id": owner_id}
        )
        if matched != 1:
            raise NotFoundError(_NOT_FOUND)
        return owner_id
    current = await get_item(connection, item_id, owner_id)
    owner: uuid.UUID = current["owner_id"]
    if if_match is None:
        if await queries.execute(connection, _DELETE, {"item_id": item_id}) != 1:
            raise NotFoundError(_NOT_FOUND)
        return owner
{%- else %}

{% if events %}
async def delete_item(
    connection: AsyncConnection, item_id: uuid.UUID, if_match: frozenset[int] | None
) -> None:
    """Delete the item; with `if_match`, only while it still has one of those versions."""
    async with transaction(connection):
        await _delete(connection, item_id, if_match)
        await events.emit(connection, "item.deleted", {"id": str(item_id)})


async def _delete(
    connection: AsyncConnection, item_id: uuid.UUID, if_match: frozenset[int] | None
) -> None:
{% else %}
async def delete_item(
    connection: AsyncConnection, item_id: uuid.UUID, if_match: frozenset[int] | None
) -> None:
    """Delete the item; with `if_match`, only while it still has one of those versions."""
{%- endif %}
    if if_match is None:
        if await queries.execute(connection, _DELETE, {"item_id": item_id}) != 1:
            raise NotFoundError(_NOT_FOUND)
        return
    current = await get_item(connection, item_id)
{%- endif %}
    if current["version"] not in if_match:
        raise PreconditionFailedError(_STALE)
    matched = await queries.execute(
        connection, _DELETE_IF_VERSION, {"item_id": item_id, "expected_version": current["version"]}
    )
    if matched != 1:
        raise PreconditionFailedError(_STALE)
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    return owner
{%- endif %}
