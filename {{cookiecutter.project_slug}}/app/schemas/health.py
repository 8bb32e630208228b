"""Health probe responses."""

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Health(BaseModel):
    """The process is up (liveness) or can serve requests (readiness)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"
