"""Entity tags: If-Match guards changes, If-None-Match saves sending what a client holds.

An item's tag is its version number; a list page's tag is a digest of its bytes.
"""

import hashlib
from http import HTTPStatus

from fastapi import Response

_MAX_VERSION_DIGITS = 18
{%- if cookiecutter.auth != "none" %}
# Answers depend on who asks: shared caches must not keep them, and browsers revalidate.
_CACHE_CONTROL = "private, no-cache"
{%- else %}
_CACHE_CONTROL = "no-cache"  # clients may keep answers, but ask whether they are current
{%- endif %}


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


def digest_etag(body: bytes) -> str:
    return f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def tagged(tag: str, body: bytes) -> bytes:
    """A JSON body and its tag as one value, the form kept in the cache: tag, space, body."""
    return tag.encode() + b" " + body


def conditional(representation: bytes, if_none_match: str | None) -> Response:
    """The body of a `tagged` representation, or 304 when the client holds it already."""
    tag, _, body = representation.partition(b" ")
    headers = {"ETag": tag.decode(), "Cache-Control": _CACHE_CONTROL}
    if if_none_match is not None and _held(if_none_match, headers["ETag"]):
        return Response(status_code=HTTPStatus.NOT_MODIFIED, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _held(if_none_match: str, tag: str) -> bool:
    """If-None-Match compares weakly (RFC 9110): `W/"3"` matches `"3"`."""
    if if_none_match.strip() == "*":
        return True
    return any(held.strip().removeprefix("W/") == tag for held in if_none_match.split(","))
