"""Every model, imported here so that `Base.metadata` knows all tables (Alembic reads it)."""

from app.models.item import Item

__all__ = ["Item"]
