{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
{%- set timestamp = "mysql.DATETIME(fsp=6)" if cookiecutter.database == "mysql" else "sa.DateTime(timezone=True)" -%}
{%- set table_options = '\n        mysql_charset="utf8mb4",\n        mysql_collate="utf8mb4_unicode_ci",' if cookiecutter.database == "mysql" else "" -%}
{%- set previous = "0004" if jwt else ("0003" if cookiecutter.jobs == "queue" else "0001") -%}
"""Add the event source that webhooks and websockets are fed from.

Revision ID: 0005
Revises: {{ previous }}
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
{%- if cookiecutter.database == "mysql" %}
from sqlalchemy.dialects import mysql
{%- endif %}

revision: str = "0005"
down_revision: str | None = "{{ previous }}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
{%- if cookiecutter.database == "sqlite" %}
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
{%- else %}
        sa.Column("seq", sa.BigInteger(), autoincrement=True, nullable=False),
{%- endif %}
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
{%- if jwt %}
        sa.Column("owner_id", sa.Uuid(), nullable=False),
{%- endif %}
        sa.Column("occurred_at", {{ timestamp }}, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
{%- if jwt %}
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_events_owner_id_users"), ondelete="CASCADE"
        ),
{%- endif %}
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),{{ table_options }}
    )
    op.create_index(op.f("ix_events_occurred_at"), "events", ["occurred_at"])
{%- if jwt %}
    op.create_index(op.f("ix_events_owner_id_seq"), "events", ["owner_id", "seq"])
{%- endif %}


def downgrade() -> None:
    op.drop_table("events")
