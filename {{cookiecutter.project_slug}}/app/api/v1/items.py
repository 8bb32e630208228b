"""Item endpoints: parse the request, call the item service, shape the response."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status

from app.api.etags import etag, parse_if_match
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


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    summary="Create an item",
)
async def create_item(
    body: ItemCreate, connection: Connection, request: Request, response: Response
) -> dict[str, Any]:
    """Store a new item. `Location` gives its URL and `ETag` its version."""
    item = await items.create_item(connection, body)
    response.headers["Location"] = str(request.url_for("get_item", item_id=item["id"]))
    response.headers["ETag"] = etag(item["version"])
    return item


@router.get("", response_model=ItemPage, summary="List items")
async def list_items(
    query: Annotated[ItemListQuery, Query()], connection: Connection
) -> dict[str, Any]:
    """Page through items, optionally filtered by title text and creation time, and sorted."""
    page, next_offset = await items.list_items(connection, query)
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
    item_id: uuid.UUID, connection: Connection, response: Response
) -> dict[str, Any]:
    """Read one item. The `ETag` header carries its version for a later If-Match."""
    item = await items.get_item(connection, item_id)
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
    connection: Connection,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Change the fields sent and leave the rest. Send `If-Match` to avoid lost updates."""
    item = await items.update_item(
        connection, item_id, body.model_dump(exclude_unset=True), parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(item["version"])
    return item


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an item",
    responses={**_NOT_FOUND, **_STALE},
)
async def delete_item(item_id: uuid.UUID, connection: Connection, if_match: IfMatch = None) -> None:
    """Delete the item; with `If-Match`, only if it is still that version."""
    await items.delete_item(connection, item_id, parse_if_match(if_match))
