"""Version 1 of the HTTP API."""

from fastapi import APIRouter

{% if cookiecutter.auth == "jwt" -%}
from app.api.v1 import audit, auth, items, users
{%- elif cookiecutter.auth == "api_key" -%}
from app.api.v1 import api_keys, audit, items
{%- elif cookiecutter.auth == "jwt_and_api_key" -%}
from app.api.v1 import api_keys, audit, auth, items, users
{%- else -%}
from app.api.v1 import items
{%- endif %}

api_router = APIRouter(prefix="/api/v1")
# Requests try routes in order: the busiest resource goes first.
api_router.include_router(items.router)
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
api_router.include_router(auth.router)
api_router.include_router(users.router)
{%- endif %}
{%- if cookiecutter.auth in ["api_key", "jwt_and_api_key"] %}
api_router.include_router(api_keys.router)
{%- endif %}
{%- if cookiecutter.auth != "none" %}
api_router.include_router(audit.router)
{%- endif %}
