"""Health probes for orchestrators: liveness (the process runs) and readiness (it can serve)."""
{%- if cookiecutter.cache == "redis" %}

from fastapi import APIRouter, Request, Response
{%- else %}

from fastapi import APIRouter, Response
{%- endif %}

from app.core.deps import AppSettings, Database
{%- if cookiecutter.cache == "redis" %}
from app.schemas.health import Health, Readiness
from app.services.health import check_database, redis_answers
{%- else %}
from app.schemas.health import Health
from app.services.health import check_database
{%- endif %}

router = APIRouter(prefix="/health", tags=["health"])


# The liveness answer never changes: made once, and sent by the edge middleware without
# routing (probes come often); the route below documents it.
ALIVE = Health().model_dump_json().encode()


@router.get("/live", response_model=Health, summary="Liveness probe")
async def live() -> Response:
    """Answers while the process is running; touches nothing else."""
    return Response(ALIVE, media_type="application/json")


{%- if cookiecutter.cache == "redis" %}


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness probe",
    responses={503: {"description": "The database did not answer within the timeout."}},
)
async def ready(database: Database, settings: AppSettings, request: Request) -> Readiness:
    """Answers once the database answers a trivial query within `HEALTH_TIMEOUT` seconds.
    An unreachable Redis only shows as `"cache": "degraded"`: requests are still served."""
    await check_database(database, settings.health_timeout)
    cached = await redis_answers(request.state.redis, settings.health_timeout)
    return Readiness(cache="ok" if cached else "degraded")
{%- else %}


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
{%- endif %}
