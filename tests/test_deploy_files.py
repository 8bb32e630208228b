"""The deployment files of each database variant follow the rules their tools document.

Dockerfile, .dockerignore, compose.yaml, the CI workflow, .pre-commit-config.yaml,
.env.example and .gitignore are parsed and checked here, without Docker or GitHub: Docker's
instruction and .dockerignore rules, the Compose Specification, GitHub Actions' workflow syntax
and pre-commit's config schema, and that they agree with the project's own settings.
"""

from __future__ import annotations

import itertools
import json
import os
import posixpath
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import run
from tests.matrix import DEFAULTS, OPTIONS, variant_id

Baked = Callable[[dict[str, str]], Path]

# Every database on the default Python, and one more Python to show that the choice propagates.
CASES = [{**DEFAULTS, "database": database} for database in OPTIONS["database"]]
CASES.append({**DEFAULTS, "database": "postgresql", "python_version": "3.12"})
# And every other way to authenticate, whose settings and secrets the files must carry.
CASES += [{**DEFAULTS, "auth": auth} for auth in OPTIONS["auth"][1:]]
# And every other cache, whose server and settings the files must carry.
CASES += [{**DEFAULTS, "cache": cache} for cache in OPTIONS["cache"][1:]]
CASES.append({**DEFAULTS, "database": "postgresql", "cache": "redis"})  # beside a server database
# And the task queue: its broker and worker, beside SQLite and beside a server database.
CASES += [{**DEFAULTS, "database": database, "jobs": "queue"} for database in ("sqlite", "mysql")]
SERVER_CASES = [case for case in CASES if case["database"] != "sqlite"]
QUEUE_CASES = [case for case in CASES if case["jobs"] == "queue"]
SQLITE_CASES = [case for case in CASES if case["database"] == "sqlite"]

SERVER_DATABASES = {"postgresql", "mysql"}
SERVER_IMAGES = {"postgresql": "postgres:17", "mysql": "mariadb:11.4"}
RABBITMQ_IMAGE = "rabbitmq:3.13"
DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
}

DEPLOY_FILES = (
    "Dockerfile",
    ".dockerignore",
    "compose.yaml",
    ".github/workflows/ci.yml",
    ".pre-commit-config.yaml",
    ".env.example",
    ".gitignore",
)
# Jinja that survived rendering; `${{` is GitHub Actions syntax and belongs in the output.
LEFTOVER = re.compile(r"(?<!\$)\{\{|\{%|%\}|\{#|cookiecutter")
DEPENDS_ON_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(params=CASES, ids=variant_id)
def variant(request: pytest.FixtureRequest) -> dict[str, str]:
    return dict(request.param)


@pytest.fixture
def project(baked: Baked, variant: dict[str, str]) -> Path:
    return baked(variant)


def _yaml(project: Path, relative: str) -> Any:
    return yaml.safe_load((project / relative).read_text(encoding="utf-8"))


def _settings(project: Path) -> dict[str, Any]:
    """Field names, defaults and the values `.env.example` yields, from the rendered Settings."""
    script = """
import itertools
import json
from pydantic import SecretStr
from app.core.config import Settings

def values(settings):
    return {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings
    }

print(json.dumps({
    "fields": list(Settings.model_fields),
    "defaults": values(Settings(_env_file=None)),
    "example": values(Settings(_env_file=".env.example")),
}))
"""
    # Only PATH survives, so no DATABASE_URL or other setting of this process leaks in.
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    settings: dict[str, Any] = json.loads(result.stdout)
    return settings


# --- Dockerfile ----------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, `\\` continuations joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, arguments = (current + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a line continuation"
    return instructions


