"""Version 1 of the HTTP API."""

from fastapi import APIRouter

{% if cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" -%}
{% set events = ", events" -%}
{% else -%}
{% set events = "" -%}
{% endif -%}
{% set hooks = ", webhooks" if cookiecutter.webhooks == "yes" else "" -%}
{% if cookiecutter.auth == "jwt" -%}
from app.api.v1 import audit, auth{{ events }}, items, users{{ hooks }}
{%- elif cookiecutter.auth == "api_key" -%}
from app.api.v1 import api_keys, audit{{ events }}, items{{ hooks }}
{%- elif cookiecutter.auth == "jwt_and_api_key" -%}
from app.api.v1 import api_keys, audit, auth{{ events }}, items, users{{ hooks }}
{%- else -%}
from app.api.v1 import {{ events[2:] ~ ", " if events }}items{{ hooks }}
{%- endif %}

PREFIX = "/api/v1"
# Included into the application one by one, not through a parent router: each level of
# nesting costs every request another round of route matching. Requests try routes in
# order, so the busiest resource goes first.
{%- if cookiecutter.auth == "none" and not events %}
ROUTERS: tuple[APIRouter, ...] = (items.router,)
{%- elif cookiecutter.auth == "none" and cookiecutter.webhooks == "yes" %}
ROUTERS: tuple[APIRouter, ...] = (items.router, events.router, webhooks.router)
{%- elif cookiecutter.auth == "none" %}
ROUTERS: tuple[APIRouter, ...] = (items.router, events.router)
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
{%- if events %}
    events.router,
{%- endif %}
{%- if cookiecutter.webhooks == "yes" %}
    webhooks.router,
{%- endif %}
)
{%- endif %}
