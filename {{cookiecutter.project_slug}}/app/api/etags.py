"""Entity tags for optimistic concurrency: the ETag of an item is its version number."""

_MAX_VERSION_DIGITS = 18


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> frozenset[int] | None:
    """The versions an If-Match header accepts; None when any version will do.

    Tags that are weak, malformed or not ours match nothing, so the request gets 412 as
    RFC 9110 asks, never an error.
    """
    if header is None or header.strip() == "*":
        return None
    versions: set[int] = set()
    for raw in header.split(","):
        tag = raw.strip()
        digits = tag[1:-1]
        if (
            len(tag) > 2  # noqa: PLR2004 - two quote characters
            and tag[0] == tag[-1] == '"'
            and digits.isascii()
            and digits.isdigit()
            and len(digits) <= _MAX_VERSION_DIGITS
        ):
            versions.add(int(digits))
    return frozenset(versions)
