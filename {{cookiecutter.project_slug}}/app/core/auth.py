"""The caller of a request as one `Principal`, whatever the way it authenticated.

Routers state what they need (a scope) and never look at tokens or keys themselves.
"""

{% if cookiecutter.auth != "api_key" -%}
import uuid
{% endif -%}
from dataclasses import dataclass
from typing import Final, Literal

Scope = Literal["items:read", "items:write", "admin"]
ALL_SCOPES: Final[frozenset[str]] = frozenset({"items:read", "items:write", "admin"})
{%- if cookiecutter.auth != "api_key" %}
# What every signed-in user may do; superusers also hold "admin".
USER_SCOPES: Final[frozenset[str]] = frozenset({"items:read", "items:write"})
SUPERUSER_SCOPES: Final[frozenset[str]] = ALL_SCOPES
{%- endif %}

{%- if cookiecutter.auth == "jwt" %}
CHALLENGE: Final = {"WWW-Authenticate": "Bearer"}
{%- elif cookiecutter.auth == "api_key" %}
CHALLENGE: Final = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}
{%- else %}
CHALLENGE: Final = {"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'}
{%- endif %}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller and the scopes it holds."""

    subject: str  # how the audit trail names it: "user:<id>" or "api_key:<id>"
{%- if cookiecutter.auth == "jwt" %}
    user_id: uuid.UUID
{%- elif cookiecutter.auth == "jwt_and_api_key" %}
    user_id: uuid.UUID  # the user, or the owner of the API key used
{%- endif %}
    scopes: frozenset[str]
{%- if cookiecutter.auth == "jwt_and_api_key" %}
    credential: Literal["token", "api_key"] = "token"
{%- endif %}

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes
