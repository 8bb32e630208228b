"""Shared helpers for the template's tests: baking variants and reaching the real servers."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from dev import extra_venv
from tests.matrix import COOKIECUTTER_JSON, ROOT, Variant, variant_id

IN_CI = os.environ.get("CI", "").lower() == "true"

# The servers that an option value needs, by that value.
SERVERS = {
    "postgresql": ("127.0.0.1", 5432),
    "mysql": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
    "queue": ("127.0.0.1", 5672),  # RabbitMQ
}
REDIS_DATABASES = 16


def bake(output_dir: Path, **answers: str) -> Path:
    """Render the template with cookiecutter's Python API, isolated from the user's config.

    Cookiecutter silently ignores answers it does not know, so a typo here would test the
    default instead of the intended variant: unknown keys are refused.
    """
    unknown = set(answers) - set(COOKIECUTTER_JSON)
    if unknown:
        raise KeyError(f"not options of cookiecutter.json: {sorted(unknown)}")
    home = output_dir / ".cookiecutter-home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(home / 'templates'))}\n"
        f"replay_dir: {json.dumps(str(home / 'replay'))}\n"
    )
    project = cookiecutter(
        str(ROOT),
        no_input=True,
        extra_context=answers,
        output_dir=str(output_dir),
        config_file=str(config),
    )
    return Path(project)


def run(
    *command: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure the assertion message carries its whole output."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed in {cwd} with {result.returncode}\n"
        f"--- stdout\n{result.stdout[-8000:]}\n--- stderr\n{result.stderr[-8000:]}"
    )
    return result


def tool(name: str) -> Path:
    """A console script of the environment running the tests (ruff, mypy, alembic...)."""
    return Path(sys.executable).parent / name


def require_server(name: str) -> None:
    """Skip when the server is down, except under CI=true where a missing server fails."""
    if name not in SERVERS:
        return
    try:
        socket.create_connection(SERVERS[name], timeout=2).close()
    except OSError as exc:
        message = f"{name} is not reachable at {SERVERS[name]}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def require_servers(variant: Variant) -> None:
    """Every server the variant's options need (its database, Redis for the Redis cache,
    RabbitMQ for the task queue)."""
    for value in variant.values():
        require_server(value)


def redis_url(worker_id: str) -> str:
    """A Redis database of this test process only, so parallel suites never share one."""
    number = int(worker_id.removeprefix("gw")) if worker_id.startswith("gw") else 0
    return f"redis://127.0.0.1:6379/{number % REDIS_DATABASES}"


def python_for(version: str) -> Path:
    """An interpreter of this version with every variant's dependencies.

    The one running these tests when the version matches, otherwise the `.venv-X.Y` that
    `python3 dev.py test` creates beside `.venv`.
    """
    if version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return Path(sys.executable)
    python = extra_venv(version) / "bin" / "python"
    if not python.exists():
        message = f"{python} does not exist; `python3 dev.py test` creates it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return python


def database_url(database: str, name: str, workdir: Path) -> str:
    """A URL for a database of this run only, so parallel variants never share one."""
    name = re.sub(r"[^a-z0-9_]", "_", name.lower())[:50]
    if database == "postgresql":
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    if database == "mysql":
        return f"mysql+asyncmy://root@127.0.0.1:3306/{name}?charset=utf8mb4"
    return f"sqlite+aiosqlite:///{workdir / (name + '.db')}"


def create_database(database: str, name: str) -> None:
    """Create an empty database on the server (dropping a leftover of an earlier run)."""
    name = re.sub(r"[^a-z0-9_]", "_", name.lower())[:50]
    if database == "postgresql":
        for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
            run("psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql, cwd=ROOT)
    elif database == "mysql":
        sql = (
            f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`"
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        run("mysql", "-h", "127.0.0.1", "-u", "root", "-e", sql, cwd=ROOT)


_baked: dict[str, Path] = {}


@pytest.fixture(scope="session")
def baked(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Variant], Path]:
    """Bake a variant once per test process and hand back its project directory."""

    def get(variant: Variant) -> Path:
        key = variant_id(variant)
        if key not in _baked:
            _baked[key] = bake(tmp_path_factory.mktemp(key), **variant)
        return _baked[key]

    return get


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: runs a generated project's own suite or installs one; scheduled first",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the long tests first, so the parallel workers finish close together."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
