"""Field types shared by request and response schemas."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

MAX_PAGE_SIZE = 100
MAX_OFFSET = 1_000_000

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_8601_text(value: object) -> object:
    """Accept only ISO 8601 text, as documented; pydantic would also take Unix numbers."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z")


def _as_utc(value: datetime) -> datetime:
    """Read a datetime without an offset as UTC; convert any other to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


# Every text field carries a pattern. It documents that NUL is refused (PostgreSQL cannot
# store it), and a pattern also makes pydantic refuse lone surrogates, which no database can.
NO_NUL_PATTERN = r"^[^\x00]*$"
StorableText = Annotated[str, Field(pattern=NO_NUL_PATTERN)]
UTCDatetime = Annotated[datetime, BeforeValidator(_iso_8601_text), AfterValidator(_as_utc)]


class PageQuery(BaseModel):
    """Offset paging; unknown query parameters are rejected."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE, description="Entries per page.")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="Entries to skip.")


def one_page(
    rows: list[dict[str, Any]], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Rows fetched with `limit + 1` cut to one page, and the offset of the next page.

    The extra row tells whether another page exists without counting every match. The next
    offset is None on the last page, and where it would pass MAX_OFFSET, which is refused.
    """
    next_offset = offset + limit
    has_next = len(rows) > limit and next_offset <= MAX_OFFSET
    return rows[:limit], next_offset if has_next else None
