"""API keys: random, shown once, stored only as an HMAC under the service's secret key.

A key reads `sk_<prefix>_<secret>`: the prefix is public (it finds the stored hash and names
the key in lists and logs), the secret is 256 random bits.
"""

import hashlib
import hmac
import secrets

from pydantic import SecretStr

_SCHEME = "sk"


def generate_key() -> tuple[str, str]:
    """A new key and its public prefix."""
    prefix = secrets.token_hex(6)
    return f"{_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def key_prefix(key: str) -> str | None:
    """The prefix of a well-formed key, or None."""
    scheme, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != _SCHEME or len(prefix) != 12 or not secret:  # noqa: PLR2004 - token_hex(6)
        return None
    return prefix


def hash_key(key: str, secret_key: SecretStr) -> str:
    secret = secret_key.get_secret_value().encode()
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def key_matches(key: str, key_hash: str, secret_key: SecretStr) -> bool:
    """Constant-time comparison, so response times reveal nothing about the stored hash."""
    return hmac.compare_digest(hash_key(key, secret_key), key_hash)
