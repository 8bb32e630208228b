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

PREFIX = "/api/v1"
# Included into the application one by one, not through a parent router: each level of
# nesting costs every request another round of route matching. Requests try routes in
# order, so the busiest resource goes first.
{%- if cookiecutter.auth == "none" %}
ROUTERS: tuple[APIRouter, ...] = (items.router,)
{%- else %}
ROUTERS: tuple[APIRouter, ...] = (
    items.router,
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    auth.router,
    users.router,
{%- endif %}
{%- if cookiecutter.auth in ["api_key", "jwt_and_api_key"] %}
    api_keys.router,
{%- endif %}
    audit.router,
)
{%- endif %}
