"""Shared helpers for the template's tests: baking variants and reaching the real servers."""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
COOKIECUTTER_JSON: dict[str, Any] = json.loads((ROOT / "cookiecutter.json").read_text())
VARIANT_FILES: dict[str, dict[str, list[str]]] = COOKIECUTTER_JSON["_variant_files"]
AXES = list(VARIANT_FILES)
CHOICES: dict[str, list[str]] = {axis: COOKIECUTTER_JSON[axis] for axis in AXES}
DATABASES = CHOICES["database"]
PYTHON_VERSIONS = CHOICES["python_version"]
IN_CI = os.environ.get("CI", "").lower() == "true"
DEFAULTS = {axis: values[0] for axis, values in CHOICES.items()}

# Every combination of every option axis: rendered, linted and type-checked.
VARIANTS: list[dict[str, str]] = [
    dict(zip(AXES, values, strict=True)) for values in itertools.product(*CHOICES.values())
]
# The Python version changes configuration only, so the projects' own suites and migrations
# run once per combination of the other axes (on the Python running these tests).
RUNTIME_VARIANTS = [
    variant for variant in VARIANTS if variant["python_version"] == DEFAULTS["python_version"]
]

SERVERS = {"postgresql": ("127.0.0.1", 5432), "mysql": ("127.0.0.1", 3306)}


def variant_id(variant: dict[str, str]) -> str:
    return "-".join(variant[axis] for axis in AXES)


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


def require_server(database: str) -> None:
    """Skip when the server is down, except under CI=true where a missing server fails."""
    if database not in SERVERS:
        return
    try:
        socket.create_connection(SERVERS[database], timeout=2).close()
    except OSError as exc:
        message = f"{database} is not reachable at {SERVERS[database]}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


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
def baked(tmp_path_factory: pytest.TempPathFactory) -> Callable[[dict[str, str]], Path]:
    """Bake a variant once per test process and hand back its project directory."""

    def get(variant: dict[str, str]) -> Path:
        key = variant_id(variant)
        if key not in _baked:
            _baked[key] = bake(tmp_path_factory.mktemp(key), **variant)
        return _baked[key]

    return get
