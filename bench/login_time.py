"""Time a sign-in of the default (JWT) project: correct password, wrong one, unknown email.

Run inside the template's environment (created by `python3 dev.py test`):

    .venv/bin/python bench/login_time.py

It renders the default project into a temporary folder, serves it in-process on SQLite and
prints the median of repeated `POST /api/v1/auth/token` calls for each case. The three
should be close: an unknown email costs as much as a wrong password.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 15

MEASURE = """
import asyncio, json, statistics, sys, time
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
import app.models
from app.core.config import Settings
from app.db.base import Base
from app.db.engine import create_engine
from app.main import create_app
from app.services import audit, users

async def main(database: str, rounds: int) -> None:
    settings = Settings(
        _env_file=None,
        database_url=SecretStr(f"sqlite+aiosqlite:///{database}"),
        environment="test",
        secret_key=SecretStr("benchmark-secret-" + "x" * 32),
    )
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with engine.connect() as connection:
        origin = audit.Origin(actor=None, client_address=None)
        await users.create_user(connection, "a@example.com", "correct horse battery", origin)
    await engine.dispose()
    cases = {
        "correct password": ("a@example.com", "correct horse battery"),
        "wrong password": ("a@example.com", "not the password"),
        "unknown email": ("b@example.com", "not the password"),
    }
    results = {}
    async with LifespanManager(create_app(settings)) as manager, AsyncClient(
        transport=ASGITransport(app=manager.app), base_url="http://localhost"
    ) as http:
        for name, (email, password) in cases.items():
            timings = []
            for _ in range(rounds):
                started = time.perf_counter()
                form = {"username": email, "password": password}
                await http.post("/api/v1/auth/token", data=form)
                timings.append(time.perf_counter() - started)
            results[name] = round(statistics.median(timings) * 1000, 1)
    print(json.dumps(results))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=scratch))
        measured = subprocess.run(
            [sys.executable, "-c", MEASURE, str(Path(scratch) / "bench.db"), str(ROUNDS)],
            cwd=project,
            env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
    medians = json.loads(measured.stdout.strip().splitlines()[-1])
    for name, milliseconds in medians.items():
        print(f"{name:>16}: {milliseconds:6.1f} ms (median of {ROUNDS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
