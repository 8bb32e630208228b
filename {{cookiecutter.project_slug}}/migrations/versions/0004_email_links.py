{%- set timestamp = "mysql.DATETIME(fsp=6)" if cookiecutter.database == "mysql" else "sa.DateTime(timezone=True)" -%}
{%- set table_options = '\n        mysql_charset="utf8mb4",\n        mysql_collate="utf8mb4_unicode_ci",' if cookiecutter.database == "mysql" else "" -%}
{%- set previous = "0003" if cookiecutter.jobs == "queue" else "0002" -%}
"""Add email links, kept as hashes: password resets and address verification.

Accounts that exist before this revision count as verified from their creation: they
were made before there was a way to verify, and must not be locked out when
REQUIRE_VERIFIED_EMAIL is turned on.

Revision ID: 0004
Revises: {{ previous }}
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
{%- if cookiecutter.database == "mysql" %}
from sqlalchemy.dialects import mysql
{%- endif %}

revision: str = "0004"
down_revision: str | None = "{{ previous }}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("expires_at", {{ timestamp }}, nullable=False),
        sa.Column("used_at", {{ timestamp }}, nullable=True),
        sa.Column("created_at", {{ timestamp }}, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_password_resets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),{{ table_options }}
    )
    op.create_index(op.f("ix_password_resets_user_id"), "password_resets", ["user_id"])
    op.create_table(
        "email_verifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("replaces", sa.String(length=254), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", {{ timestamp }}, nullable=False),
        sa.Column("used_at", {{ timestamp }}, nullable=True),
        sa.Column("created_at", {{ timestamp }}, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_email_verifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_verifications")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_verifications_token_hash")),{{ table_options }}
    )
    op.create_index(op.f("ix_email_verifications_user_id"), "email_verifications", ["user_id"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", {{ timestamp }}, nullable=True))
    op.execute("UPDATE users SET email_verified_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")
    op.drop_table("email_verifications")
    op.drop_table("password_resets")
