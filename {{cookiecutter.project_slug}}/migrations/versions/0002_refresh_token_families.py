{%- set timestamp = "mysql.DATETIME(fsp=6)" if cookiecutter.database == "mysql" else "sa.DateTime(timezone=True)" -%}
{%- set table_options = '\n        mysql_charset="utf8mb4",\n        mysql_collate="utf8mb4_unicode_ci",' if cookiecutter.database == "mysql" else "" -%}
"""Give each sign-in a row of its own, which rotation and revocation lock.

Revocation moves from every refresh token to its sign-in (its family), so that a revocation
can no longer miss a token a concurrent rotation is writing, and access tokens can die with
their sign-in. Existing sign-ins are carried over.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
{%- if cookiecutter.database == "mysql" %}
from sqlalchemy.dialects import mysql
{%- endif %}

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refresh_token_families",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", {{ timestamp }}, nullable=False),
        sa.Column("revoked_at", {{ timestamp }}, nullable=True),
        sa.Column("created_at", {{ timestamp }}, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_token_families_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_token_families")),{{ table_options }}
    )
    op.create_index(
        op.f("ix_refresh_token_families_expires_at"), "refresh_token_families", ["expires_at"]
    )
    op.create_index(
        op.f("ix_refresh_token_families_user_id"), "refresh_token_families", ["user_id"]
    )
    op.execute(
        "INSERT INTO refresh_token_families (id, user_id, expires_at, revoked_at, created_at)"
        " SELECT family_id, user_id, MAX(expires_at), MAX(revoked_at), MIN(created_at)"
        " FROM refresh_tokens GROUP BY family_id, user_id"
    )
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("revoked_at")
        batch.create_foreign_key(
            op.f("fk_refresh_tokens_family_id_refresh_token_families"),
            "refresh_token_families",
            ["family_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_constraint(
            op.f("fk_refresh_tokens_family_id_refresh_token_families"), type_="foreignkey"
        )
        batch.add_column(sa.Column("revoked_at", {{ timestamp }}, nullable=True))
    op.execute(
        "UPDATE refresh_tokens SET revoked_at = (SELECT revoked_at FROM refresh_token_families"
        " WHERE refresh_token_families.id = refresh_tokens.family_id)"
    )
    op.drop_table("refresh_token_families")
