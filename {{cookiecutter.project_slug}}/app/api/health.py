"""Health probes for orchestrators: liveness (the process runs) and readiness (it can serve)."""

from fastapi import APIRouter

from app.core.deps import AppSettings, Engine
from app.schemas.health import Health
from app.services.health import check_database

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=Health, summary="Liveness probe")
async def live() -> Health:
    """Answers while the process is running; touches nothing else."""
    return Health()


@router.get(
    "/ready",
    response_model=Health,
    summary="Readiness probe",
    responses={503: {"description": "The database did not answer within the timeout."}},
)
async def ready(engine: Engine, settings: AppSettings) -> Health:
    """Answers once the database answers a trivial query within `HEALTH_TIMEOUT` seconds."""
    await check_database(engine, settings.health_timeout)
    return Health()
