"""Create the items table.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
{%- if cookiecutter.database == "mysql" %}
from sqlalchemy.dialects import mysql
{%- endif %}

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
{%- if cookiecutter.database == "mysql" %}
        sa.Column("created_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("updated_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
{%- else %}
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
{%- endif %}
    )
    op.create_index(op.f("ix_items_created_at_id"), "items", ["created_at", "id"])
    op.create_index(op.f("ix_items_updated_at_id"), "items", ["updated_at", "id"])
    op.create_index(op.f("ix_items_title_id"), "items", ["title", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_items_title_id"), table_name="items")
    op.drop_index(op.f("ix_items_updated_at_id"), table_name="items")
    op.drop_index(op.f("ix_items_created_at_id"), table_name="items")
    op.drop_table("items")
