{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
"""Item endpoints: parse the request, call the item service, shape the response.

Items belong to the user who created them; only they (or a superuser) see or change them.
"""
{%- elif cookiecutter.auth == "api_key" -%}
"""Item endpoints: parse the request, call the item service, shape the response.

Reading needs the `items:read` scope, changing needs `items:write`.
"""
{%- else -%}
"""Item endpoints: parse the request, call the item service, shape the response."""
{%- endif %}

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from pydantic import TypeAdapter
{% if cookiecutter.auth != "none" %}
from app.api.deps import ItemsEditor, ItemsReader, ItemsWriter
{%- endif %}
from app.api.etags import conditional, digest_etag, etag, parse_if_match, tagged
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from app.core.auth import Principal
{%- endif %}
{%- if cookiecutter.cache != "none" and cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from app.core.cache import Cache, ResponseCache
{%- elif cookiecutter.cache != "none" %}
from app.core.cache import ResponseCache
{%- endif %}
from app.core.deps import Connection
from app.schemas.item import ItemCreate, ItemListQuery, ItemPage, ItemRead, ItemUpdate
from app.services import items

router = APIRouter(prefix="/items", tags=["items"])

# Reads answer with ready JSON bytes (kept in the cache where there is one), validated
# against the same response models the OpenAPI document declares.
_ITEM = TypeAdapter(ItemRead)
_PAGE = TypeAdapter(ItemPage)

IfMatch = Annotated[
    str | None,
    Header(description='The item\'s ETag, e.g. `"3"`: change it only if it is still that version.'),
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No item with this id."}}
IfNoneMatch = Annotated[
    str | None,
    Header(description="ETags the client holds: answered 304 with no body if one is current."),
]
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "The ETag in If-None-Match is current; nothing is sent again."}
}
_STALE: dict[int | str, dict[str, Any]] = {
    412: {"description": "The item no longer has the version given in If-Match."}
}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
_EVERYONES = "items:all"  # cache scope of what superusers see


def _owner(principal: Principal) -> uuid.UUID | None:
    """Whose items the caller may touch: their own, or everyone's for superusers."""
    return None if principal.is_admin else principal.user_id


def _scope(owner: uuid.UUID | None) -> str:
    return _EVERYONES if owner is None else f"items:{owner}"
{%- if cookiecutter.cache != "none" %}


async def forget_items_of(cache: Cache, owner: uuid.UUID) -> None:
    """After a change to `owner`'s items: drop what anyone may have cached of them."""
    await cache.invalidate(_scope(owner), _EVERYONES)
{%- endif %}
{%- elif cookiecutter.cache != "none" %}
_SCOPE = "items"  # one cache scope: every caller sees every item
{%- endif %}


def _item_representation(item: dict[str, Any]) -> bytes:
    return tagged(etag(item["version"]), _ITEM.dump_json(_ITEM.validate_python(item)))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    summary="Create an item",
)
async def create_item(
    body: ItemCreate,
{%- if cookiecutter.auth != "none" %}
    principal: ItemsWriter,
{%- endif %}
    connection: Connection,
{%- if cookiecutter.cache != "none" %}
    cache: ResponseCache,
{%- endif %}
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """Store a new item. `Location` gives its URL and `ETag` its version."""
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    item = await items.create_item(connection, body, principal.user_id)
{%- if cookiecutter.cache != "none" %}
    await forget_items_of(cache, principal.user_id)
{%- endif %}
{%- else %}
    item = await items.create_item(connection, body)
{%- if cookiecutter.cache != "none" %}
    await cache.invalidate(_SCOPE)
{%- endif %}
{%- endif %}
    response.headers["Location"] = str(request.url_for("get_item", item_id=item["id"]))
    response.headers["ETag"] = etag(item["version"])
    return item


@router.get("", response_model=ItemPage, summary="List items", responses=_NOT_MODIFIED)
async def list_items(
    query: Annotated[ItemListQuery, Query()],
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    principal: ItemsReader,
{%- elif cookiecutter.auth == "api_key" %}
    _: ItemsReader,
{%- endif %}
    connection: Connection,
{%- if cookiecutter.cache != "none" %}
    cache: ResponseCache,
{%- endif %}
    if_none_match: IfNoneMatch = None,
) -> Response:
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    """Page through your items (superusers: all items), optionally filtered by title text and
    creation time, and sorted. `ETag` tags the page for If-None-Match."""
    owner = _owner(principal)
{%- else %}
    """Page through items, optionally filtered by title text and creation time, and sorted.
    `ETag` tags the page for If-None-Match."""
{%- endif %}

    async def load() -> bytes:
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
        page, next_offset = await items.list_items(connection, query, owner)
{%- else %}
        page, next_offset = await items.list_items(connection, query)
{%- endif %}
        body = _PAGE.dump_json(
            _PAGE.validate_python(
                {
                    "items": page,
                    "limit": query.limit,
                    "offset": query.offset,
                    "next_offset": next_offset,
                }
            )
        )
        return tagged(digest_etag(body), body)

{%- if cookiecutter.cache == "none" %}

    return conditional(await load(), if_none_match)
{%- else %}

    key = "list:" + query.model_dump_json()
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    return conditional(await cache.fetch(_scope(owner), key, load), if_none_match)
{%- else %}
    return conditional(await cache.fetch(_SCOPE, key, load), if_none_match)
{%- endif %}
{%- endif %}


@router.get(
    "/{item_id}",
    response_model=ItemRead,
    summary="Get an item",
    responses={**_NOT_FOUND, **_NOT_MODIFIED},
)
async def get_item(
    item_id: uuid.UUID,
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    principal: ItemsReader,
{%- elif cookiecutter.auth == "api_key" %}
    _: ItemsReader,
{%- endif %}
    connection: Connection,
{%- if cookiecutter.cache != "none" %}
    cache: ResponseCache,
{%- endif %}
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Read one item. The `ETag` header carries its version, for If-Match and If-None-Match."""
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    owner = _owner(principal)
{%- endif %}

    async def load() -> bytes:
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
        return _item_representation(await items.get_item(connection, item_id, owner))
{%- else %}
        return _item_representation(await items.get_item(connection, item_id))
{%- endif %}

{%- if cookiecutter.cache == "none" %}

    return conditional(await load(), if_none_match)
{%- else %}

    key = f"item:{item_id}"
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    return conditional(await cache.fetch(_scope(owner), key, load), if_none_match)
{%- else %}
    return conditional(await cache.fetch(_SCOPE, key, load), if_none_match)
{%- endif %}
{%- endif %}


@router.patch(
    "/{item_id}",
    response_model=ItemRead,
    summary="Update an item",
    responses={**_NOT_FOUND, **_STALE, 409: {"description": "Changed concurrently; retry."}},
)
async def update_item(
    item_id: uuid.UUID,
    body: ItemUpdate,
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    principal: ItemsEditor,
{%- elif cookiecutter.auth == "api_key" %}
    _: ItemsEditor,
{%- endif %}
    connection: Connection,
{%- if cookiecutter.cache != "none" %}
    cache: ResponseCache,
{%- endif %}
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Change the fields sent and leave the rest. Send `If-Match` to avoid lost updates."""
    item = await items.update_item(
        connection,
        item_id,
        body.model_dump(exclude_unset=True),
        parse_if_match(if_match),
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
        _owner(principal),
{%- endif %}
    )
{%- if cookiecutter.cache != "none" and cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    await forget_items_of(cache, item["owner_id"])
{%- elif cookiecutter.cache != "none" %}
    await cache.invalidate(_SCOPE)
{%- endif %}
    response.headers["ETag"] = etag(item["version"])
    return item


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an item",
    responses={**_NOT_FOUND, **_STALE},
)
async def delete_item(
    item_id: uuid.UUID,
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    principal: ItemsWriter,
{%- elif cookiecutter.auth == "api_key" %}
    _: ItemsWriter,
{%- endif %}
    connection: Connection,
{%- if cookiecutter.cache != "none" %}
    cache: ResponseCache,
{%- endif %}
    if_match: IfMatch = None,
) -> None:
    """Delete the item; with `If-Match`, only if it is still that version."""
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] and cookiecutter.cache != "none" %}
    owner = await items.delete_item(
        connection, item_id, parse_if_match(if_match), _owner(principal)
    )
    await forget_items_of(cache, owner)
{%- elif cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    await items.delete_item(connection, item_id, parse_if_match(if_match), _owner(principal))
{%- else %}
    await items.delete_item(connection, item_id, parse_if_match(if_match))
{%- if cookiecutter.cache != "none" %}
    await cache.invalidate(_SCOPE)
{%- endif %}
{%- endif %}
