{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
{%- set timestamp = "mysql.DATETIME(fsp=6)" if cookiecutter.database == "mysql" else "sa.DateTime(timezone=True)" -%}
{%- set table_options = '\n        mysql_charset="utf8mb4",\n        mysql_collate="utf8mb4_unicode_ci",' if cookiecutter.database == "mysql" else "" -%}
"""Add webhook endpoints, their deliveries and the attempts at each.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
{%- if cookiecutter.database == "mysql" %}
from sqlalchemy.dialects import mysql
{%- endif %}

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
{%- if jwt %}
        sa.Column("owner_id", sa.Uuid(), nullable=False),
{%- endif %}
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", sa.String(length=1000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("created_at", {{ timestamp }}, nullable=False),
        sa.Column("updated_at", {{ timestamp }}, nullable=False),
{%- if jwt %}
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_webhook_endpoints_owner_id_users"),
            ondelete="CASCADE",
        ),
{%- endif %}
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),{{ table_options }}
    )
{%- if jwt %}
    op.create_index(op.f("ix_webhook_endpoints_owner_id"), "webhook_endpoints", ["owner_id"])
{%- endif %}
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", {{ timestamp }}, nullable=False),
        sa.Column("created_at", {{ timestamp }}, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),{{ table_options }}
    )
    op.create_index(
        op.f("ix_webhook_deliveries_endpoint_id_created_at"),
        "webhook_deliveries",
        ["endpoint_id", "created_at"],
    )
    op.create_index(
        op.f("ix_webhook_deliveries_state_due_at"), "webhook_deliveries", ["state", "due_at"]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("attempted_at", {{ timestamp }}, nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),{{ table_options }}
    )
    op.create_index(op.f("ix_webhook_attempts_delivery_id"), "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
