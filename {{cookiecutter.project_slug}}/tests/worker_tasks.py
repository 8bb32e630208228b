"""A task for the worker tests; `{{ cookiecutter.project_slug }}-worker run tests.worker_tasks` registers it."""

import asyncio
from pathlib import Path
from typing import Any

from app.worker import Runtime, handler


def _note(path: str, line: str) -> None:
    with Path(path).open("a", encoding="utf-8") as journal:
        journal.write(line + "\n")


@handler("tests.journal")
async def journal(_: Runtime, payload: dict[str, Any]) -> None:
    """Note the start and the end of each run in a file, so a test sees what ran how often;
    sleep between them if asked, or fail."""
    await asyncio.to_thread(_note, payload["path"], f"start {payload['tag']}")
    await asyncio.sleep(payload.get("seconds", 0))
    if payload.get("fail"):
        raise RuntimeError(f"{payload['tag']} failed as asked")
    await asyncio.to_thread(_note, payload["path"], f"end {payload['tag']}")
