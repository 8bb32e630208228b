"""Settings: one typed class read from the environment (and `.env`), validated at startup."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting the service reads. Each maps to the upper-case environment variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
{%- if cookiecutter.database == "sqlite" %}
    database_url: SecretStr = SecretStr(
        "sqlite+aiosqlite:///./{{ cookiecutter.project_slug }}.db",
    )
{%- elif cookiecutter.database == "postgresql" %}
    database_url: SecretStr = SecretStr(
        "postgresql+asyncpg://postgres:postgres@localhost:5432/{{ cookiecutter.project_slug }}",
    )
{%- elif cookiecutter.database == "mysql" %}
    database_url: SecretStr = SecretStr(
        "mysql+asyncmy://root:mariadb@localhost:3306/{{ cookiecutter.project_slug }}?charset=utf8mb4",
    )
{%- endif %}
    database_pool_size: int = Field(default=20, ge=1)
    database_pool_timeout: float = Field(default=5.0, gt=0)
    database_echo: bool = False
    cors_origins: list[str] = []
    trusted_hosts: list[str] = ["localhost", "127.0.0.1", "[::1]"]
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    health_timeout: float = Field(default=2.0, gt=0)
    docs_enabled: bool = True

    @property
    def log_json(self) -> bool:
        """Production logs are JSON lines for machines; elsewhere they are for people."""
        return self.environment == "production"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return Settings()
