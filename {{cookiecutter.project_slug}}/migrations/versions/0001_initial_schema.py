{%- set jwt = cookiecutter.auth in ["jwt", "jwt_and_api_key"] -%}
{%- set keys = cookiecutter.auth in ["api_key", "jwt_and_api_key"] -%}
{%- set timestamp = "mysql.DATETIME(fsp=6)" if cookiecutter.database == "mysql" else "sa.DateTime(timezone=True)" -%}
{%- set table_options = '\n        mysql_charset="utf8mb4",\n        mysql_collate="utf8mb4_unicode_ci",' if cookiecutter.database == "mysql" else "" -%}
"""Create the initial schema.

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
{%- if jwt %}
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
{%- if cookiecutter.database == "mysql" %}
        sa.Column("email", sa.String(length=254, collation="utf8mb4_bin"), nullable=False),
{%- else %}
        sa.Column("email", sa.String(length=254), nullable=False),
{%- endif %}
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("created_at", {{ timestamp }}, nullable=False),
        sa.Column("updated_at", {{ timestamp }}, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),{{ table_options }}
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", {{ timestamp }}, nullable=False),
        sa.Column("used_at", {{ timestamp }}, nullable=True),
        sa.Column("revoked_at", {{ timestamp }}, nullable=True),
        sa.Column("created_at", {{ timestamp }}, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),{{ table_options }}
    )
    op.create_index(op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"])
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"])
{%- endif %}
{%- if keys %}
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
{%- if jwt %}
        sa.Column("user_id", sa.Uuid(), nullable=False),
{%- endif %}
        sa.Column("expires_at", {{ timestamp }}, nullable=True),
        sa.Column("last_used_at", {{ timestamp }}, nullable=True),
        sa.Column("revoked_at", {{ timestamp }}, nullable=True),
        sa.Column("created_at", {{ timestamp }}, nullable=False),
{%- if jwt %}
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
{%- endif %}
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),{{ table_options }}
    )
{%- if jwt %}
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"])
{%- endif %}
{%- endif %}
{%- if cookiecutter.auth != "none" %}
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", {{ timestamp }}, nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("target", sa.String(length=64), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),{{ table_options }}
    )
    op.create_index(op.f("ix_audit_events_occurred_at_id"), "audit_events", ["occurred_at", "id"])
{%- endif %}
    op.create_table(
        "items",
        sa.Column("id", sa.Uuid(), nullable=False),
{%- if jwt %}
        sa.Column("owner_id", sa.Uuid(), nullable=False),
{%- endif %}
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", {{ timestamp }}, nullable=False),
        sa.Column("updated_at", {{ timestamp }}, nullable=False),
{%- if jwt %}
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_items_owner_id_users"), ondelete="CASCADE"
        ),
{%- endif %}
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),{{ table_options }}
    )
{%- if jwt %}
    op.create_index(
        op.f("ix_items_owner_id_created_at_id"), "items", ["owner_id", "created_at", "id"]
    )
    op.create_index(
        op.f("ix_items_owner_id_updated_at_id"), "items", ["owner_id", "updated_at", "id"]
    )
    op.create_index(op.f("ix_items_owner_id_title_id"), "items", ["owner_id", "title", "id"])
{%- else %}
    op.create_index(op.f("ix_items_created_at_id"), "items", ["created_at", "id"])
    op.create_index(op.f("ix_items_updated_at_id"), "items", ["updated_at", "id"])
    op.create_index(op.f("ix_items_title_id"), "items", ["title", "id"])
{%- endif %}


def downgrade() -> None:
    op.drop_table("items")
{%- if cookiecutter.auth != "none" %}
    op.drop_table("audit_events")
{%- endif %}
{%- if keys %}
    op.drop_table("api_keys")
{%- endif %}
{%- if jwt %}
    op.drop_table("refresh_tokens")
    op.drop_table("users")
{%- endif %}
