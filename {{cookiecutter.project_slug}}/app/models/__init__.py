"""Every model, imported here so that `Base.metadata` knows all tables (Alembic reads it)."""

{% if cookiecutter.auth in ["api_key", "jwt_and_api_key"] -%}
from app.models.api_key import ApiKey
{% endif -%}
{% if cookiecutter.auth != "none" -%}
from app.models.audit_event import AuditEvent
{% endif -%}
from app.models.item import Item
{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
from app.models.refresh_token import RefreshToken, RefreshTokenFamily
from app.models.user import User
{% endif %}
__all__ = [
{%- if cookiecutter.auth in ["api_key", "jwt_and_api_key"] %}
    "ApiKey",
{%- endif %}
{%- if cookiecutter.auth != "none" %}
    "AuditEvent",
{%- endif %}
    "Item",
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    "RefreshToken",
    "RefreshTokenFamily",
    "User",
{%- endif %}
]