def _stages(instructions: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """One entry per FROM: its base, its `AS` name and its instructions."""
    stages: list[dict[str, Any]] = []
    for keyword, arguments in instructions:
        if keyword == "FROM":
            words = [word for word in arguments.split() if not word.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            assert len(words) == 1 or name, f"unreadable FROM {arguments!r}"
            stages.append({"base": words[0], "name": name, "instructions": []})
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1]["instructions"].append((keyword, arguments))
    return stages


def _dockerfile(project: Path) -> list[dict[str, Any]]:
    return _stages(_instructions((project / "Dockerfile").read_text(encoding="utf-8")))


def _options_and_operands(arguments: str) -> tuple[dict[str, str], list[str]]:
    """`--from=build src dest` -> ({"from": "build"}, ["src", "dest"])."""
    options: dict[str, str] = {}
    operands: list[str] = []
    for word in shlex.split(arguments):
        if word.startswith("--") and not operands:
            key, _, value = word[2:].partition("=")
            options[key] = value
        else:
            operands.append(word)
    return options, operands


def _env(arguments: str) -> dict[str, str]:
    return dict(word.partition("=")[::2] for word in shlex.split(arguments))


def test_dockerfile_builds_in_named_stages_on_the_chosen_python(
    project: Path, variant: dict[str, str]
) -> None:
    stages = _dockerfile(project)
    names = [stage["name"] for stage in stages]
    assert len(stages) >= 2
    assert all(names), "every FROM names its stage with AS"
    assert len(set(names)) == len(names)
    # The virtualenv links to the interpreter it was made with: every stage runs the same one.
    for stage in stages:
        assert stage["base"] == f"python:{variant['python_version']}-slim"

    for index, stage in enumerate(stages):
        for keyword, arguments in stage["instructions"]:
            options, operands = _options_and_operands(arguments)
            if keyword == "COPY" and "from" in options:
                assert options["from"] in names[:index], f"COPY --from={options['from']}"
            if keyword == "ADD":
                assert not any(re.match(r"(https?|git)://|git@", src) for src in operands[:-1])


def test_dockerfile_runtime_stage_is_unprivileged_and_production_ready(project: Path) -> None:
    runtime = _dockerfile(project)[-1]["instructions"]
    keywords = [keyword for keyword, _ in runtime]
    assert keywords.count("CMD") == 1
    assert keywords.count("HEALTHCHECK") == 1
    assert "USER" in keywords
    cmd_at = keywords.index("CMD")
    user_at = max(i for i, keyword in enumerate(keywords) if keyword == "USER")
    assert user_at < cmd_at
    user = runtime[user_at][1].split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit(), "a numeric UID lets orchestrators verify runAsNonRoot"

    command = json.loads(runtime[cmd_at][1])  # exec form: a JSON array, no shell as PID 1
    assert isinstance(command, list)
    assert command[:3] == ["uvicorn", "app.main:create_app", "--factory"]
    pairs = set(itertools.pairwise(command))
    for option, value in (
        ("--host", "0.0.0.0"),
        ("--port", "8000"),
        ("--loop", "uvloop"),
        ("--http", "httptools"),
    ):
        assert (option, value) in pairs, option

    healthcheck = runtime[keywords.index("HEALTHCHECK")][1]
    probe = json.loads(healthcheck[healthcheck.index("CMD") + len("CMD") :])
    assert probe[0] == "python"
    assert "urllib" in probe[-1]
    assert "http://127.0.0.1:8000/health/live" in probe[-1]

    env: dict[str, str] = {}
    for keyword, arguments in runtime:
        if keyword == "ENV":
            env.update(_env(arguments))
    assert env["ENVIRONMENT"] == "production"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert ("EXPOSE", "8000") in runtime


# --- .dockerignore -------------------------------------------------------------------------


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern language: Go's filepath.Match plus `**` for any number of folders."""
    regex = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            regex, i = regex + "(.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
            continue
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            regex += "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]"
            i = end
        else:
            regex += re.escape(char)
        i += 1
    return re.compile(regex)


def _dockerignored(lines: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its folders decides."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    for line in lines:
        negated = line.startswith("!")
        pattern = posixpath.normpath(line.removeprefix("!").strip()).lstrip("/")
        regex = _dockerignore_regex(pattern)
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def _copy_sources(project: Path) -> Iterator[str]:
    """What the Dockerfile copies from the build context (not from other stages)."""
    for stage in _dockerfile(project):
        for keyword, arguments in stage["instructions"]:
            options, operands = _options_and_operands(arguments)
            if keyword in {"COPY", "ADD"} and "from" not in options:
                yield from operands[:-1]


def test_dockerignore_sends_only_the_image_inputs(project: Path) -> None:
    lines = [
        line.strip()
        for line in (project / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = list(_copy_sources(project))
    assert {"pyproject.toml", "README.md", "app", "alembic.ini", "migrations"} <= set(sources)
    for source in sources:
        path = project / source
        assert path.exists(), f"the Dockerfile copies {source}, which the project lacks"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            relative = file.relative_to(project).as_posix()
            assert not _dockerignored(lines, relative), f"{relative} is copied but ignored"
    for unwanted in (
        ".env",
        ".venv/bin/python",
        ".git/HEAD",
        "tests/test_health.py",
        "my_service.db",
        "app/__pycache__/main.cpython-312.pyc",
        ".mypy_cache/3.12/app/main.data.json",
    ):
        assert _dockerignored(lines, unwanted), unwanted


# --- compose.yaml --------------------------------------------------------------------------


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {key: str(value) for key, value in environment.items()}


def _interpolated(value: str) -> str:
    """A compose value as compose reads it with nothing exported: `${NAME:-default}` is the
    default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def _command(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else value


def test_compose_services_match_the_database(project: Path, variant: dict[str, str]) -> None:
    compose = _yaml(project, "compose.yaml")
    assert "version" not in compose, "the Compose Specification dropped the version key"
    services = compose["services"]
    server = variant["database"] in SERVER_DATABASES
    cached = variant["cache"] == "redis"
    queued = variant["jobs"] == "queue"
    expected = ({"app", "db", "migrate"} if server else {"app"}) | ({"redis"} if cached else set())
    assert set(services) == expected | ({"worker", "rabbitmq"} if queued else set())
    if cached:  # the app waits for a healthy Redis and finds it by service name
        assert services["app"]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert _environment(services["app"])["REDIS_URL"] == "redis://redis:6379/0"

    app = services["app"]
    assert app["build"] in [".", {"context": "."}]
    assert any(str(port).endswith(":8000") for port in app["ports"])
    environment = _environment(app)
    assert environment["ENVIRONMENT"] == "production"
    assert "localhost" in json.loads(environment["TRUSTED_HOSTS"])
    assert environment["DATABASE_URL"].startswith(DRIVERS[variant["database"]] + "://")

    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on without conditions"
        for target, rule in depends_on.items():
            assert target in services, f"{name} depends on a missing {target}"
            assert rule["condition"] in DEPENDS_ON_CONDITIONS, f"{name} -> {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"

    # Named volumes used by a service are declared at the top level, and every declared one is used.
    used = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if not source.startswith((".", "/", "~")):
                used.add(source)
    assert used == set(compose.get("volumes") or {})


def test_compose_demands_a_secret_key_exactly_when_there_is_auth(
    project: Path, variant: dict[str, str]
) -> None:
    for service in _yaml(project, "compose.yaml")["services"].values():
        if "build" in service:
            secret = _environment(service).get("SECRET_KEY")
            if variant["auth"] == "none":
                assert secret is None
            else:
                # From the environment, empty unless exported, so that starting only the
                # database or Redis needs nothing: the service itself refuses to start in
                # production without a real key.
                assert secret == "${SECRET_KEY:-}"


@pytest.mark.parametrize("variant", SERVER_CASES, ids=variant_id)
def test_compose_runs_the_server_database_and_migrates_first(
    project: Path, variant: dict[str, str]
) -> None:
    database = variant["database"]
    services = _yaml(project, "compose.yaml")["services"]
    db, migrate, app = services["db"], services["migrate"], services["app"]

    assert db["image"] == SERVER_IMAGES[database]
    assert db["healthcheck"]["test"]
    assert db.get("volumes"), "the database keeps its data in a volume"
    assert _command(migrate["command"]) == ["alembic", "upgrade", "head"]
    assert migrate["build"] == app["build"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert _environment(migrate)["DATABASE_URL"] == _environment(app)["DATABASE_URL"]

    # The app reaches the database by service name; the same credentials, database and port as
    # the development default, which `docker compose up -d db` serves on the loopback address.
    # The password is the example one unless one is exported: production refuses the example.
    password_variable = "POSTGRES_PASSWORD" if database == "postgresql" else "MARIADB_ROOT_PASSWORD"
    assert f"${{{password_variable}:-" in _environment(app)["DATABASE_URL"]
    in_compose = urlsplit(_interpolated(_environment(app)["DATABASE_URL"]))
    default = urlsplit(_settings(project)["defaults"]["database_url"])
    assert in_compose.hostname == "db"
    assert (in_compose.username, in_compose.password, in_compose.path, in_compose.port) == (
        default.username,
        default.password,
        default.path,
        default.port,
    )
    assert f"127.0.0.1:{default.port}:{default.port}" in db["ports"]
    db_env = {key: _interpolated(value) for key, value in _environment(db).items()}
    name = default.path.lstrip("/")
    if database == "postgresql":
        assert db_env.get("POSTGRES_USER", "postgres") == default.username
        assert db_env["POSTGRES_PASSWORD"] == default.password
        assert db_env["POSTGRES_DB"] == name
    else:
        assert default.username == "root"
        assert db_env["MARIADB_ROOT_PASSWORD"] == default.password
        assert db_env["MARIADB_DATABASE"] == name
        assert _command(db["healthcheck"]["test"])[1:] == [
            "healthcheck.sh",
            "--connect",
            "--innodb_initialized",
        ]


@pytest.mark.parametrize("variant", QUEUE_CASES, ids=variant_id)
def test_compose_runs_the_worker_beside_the_app_and_a_healthy_broker(
    project: Path, variant: dict[str, str]
) -> None:
    services = _yaml(project, "compose.yaml")["services"]
    app, worker, rabbitmq = services["app"], services["worker"], services["rabbitmq"]
    slug = project.name
    assert worker["build"] == app["build"]
    assert _command(worker["command"]) == [f"{slug}-worker", "run"]
    assert _command(worker["healthcheck"]["test"])[1:] == [f"{slug}-worker", "health"]
    assert worker["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert "/tmp" in worker["tmpfs"], "the heartbeat file needs a writable /tmp"
    worker_env = _environment(worker)
    assert worker_env["DATABASE_URL"] == _environment(app)["DATABASE_URL"]
    broker = urlsplit(_interpolated(worker_env["BROKER_URL"]))
    default = urlsplit(_settings(project)["defaults"]["broker_url"])
    assert (broker.scheme, broker.hostname, broker.port) == ("amqp", "rabbitmq", default.port)
    assert (broker.username, broker.password) == (default.username, default.password)
    assert rabbitmq["image"] == RABBITMQ_IMAGE
    assert rabbitmq["healthcheck"]["test"]
    assert f"127.0.0.1:{default.port}:{default.port}" in rabbitmq["ports"]
    scripts = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert scripts["project"]["scripts"][f"{slug}-worker"] == "app.worker:main"


@pytest.mark.parametrize("variant", SQLITE_CASES, ids=variant_id)
def test_compose_keeps_sqlite_in_a_volume_and_migrates_before_serving(
    project: Path, variant: dict[str, str]
) -> None:
    app = _yaml(project, "compose.yaml")["services"]["app"]
    url = _environment(app)["DATABASE_URL"]
    assert url.startswith("sqlite+aiosqlite:////"), "an absolute path inside the container"
    data_dir = posixpath.dirname(url.removeprefix("sqlite+aiosqlite:///"))
    assert any(volume.split(":")[1] == data_dir for volume in app["volumes"])

    command = _command(app["command"])
    script = command[-1]
    assert command[:2] == ["sh", "-c"]
    assert script.index("alembic upgrade head &&") < script.index("exec uvicorn")
    assert "--loop uvloop" in script
    assert "--http httptools" in script

    # The image makes that folder and hands it to the unprivileged user.
    runtime = _dockerfile(project)[-1]["instructions"]
    assert any(
        keyword == "RUN"
        and data_dir in arguments
        and ("--owner" in arguments or "chown" in arguments)
        for keyword, arguments in runtime
    )


# --- GitHub Actions workflow ---------------------------------------------------------------

CI_COMMANDS = (
    ("ruff", "check"),
    ("ruff", "format", "--check"),
    ("mypy",),
    ("alembic", "upgrade", "head"),
    ("alembic", "check"),
    ("pytest",),
)


def _runs(command: tuple[str, ...], run_line: str) -> bool:
    words = shlex.split(run_line)
    if words[:2] == ["python", "-m"]:
        words = words[2:]
    head = [word for word in words if not word.startswith("-")]
    flags = [word for word in command if word.startswith("-")]
    verbs = [word for word in command if not word.startswith("-")]
    return head[: len(verbs)] == verbs and all(flag in words for flag in flags)


def test_workflow_runs_every_gate_on_the_chosen_python(
    project: Path, variant: dict[str, str]
) -> None:
    workflow = _yaml(project, ".github/workflows/ci.yml")
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true; GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert {"push", "pull_request"} <= set(triggers)

    jobs = workflow["jobs"]
    assert len(jobs) == 1
    (job,) = jobs.values()
    steps = job["steps"]
    uses = [step["uses"] for step in steps if "uses" in step]
    assert "actions/checkout@v4" in uses
    setup = next(step for step in steps if step.get("uses") == "actions/setup-python@v5")
    # Quoted, so that a version like 3.10 is not read as the number 3.1.
    assert setup["with"]["python-version"] == variant["python_version"]
    assert setup["with"]["cache"] == "pip"

    run_lines = [line for step in steps for line in str(step.get("run", "")).splitlines() if line]
    install = next(i for i, line in enumerate(run_lines) if "install" in shlex.split(line))
    assert {"-e", ".[dev]"} <= set(shlex.split(run_lines[install]))
    positions = []
    for command in CI_COMMANDS:
        found = [i for i, line in enumerate(run_lines) if _runs(command, line)]
        assert found, f"the workflow never runs {' '.join(command)}"
        positions.append(found[0])
    assert install < min(positions)
    # The database is migrated before alembic compares it with the models.
    assert positions[3] < positions[4]


def test_workflow_database_matches_the_variant(project: Path, variant: dict[str, str]) -> None:
    database = variant["database"]
    workflow = _yaml(project, ".github/workflows/ci.yml")
    (job,) = workflow["jobs"].values()
    url = {**workflow.get("env", {}), **job.get("env", {})}["DATABASE_URL"]
    assert url.startswith(DRIVERS[database] + "://")
    services = job.get("services", {})
    if variant["jobs"] == "queue":  # the broker, for the worker tests
        broker = services.pop("rabbitmq")
        assert broker["image"] == RABBITMQ_IMAGE
        assert "5672:5672" in [str(port) for port in broker["ports"]]
        assert "--health-cmd" in broker["options"]

    if database not in SERVER_DATABASES:
        assert services == {}
        return
    (service,) = services.values()
    compose_db = _yaml(project, "compose.yaml")["services"]["db"]
    assert service["image"] == compose_db["image"] == SERVER_IMAGES[database]
    assert "--health-cmd" in service["options"]
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    assert f"{parts.port}:{parts.port}" in [str(port) for port in service["ports"]]
    # The tests create `<database>_test`, so the user must be allowed to create databases.
    if database == "postgresql":
        assert parts.username == "postgres"
        assert service["env"]["POSTGRES_PASSWORD"] == parts.password
    else:
        assert parts.username == "root"
        assert service["env"]["MARIADB_ROOT_PASSWORD"] == parts.password


# --- pre-commit ----------------------------------------------------------------------------


def test_pre_commit_runs_the_pinned_tools_offline(project: Path) -> None:
    config = _yaml(project, ".pre-commit-config.yaml")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    pinned = {
        re.split(r"[<>=!~\[ ;]", requirement)[0]
        for requirement in pyproject["project"]["optional-dependencies"]["dev"]
    }
    hooks = []
    for repo in config["repos"]:
        assert repo["repo"] == "local", "a remote hook repo would be downloaded"
        assert "rev" not in repo
        hooks += repo["hooks"]
    for hook in hooks:
        # `system` runs a command already installed; pre-commit 4.4 renamed it `unsupported`.
        assert hook["language"] in {"system", "unsupported"}, hook["id"]
        tool_name = shlex.split(hook["entry"])[0]
        assert tool_name in pinned, f"{tool_name} is not pinned in the dev extra"
    for command in (("ruff", "check", "--fix"), ("ruff", "format"), ("mypy",)):
        assert any(_runs(command, hook["entry"]) for hook in hooks), " ".join(command)
    mypy = next(hook for hook in hooks if shlex.split(hook["entry"])[0] == "mypy")
    assert mypy["pass_filenames"] is False, "mypy checks the files configured in pyproject.toml"
    assert "python" in mypy["types"]


# --- .env.example and .gitignore -----------------------------------------------------------


def test_env_example_documents_every_setting_with_its_default(
    project: Path, variant: dict[str, str]
) -> None:
    lines = (project / ".env.example").read_text(encoding="utf-8").splitlines()
    assigned = {}
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            key, equals, value = line.partition("=")
            assert equals, f"not KEY=value: {line!r}"
            assert key not in assigned, f"{key} twice"
            assert lines[index - 1].startswith("# "), f"{key} has no comment above it"
            assigned[key] = value

    settings = _settings(project)
    assert set(assigned) == {field.upper() for field in settings["fields"]}
    assert assigned["DATABASE_URL"].startswith(DRIVERS[variant["database"]] + "://")
    # Copying the example to .env changes nothing: every value is the default.
    assert settings["example"] == settings["defaults"]


def test_gitignore_keeps_local_state_out_of_git(
    project: Path, variant: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / ".gitignore").write_bytes((project / ".gitignore").read_bytes())
    run("git", "init", "-q", cwd=tmp_path)

    def ignored(path: str) -> bool:
        result = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", path], cwd=tmp_path, check=False
        )
        assert result.returncode in {0, 1}
        return result.returncode == 0

    for path in (
        ".venv/bin/python",
        ".env",
        "app/__pycache__/main.cpython-312.pyc",
        ".mypy_cache/3.12/app/main.data.json",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
        ".coverage",
    ):
        assert ignored(path), path
    for path in (".env.example", "app/main.py", "migrations/env.py", "compose.yaml"):
        assert not ignored(path), path
    sqlite = variant["database"] == "sqlite"
    for path in ("my_service.db", "my_service.db-wal"):
        assert ignored(path) == sqlite, path


# --- Every file reads as written by hand ---------------------------------------------------


def test_deploy_files_have_no_template_debris(project: Path) -> None:
    for relative in DEPLOY_FILES:
        text = (project / relative).read_text(encoding="utf-8")
        assert not LEFTOVER.search(text), relative
        assert text.endswith("\n"), f"{relative} lacks a final newline"
        assert not text.endswith("\n\n"), f"{relative} ends in blank lines"
        assert not text.startswith("\n"), f"{relative} starts with a blank line"
        assert "\n\n\n" not in text, f"{relative} has a run of blank lines"
        assert not re.search(r"[ \t]$", text, re.MULTILINE), f"{relative} has trailing spaces"
