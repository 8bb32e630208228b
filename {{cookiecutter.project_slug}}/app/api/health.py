"""Health probes for orchestrators: liveness (the process runs) and readiness (it can serve)."""

from fastapi import APIRouter, Response

from app.core.deps import AppSettings, Database
from app.schemas.health import Health
from app.services.health import check_database

router = APIRouter(prefix="/health", tags=["health"])


# The liveness answer never changes: made once, sent as it is (probes come often).
_ALIVE = Health().model_dump_json().encode()


@router.get("/live", response_model=Health, summary="Liveness probe")
async def live() -> Response:
    """Answers while the process is running; touches nothing else."""
    return Response(_ALIVE, media_type="application/json")


@router.get(
    "/ready",
    response_model=Health,
    summary="Readiness probe",
    responses={503: {"description": "The database did not answer within the timeout."}},
)
async def ready(database: Database, settings: AppSettings) -> Health:
    """Answers once the database answers a trivial query within `HEALTH_TIMEOUT` seconds."""
    await check_database(database, settings.health_timeout)
    return Health()
