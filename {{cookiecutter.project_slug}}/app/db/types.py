"""Column types that behave the same on every supported database."""

{% if cookiecutter.database == "postgresql" -%}
from datetime import datetime
{%- else -%}
from datetime import UTC, datetime
{%- endif %}

from sqlalchemy import DateTime, Dialect
{%- if cookiecutter.database == "mysql" %}
from sqlalchemy.dialects.mysql import DATETIME
from sqlalchemy.types import TypeDecorator, TypeEngine
{%- else %}
from sqlalchemy.types import TypeDecorator
{%- endif %}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes and always returns them aware, in UTC.
{%- if cookiecutter.database == "postgresql" %}

    PostgreSQL stores `timestamptz` and asyncpg reads it back in UTC; this type only refuses
    naive values, which asyncpg would otherwise read in the process's local time zone.
{%- elif cookiecutter.database == "mysql" %}

    MySQL's DATETIME has no time zone and drops microseconds unless asked, so values are
    stored as naive UTC in DATETIME(6) and marked UTC again when read.
{%- else %}

    SQLite stores text without an offset, so values are stored as naive UTC and marked UTC
    again when read.
{%- endif %}
    """

    impl = DateTime(timezone=True)
    cache_ok = True
{%- if cookiecutter.database == "mysql" %}

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[datetime]:
        return dialect.type_descriptor(DATETIME(fsp=6))
{%- endif %}

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware datetime")
{%- if cookiecutter.database == "postgresql" %}
        return value
{%- else %}
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)
{%- endif %}
