"""Settings come from the environment, are validated, and pick the log format."""

import pytest
{%- if cookiecutter.auth != "none" %}
from pydantic import SecretStr, ValidationError
{%- else %}
from pydantic import ValidationError
{%- endif %}
{% if cookiecutter.auth != "none" %}
from app.core.config import DEVELOPMENT_SECRET, Settings
from tests.conftest import TEST_SECRET
{%- else %}
from app.core.config import Settings
{%- endif %}
{%- if cookiecutter.database != "sqlite" %}

# A production-like DATABASE_URL whose password is not the example one.
{%- if cookiecutter.database == "postgresql" %}
OWN_PASSWORD_URL = "postgresql+asyncpg://app:a-password-of-its-own@db:5432/app"
{%- else %}
OWN_PASSWORD_URL = "mysql+asyncmy://app:a-password-of-its-own@db:3306/app?charset=utf8mb4"
{%- endif %}


@pytest.fixture(autouse=True)
def own_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests start production settings, which refuse the example database password
    that the environment's DATABASE_URL may hold (CI's does)."""
    monkeypatch.setenv("DATABASE_URL", OWN_PASSWORD_URL)
{%- endif %}
{%- if cookiecutter.jobs == "queue" %}


@pytest.fixture(autouse=True)
def own_broker_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production settings refuse RabbitMQ's guest password, BROKER_URL's default."""
    monkeypatch.setenv("BROKER_URL", "amqp://app:a-password-of-its-own@rabbitmq:5672/")
{%- endif %}


def test_lists_and_numbers_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", '["https://a.example", "https://b.example"]')
    monkeypatch.setenv("MAX_BODY_BYTES", "2048")

    settings = Settings(_env_file=None)

    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.max_body_bytes == 2048


@pytest.mark.parametrize(
    ("name", "value"),
    [("ENVIRONMENT", "staging"), ("MAX_BODY_BYTES", "0"), ("HEALTH_TIMEOUT", "-1")],
)
def test_invalid_values_stop_startup(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings(_env_file=None)


def test_refusals_never_repeat_the_input_which_holds_the_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "0")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    assert "input_value" not in str(refused.value)


@pytest.mark.parametrize(
    ("environment", "json_lines"),
    [("production", True), ("development", False), ("test", False)],
)
def test_json_logs_in_production_only(environment: str, json_lines: bool) -> None:
{%- if cookiecutter.auth != "none" %}
    settings = Settings(
        _env_file=None,
        environment=environment,  # type: ignore[arg-type]
        secret_key=SecretStr(TEST_SECRET),
    )
{%- else %}
    settings = Settings(_env_file=None, environment=environment)  # type: ignore[arg-type]
{%- endif %}
    assert settings.log_json is json_lines


@pytest.mark.parametrize(
    ("environment", "docs_enabled", "served"),
    [
        ("production", None, False),
        ("production", "true", True),
        ("development", None, True),
        ("test", None, True),
        ("development", "false", False),
    ],
)
def test_docs_are_off_in_production_unless_switched_on(
    monkeypatch: pytest.MonkeyPatch, environment: str, docs_enabled: str | None, served: bool
) -> None:
    monkeypatch.delenv("DOCS_ENABLED", raising=False)
    if docs_enabled is not None:
        monkeypatch.setenv("DOCS_ENABLED", docs_enabled)
{%- if cookiecutter.auth != "none" %}

    settings = Settings(
        _env_file=None,
        environment=environment,  # type: ignore[arg-type]
        secret_key=SecretStr(TEST_SECRET),  # production refuses to start without a strong one
    )
{%- else %}

    settings = Settings(_env_file=None, environment=environment)  # type: ignore[arg-type]
{%- endif %}

    assert settings.serve_docs is served


def test_database_url_is_kept_secret() -> None:
    settings = Settings(_env_file=None)
    assert settings.database_url.get_secret_value() not in repr(settings)
{%- if cookiecutter.auth != "none" %}


@pytest.mark.parametrize("environment", ["production", "test"])
@pytest.mark.parametrize(
    "secret",
    [None, DEVELOPMENT_SECRET, "short", "x" * 31],
    ids=["missing", "placeholder", "5", "31"],
)
def test_weak_secret_stops_startup_outside_development(
    environment: str, secret: str | None
) -> None:
    chosen = {} if secret is None else {"secret_key": SecretStr(secret)}
    with pytest.raises(ValidationError, match="SECRET_KEY must be at least 32"):
        Settings(_env_file=None, environment=environment, **chosen)  # type: ignore[arg-type]


def test_development_runs_with_the_placeholder_secret() -> None:
    settings = Settings(_env_file=None, environment="development")
    assert settings.secret_key.get_secret_value() == DEVELOPMENT_SECRET


def test_a_long_random_secret_is_accepted_in_production() -> None:
    settings = Settings(_env_file=None, environment="production", secret_key=SecretStr("x" * 32))
    assert settings.environment == "production"
{%- endif %}
{%- if cookiecutter.database != "sqlite" %}


def test_the_example_database_password_stops_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL")  # the default URL, with the example password
    with pytest.raises(ValidationError, match="DATABASE_URL has the example password"):
{%- if cookiecutter.auth != "none" %}
        Settings(_env_file=None, environment="production", secret_key=SecretStr(TEST_SECRET))
{%- else %}
        Settings(_env_file=None, environment="production")
{%- endif %}


def test_the_example_database_password_serves_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL")
    settings = Settings(_env_file=None, environment="development")
    assert settings.database_url == Settings.model_fields["database_url"].default
{%- endif %}
{%- if cookiecutter.jobs == "queue" %}


def test_the_guest_broker_password_stops_production_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKER_URL")  # the default URL, with the guest password
{%- if cookiecutter.auth != "none" %}
    production = {"environment": "production", "secret_key": SecretStr(TEST_SECRET)}
{%- else %}
    production = {"environment": "production"}
{%- endif %}
    with pytest.raises(ValidationError, match="BROKER_URL has RabbitMQ's guest password"):
        Settings(_env_file=None, **production)  # type: ignore[arg-type]
    assert Settings(_env_file=None).broker_url == Settings.model_fields["broker_url"].default
{%- endif %}
