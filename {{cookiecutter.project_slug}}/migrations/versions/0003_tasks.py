{%- set timestamp = "mysql.DATETIME(fsp=6)" if cookiecutter.database == "mysql" else "sa.DateTime(timezone=True)" -%}
{%- set table_options = '\n        mysql_charset="utf8mb4",\n        mysql_collate="utf8mb4_unicode_ci",' if cookiecutter.database == "mysql" else "" -%}
{%- set previous = "0002" if cookiecutter.auth in ["jwt", "jwt_and_api_key"] else "0001" -%}
"""Add the task outbox that background work is written to and run from.

Revision ID: 0003
Revises: {{ previous }}
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
{%- if cookiecutter.database == "mysql" %}
from sqlalchemy.dialects import mysql
{%- endif %}

revision: str = "0003"
down_revision: str | None = "{{ previous }}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", {{ timestamp }}, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", {{ timestamp }}, nullable=False),
        sa.Column("updated_at", {{ timestamp }}, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),{{ table_options }}
    )
    op.create_index(op.f("ix_tasks_state_due_at"), "tasks", ["state", "due_at"])


def downgrade() -> None:
    op.drop_table("tasks")
