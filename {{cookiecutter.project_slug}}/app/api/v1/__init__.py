"""Version 1 of the HTTP API."""

from fastapi import APIRouter

from app.api.v1 import items

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(items.router)
