"""The services' environments: rendered variants, virtual environments and seeded databases.

Everything lives under `bench/.work/` (git-ignored): one folder per variant, holding the
rendered project and its virtual environment, kept between runs so that a rerun only
re-renders and re-checks the installed packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.main import cookiecutter

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
SEED = BENCH / "seed.py"
REFERENCE = BENCH / "reference"

# Where the database servers listen (the development machines' setup), as SQLAlchemy URLs.
SERVERS = {
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:5432",
    "mysql": "mysql+asyncmy://root@127.0.0.1:3306",
}
# The driver-level suffix each database's URLs need.
URL_SUFFIX = {"postgresql": "", "mysql": "?charset=utf8mb4", "sqlite": ""}
# Who calls the API in each auth variant: a user (signed in), an API key, or anyone.
CREDENTIAL = {"jwt": "user", "jwt_and_api_key": "user", "api_key": "key", "none": "none"}


class BenchError(Exception):
    """A step failed in a way the person running the benchmark can act on."""


def run(
    command: list[str | Path],
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> str:
    """Run a command to completion; its output, or BenchError with the end of its output."""
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise BenchError(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{tail}")
    return done.stdout


def last_json_line(output: str) -> dict[str, object]:
    """Tools print their answer as the last line; anything before it is chatter."""
    parsed: dict[str, object] = json.loads(output.strip().splitlines()[-1])
    return parsed


@dataclass(frozen=True)
class Environment:
    """A virtual environment under bench/.work/."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def executable(self, name: str) -> Path:
        return self.path / "bin" / name

    def install(self, *requirements: str | Path, cwd: Path = ROOT) -> None:
        if not self.python.exists():
            venv.create(self.path, with_pip=True)
        pip: list[str | Path] = [self.python, "-m", "pip", "--disable-pip-version-check", "-q"]
        run([*pip, "install", *requirements], cwd=cwd)

    def versions(self) -> dict[str, str]:
        """Every installed distribution and its version."""
        pip: list[str | Path] = [self.python, "-m", "pip", "--disable-pip-version-check"]
        listing = run([*pip, "list", "--format", "json", "--exclude-editable"])
        return {entry["name"]: entry["version"] for entry in json.loads(listing)}


@dataclass(frozen=True)
class Project:
    """A variant of the template, rendered and installed (`pip install -e .`) on its own."""

    database: str
    auth: str
    path: Path
    environment: Environment

    @classmethod
    def prepare(
        cls, database: str, auth: str, cache: str, options: dict[str, str] | None = None
    ) -> Project:
        """Render and install the variant; `options` are any further template answers."""
        context = {"database": database, "auth": auth, "cache": cache, **(options or {})}
        answers = " ".join(f"{name}={value}" for name, value in context.items())
        folder = WORK / "-".join([database, auth, cache, *map("=".join, (options or {}).items())])
        shutil.rmtree(folder / "rendered", ignore_errors=True)
        print(f"+ rendering {answers} into {folder}", flush=True)
        rendered = cookiecutter(
            str(ROOT),
            no_input=True,
            extra_context=context,
            output_dir=str(folder / "rendered"),
            default_config=True,
        )
        environment = Environment(folder / "venv")
        print(f"+ installing it into {environment.path}", flush=True)
        environment.install("-e", ".", cwd=Path(rendered))
        return cls(database, auth, Path(rendered), environment)

    def committed_transactions(self, name: str) -> int:
        """PostgreSQL's count of transactions committed in database `name` so far."""
        query = f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{name}'"
        return int(run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", query]).strip())

    def empty_redis(self, url: str) -> None:
        """Start from a cold cache: drop every key of the Redis database at `url`."""
        run(["redis-cli", "-u", url, "FLUSHDB"])

    def database_url(self, name: str) -> str:
        if self.database == "sqlite":
            return f"sqlite+aiosqlite:///{self._sqlite_file(name)}"
        return f"{SERVERS[self.database]}/{name}{URL_SUFFIX[self.database]}"

    def _sqlite_file(self, name: str) -> Path:
        return self.environment.path.parent / f"{name}.db"

    def tool(self, env: dict[str, str], *arguments: str | Path, stdin: str | None = None) -> str:
        """Run a command of the project's environment in the project, e.g. alembic."""
        command = [self.environment.executable(str(arguments[0])), *arguments[1:]]
        return run(command, cwd=self.path, env=env, stdin=stdin)

    def create_database(self, name: str, env: dict[str, str]) -> None:
        """A fresh, empty database `name` (dropped first if a run left one), then migrated."""
        self._drop_or_recreate("recreate", name, env)
        self.tool(env, "alembic", "upgrade", "head")

    def drop_database(self, name: str, env: dict[str, str]) -> None:
        self._drop_or_recreate("drop", name, env)

    def _drop_or_recreate(self, command: str, name: str, env: dict[str, str]) -> None:
        if self.database == "sqlite":  # alembic creates the file
            self._sqlite_file(name).unlink(missing_ok=True)
        else:
            server = f"{SERVERS[self.database]}/{URL_SUFFIX[self.database]}"
            self.tool(env, "python", SEED, command, server, name)

    def seed(self, env: dict[str, str], ids_file: Path, password: str) -> dict[str, object]:
        """The caller and the items; facts about the project's settings the bench needs."""
        credential = CREDENTIAL[self.auth]
        output = self.tool(env, "python", SEED, "seed", ids_file, credential, stdin=f"{password}\n")
        return last_json_line(output)


def reference_environment() -> Environment:
    environment = Environment(WORK / "reference-venv")
    print(f"+ installing the reference service into {environment.path}", flush=True)
    environment.install("-r", REFERENCE / "requirements.txt")
    return environment


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed; install it with: sudo apt-get install -y wrk")
    print("+ apt-get install -y wrk", flush=True)
    try:
        run(["apt-get", "install", "-y", "wrk"])
    except BenchError:
        run(["apt-get", "update"])
        run(["apt-get", "install", "-y", "wrk"])
    installed = shutil.which("wrk")
    if installed is None:
        raise BenchError("apt-get installed wrk, yet it is not on PATH")
    return installed
