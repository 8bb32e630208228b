"""Every model, imported here so that `Base.metadata` knows all tables (Alembic reads it)."""

{% if cookiecutter.auth in ["api_key", "jwt_and_api_key"] -%}
from app.models.api_key import ApiKey
{% endif -%}
{% if cookiecutter.auth != "none" -%}
from app.models.audit_event import AuditEvent
{% endif -%}
{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
from app.models.email_verification import EmailVerification
{% endif -%}
{% if cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" -%}
from app.models.event import Event
{% endif -%}
from app.models.item import Item
{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
from app.models.password_reset import PasswordReset
from app.models.refresh_token import RefreshToken, RefreshTokenFamily
{% endif -%}
{% if cookiecutter.jobs == "queue" -%}
from app.models.task import Task
{% endif -%}
{% if cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
from app.models.user import User
{% endif -%}
{% if cookiecutter.webhooks == "yes" -%}
from app.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint
{% endif %}
__all__ = [
{%- if cookiecutter.auth in ["api_key", "jwt_and_api_key"] %}
    "ApiKey",
{%- endif %}
{%- if cookiecutter.auth != "none" %}
    "AuditEvent",
{%- endif %}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    "EmailVerification",
{%- endif %}
{%- if cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" %}
    "Event",
{%- endif %}
    "Item",
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    "PasswordReset",
    "RefreshToken",
    "RefreshTokenFamily",
{%- endif %}
{%- if cookiecutter.jobs == "queue" %}
    "Task",
{%- endif %}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    "User",
{%- endif %}
{%- if cookiecutter.webhooks == "yes" %}
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
{%- endif %}
]
