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
{% if cookiecutter.auth != "none" %}
from app.api.deps import ItemsEditor, ItemsReader, ItemsWriter
{%- endif %}
from app.api.etags import etag, parse_if_match
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
from app.core.auth import Principal
{%- endif %}
from app.core.deps import Connection
from app.schemas.item import ItemCreate, ItemListQuery, ItemPage, ItemRead, ItemUpdate
from app.services import items

router = APIRouter(prefix="/items", tags=["items"])

IfMatch = Annotated[
    str | None,
    Header(description='The item\'s ETag, e.g. `"3"`: change it only if it is still that version.'),
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No item with this id."}}
_STALE: dict[int | str, dict[str, Any]] = {
    412: {"description": "The item no longer has the version given in If-Match."}
}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}


def _owner(principal: Principal) -> uuid.UUID | None:
    """Whose items the caller may touch: their own, or everyone's for superusers."""
    return None if principal.is_admin else principal.user_id
{%- endif %}


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
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """Store a new item. `Location` gives its URL and `ETag` its version."""
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    item = await items.create_item(connection, body, principal.user_id)
{%- else %}
    item = await items.create_item(connection, body)
{%- endif %}
    response.headers["Location"] = str(request.url_for("get_item", item_id=item["id"]))
    response.headers["ETag"] = etag(item["version"])
    return item


@router.get("", response_model=ItemPage, summary="List items")
async def list_items(
    query: Annotated[ItemListQuery, Query()],
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    principal: ItemsReader,
{%- elif cookiecutter.auth == "api_key" %}
    _: ItemsReader,
{%- endif %}
    connection: Connection,
) -> dict[str, Any]:
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    """Page through your items (superusers: all items), optionally filtered by title text and
    creation time, and sorted."""
    page, next_offset = await items.list_items(connection, query, _owner(principal))
{%- else %}
    """Page through items, optionally filtered by title text and creation time, and sorted."""
    page, next_offset = await items.list_items(connection, query)
{%- endif %}
    return {
        "items": page,
        "limit": query.limit,
        "offset": query.offset,
        "next_offset": next_offset,
    }


@router.get(
    "/{item_id}",
    response_model=ItemRead,
    summary="Get an item",
    responses=_NOT_FOUND,
)
async def get_item(
    item_id: uuid.UUID,
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    principal: ItemsReader,
{%- elif cookiecutter.auth == "api_key" %}
    _: ItemsReader,
{%- endif %}
    connection: Connection,
    response: Response,
) -> dict[str, Any]:
    """Read one item. The `ETag` header carries its version for a later If-Match."""
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    item = await items.get_item(connection, item_id, _owner(principal))
{%- else %}
    item = await items.get_item(connection, item_id)
{%- endif %}
    response.headers["ETag"] = etag(item["version"])
    return item


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
    if_match: IfMatch = None,
) -> None:
    """Delete the item; with `If-Match`, only if it is still that version."""
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    await items.delete_item(connection, item_id, parse_if_match(if_match), _owner(principal))
{%- else %}
    await items.delete_item(connection, item_id, parse_if_match(if_match))
{%- endif %}
