"""Health probe responses."""

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Health(BaseModel):
    """The process is up (liveness) or can serve requests (readiness)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"
{%- if cookiecutter.cache == "redis" %}


class Readiness(Health):
    """Readiness with the cache's state: without Redis the service serves on, uncached."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "cache": "ok"}]})

    cache: Literal["ok", "degraded"] = "ok"
{%- endif %}
