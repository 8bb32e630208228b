"""Settings: one typed class read from the environment (and `.env`), validated at startup."""

from functools import lru_cache
{%- if cookiecutter.auth != "none" or cookiecutter.database != "sqlite" or cookiecutter.jobs == "queue" %}
from typing import Annotated, Literal, Self
{%- else %}
from typing import Annotated, Literal
{%- endif %}
{%- if cookiecutter.jobs == "queue" %}
from urllib.parse import urlsplit
{%- endif %}

from limits import parse
{%- if cookiecutter.auth != "none" or cookiecutter.database != "sqlite" or cookiecutter.jobs == "queue" %}
from pydantic import AfterValidator, Field, IPvAnyNetwork, SecretStr, model_validator
{%- else %}
from pydantic import AfterValidator, Field, IPvAnyNetwork, SecretStr
{%- endif %}
from pydantic_settings import BaseSettings, SettingsConfigDict
{%- if cookiecutter.database != "sqlite" %}
from sqlalchemy import make_url
{%- endif %}

{%- if cookiecutter.auth != "none" %}

# Good enough to develop with, refused everywhere else (see `_refuse_weak_secret`).
DEVELOPMENT_SECRET = "development-only-secret-do-not-deploy-0123456789"  # noqa: S105
_MIN_SECRET_BYTES = 32
{%- endif %}
{%- if cookiecutter.database != "sqlite" %}

# The password of the development database in compose.yaml and .env.example: known to
# everyone, so refused in production (see `_refuse_example_database_password`).
EXAMPLE_DATABASE_PASSWORD = "{{ "postgres" if cookiecutter.database == "postgresql" else "mariadb" }}"  # noqa: S105
{%- endif %}
{%- if cookiecutter.jobs == "queue" %}

# RabbitMQ's well-known guest password, of BROKER_URL's default: refused in production.
EXAMPLE_BROKER_PASSWORD = "guest"  # noqa: S105
{%- endif %}


def _rate_limit(text: str) -> str:
    """Refuse a limit that `limits` cannot read, at startup rather than on first use."""
    try:
        usable = parse(text).amount >= 1
    except ValueError:
        usable = False
    if not usable:
        raise ValueError(f"{text!r} is not a rate limit; write it like '10/minute'")
    return text


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


