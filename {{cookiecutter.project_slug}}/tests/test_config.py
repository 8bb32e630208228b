"""Settings come from the environment, are validated, and pick the log format."""

import pytest
from pydantic import ValidationError

from app.core.config import Settings


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


@pytest.mark.parametrize(
    ("environment", "json_lines"),
    [("production", True), ("development", False), ("test", False)],
)
def test_json_logs_in_production_only(environment: str, json_lines: bool) -> None:
    settings = Settings(_env_file=None, environment=environment)  # type: ignore[arg-type]
    assert settings.log_json is json_lines


def test_database_url_is_kept_secret() -> None:
    settings = Settings(_env_file=None)
    assert settings.database_url.get_secret_value() not in repr(settings)
