"""Field types shared by request and response schemas."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _storable_text(value: str) -> str:
    """Reject what no database stores faithfully: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _as_utc(value: datetime) -> datetime:
    """Read a datetime without an offset as UTC; convert any other to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


StorableText = Annotated[str, AfterValidator(_storable_text)]
UTCDatetime = Annotated[datetime, AfterValidator(_as_utc)]