class Settings(BaseSettings):
    """Every setting the service reads. Each maps to the upper-case environment variable."""

    # An empty value (`DOCS_ENABLED=`) means the default, as if the variable were not set.
    # Errors never repeat the input: it holds the secrets.
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        hide_input_in_errors=True,
    )

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
{%- if cookiecutter.database != "sqlite" %}
    # Seconds to connect, or for the server to answer a statement, before 503 "unavailable"
    database_timeout: float = Field(default=10.0, gt=0)
{%- endif %}
    database_echo: bool = False
    cors_origins: list[str] = []
    trusted_hosts: list[str] = ["localhost", "127.0.0.1", "[::1]"]
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    health_timeout: float = Field(default=2.0, gt=0)
    # /docs, /redoc and /openapi.json; unset means on in development and test, off in production.
    docs_enabled: bool | None = None
    # Proxies (addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto are believed;
    # from anyone else those headers are ignored, so clients cannot choose their own address.
    trusted_proxies: list[IPvAnyNetwork] = []
{%- if cookiecutter.cache == "redis" %}
    redis_url: SecretStr = SecretStr("redis://localhost:6379/0")
    # Seconds to wait for Redis before serving without it
    redis_timeout: float = Field(default=0.5, gt=0)
    # Seconds a cached response lives (writes invalidate it at once, in every process)
    cache_ttl: int = Field(default=300, ge=1)
{%- elif cookiecutter.cache == "memory" %}
    # Seconds a cached response lives; another process may serve it that long after a write
    cache_ttl: float = Field(default=5.0, gt=0)
    cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
{%- endif %}
    # Rate limits in the `limits` notation: "600/minute", "10 per second". The first is a
    # flood ceiling for one client address on every route but /health/*; lower it to what
    # one client of your API should use. The others guard the places passwords and tokens
    # could be guessed.
    rate_limit_client: RateLimit = "2000/second"
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    rate_limit_sign_in_client: RateLimit = "30/minute"
    rate_limit_sign_in_account: RateLimit = "10/minute"  # failed sign-ins, from any address
    rate_limit_refresh_client: RateLimit = "60/minute"
    rate_limit_refresh_account: RateLimit = "30/minute"
    rate_limit_register_client: RateLimit = "20/hour"
    rate_limit_register_account: RateLimit = "5/hour"
    rate_limit_reset_client: RateLimit = "10/hour"
    rate_limit_reset_account: RateLimit = "3/hour"
    rate_limit_verify_client: RateLimit = "10/hour"
    rate_limit_verify_account: RateLimit = "3/hour"
{%- endif %}
{%- if cookiecutter.auth in ["api_key", "jwt_and_api_key"] %}
    rate_limit_key_failures_client: RateLimit = "20/minute"
{%- endif %}
{%- if cookiecutter.cache == "redis" %}
    # While Redis is unreachable: let requests through uncounted, or refuse them with 503
    rate_limit_fail_open: bool = True
{%- endif %}
{%- if cookiecutter.auth != "none" %}
{%- if cookiecutter.auth == "api_key" %}
    # The key API-key hashes are made with (HMAC): a copy of the database cannot check keys.
{%- else %}
    # Signs tokens{% if cookiecutter.auth == "jwt_and_api_key" %} and keys API-key hashes (HMAC){% endif %}; changing it ends every session.
{%- endif %}
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
{%- endif %}
{%- if cookiecutter.auth in ["jwt", "jwt_and_api_key"] %}
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=14, ge=1, le=365)
    jwt_issuer: str = "{{ cookiecutter.project_slug }}"
    jwt_audience: str = "{{ cookiecutter.project_slug }}-api"
    registration_enabled: bool = True
    # Password hashing runs on its own threads; beyond threads + backlog waiting, sign-ins
    # and other password checks are answered 503 with Retry-After instead of queueing.
    password_hash_threads: int = Field(default=2, ge=1, le=64)
    password_hash_backlog: int = Field(default=32, ge=0)
    # "console" logs each email (development); "smtp" sends it through SMTP_HOST
    email_backend: Literal["console", "smtp"] = "console"
    # The From address, e.g. "Example <noreply@example.com>"
    email_sender: str = "noreply@example.com"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # "starttls" upgrades a plain connection (port 587), "tls" starts with TLS (port 465)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout: float = Field(default=10.0, gt=0)
    # The page of your front end that asks for a new password; the emailed link adds ?token=
    reset_page_url: str = "http://localhost:8000/reset-password"
    reset_link_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Whether accounts must follow the link sent to their address before they may sign in
    require_verified_email: bool = False
    # The page of your front end that confirms an address; the emailed link adds ?token=
    verify_page_url: str = "http://localhost:8000/verify-email"
    verify_link_hours: int = Field(default=48, ge=1, le=24 * 30)
{%- endif %}
{%- if cookiecutter.jobs == "queue" %}
    # The RabbitMQ the worker takes tasks from; each service sharing it needs its own queue
    broker_url: SecretStr = SecretStr("amqp://guest:guest@localhost:5672/")
    task_queue: str = Field(default="{{ cookiecutter.project_slug }}.tasks", min_length=1)
    # Runs of a failing task before it is kept as dead; retries wait BASE, 2 x BASE, 4 x BASE
    # ... seconds (at most CAP), each shortened by a random part so they do not bunch up
    task_max_attempts: int = Field(default=5, ge=1)
    task_retry_base: float = Field(default=2.0, gt=0)
    task_retry_cap: float = Field(default=600.0, gt=0)
    # Seconds a sent or running task may take before the relay sends it again
    task_lease: float = Field(default=300.0, gt=0)
    # Seconds between the relay's looks at the outbox (the longest a new task waits)
    task_relay_interval: float = Field(default=0.2, gt=0)
    # Tasks one worker process runs at once
    worker_concurrency: int = Field(default=8, ge=1)
{%- endif %}
{%- if cookiecutter.webhooks == "yes" or cookiecutter.websockets == "yes" %}
    # How long events stay readable for clients catching up (GET /api/v1/events)
    event_retention_hours: float = Field(default=24.0, gt=0, le=24 * 90)
{%- endif %}
{%- if cookiecutter.webhooks == "yes" %}
    # Attempts per webhook delivery before it fails; retries wait BASE, 2 x BASE, 4 x BASE ...
    # seconds (at most CAP), each shortened by a random part so they do not bunch up
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_retry_base: float = Field(default=10.0, gt=0)
    webhook_retry_cap: float = Field(default=3600.0, gt=0)
    # Seconds one attempt may take in all: resolving, connecting, sending, reading the answer
    webhook_timeout: float = Field(default=10.0, gt=0, le=300)
    # Bytes of a receiver's answer read per attempt (and kept, for its owner to see)
    webhook_max_response_bytes: int = Field(default=2048, ge=0, le=16384)
    # Failed deliveries in a row after which an endpoint is disabled until its owner enables it
    webhook_disable_after: int = Field(default=20, ge=1)
    # Host names or addresses delivered to despite the address rules (loopback, private
    # networks, ...): receivers you run yourself. Empty: every such address is refused.
    webhook_allowed_hosts: list[str] = []
{%- if cookiecutter.jobs == "none" %}
    # Seconds between the in-process dispatcher's looks for retries that came due
    webhook_poll_interval: float = Field(default=1.0, gt=0)
    # Deliveries one process sends at once
    webhook_concurrency: int = Field(default=8, ge=1)
{%- endif %}
{%- endif %}
{%- if cookiecutter.websockets == "yes" %}
    # The live event stream (GET /api/v1/events/ws).
{%- if cookiecutter.auth != "none" %}
    # Seconds a client has to send its credential after connecting
    websocket_auth_seconds: float = Field(default=10.0, gt=0)
    # Seconds between checks that a stream's credential still holds (revoked, deactivated)
    websocket_recheck_seconds: float = Field(default=60.0, gt=0)
{%- endif %}
    # Seconds between the server's pings, and for the client's pong to each
    websocket_ping_seconds: float = Field(default=25.0, gt=0)
    websocket_pong_seconds: float = Field(default=20.0, gt=0)
    # Events one stream may have waiting to be sent before it is closed as too slow
    websocket_send_buffer: int = Field(default=256, ge=1)
{%- endif %}
{%- if cookiecutter.auth != "none" %}

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> Self:
        """Outside development, a missing, placeholder or short secret stops the service."""
        secret = self.secret_key.get_secret_value()
        if self.environment != "development" and (
            secret == DEVELOPMENT_SECRET or len(secret.encode()) < _MIN_SECRET_BYTES
        ):
            raise ValueError(
                f"SECRET_KEY must be at least {_MIN_SECRET_BYTES} random bytes outside "
                "development; make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return self
{%- endif %}
{%- if cookiecutter.database != "sqlite" %}

    @model_validator(mode="after")
    def _refuse_example_database_password(self) -> Self:
        """In production, the example database password stops the service, as a weak secret
        does. (Tests and CI run throwaway databases with it, so only production refuses.)"""
        if self.environment != "production":
            return self
        if make_url(self.database_url.get_secret_value()).password == EXAMPLE_DATABASE_PASSWORD:
            raise ValueError(
                "DATABASE_URL has the example password, which is refused in production; "
                "give the database a password of its own"
            )
        return self
{%- endif %}
{%- if cookiecutter.jobs == "queue" %}

    @model_validator(mode="after")
    def _refuse_example_broker_password(self) -> Self:
        """In production, RabbitMQ's guest password stops the service (and the worker)."""
        broker = urlsplit(self.broker_url.get_secret_value())
        if self.environment == "production" and broker.password == EXAMPLE_BROKER_PASSWORD:
            raise ValueError(
                "BROKER_URL has RabbitMQ's guest password, which is refused in production; "
                "give the broker a user or password of its own"
            )
        return self
{%- endif %}

    @property
    def serve_docs(self) -> bool:
        """The API docs and schema are public only where someone asked for them."""
        if self.docs_enabled is None:
            return self.environment != "production"
        return self.docs_enabled

    @property
    def log_json(self) -> bool:
        """Production logs are JSON lines for machines; elsewhere they are for people."""
        return self.environment == "production"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return Settings()
