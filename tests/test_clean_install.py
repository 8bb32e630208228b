"""The default project, installed from scratch in a new virtualenv exactly as its README says.

The shared test environments hold every dependency of every variant, so a dependency missing
from a generated pyproject.toml could hide there; a clean virtualenv cannot. One Python is
enough here: the other versions install the same dependencies into `.venv-X.Y` (dev.py) and
run the generated suites of the variants that chose them (tests/matrix.py).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from dev import find_python
from tests.conftest import IN_CI, bake, run
from tests.matrix import DEFAULTS


def quick_start_commands(readme: str) -> list[str]:
    """The shell lines of the README's first code block under "## Quick start"."""
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash|sh)\n(.*?)```", section, re.DOTALL)
    assert block, "the README has no quick-start code block"
    return [
        line.strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.slow
@pytest.mark.parametrize("version", [DEFAULTS["python_version"]])
def test_readme_quick_start_in_a_clean_virtualenv(tmp_path: Path, version: str) -> None:
    python = find_python(version)
    if python is None:
        message = f"Python {version} is not installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    project = bake(tmp_path, python_version=version)
    commands = quick_start_commands((project / "README.md").read_text(encoding="utf-8"))
    *setup, serve = commands
    assert serve.startswith("uvicorn "), serve
    assert setup[0].startswith("python3 -m venv"), setup[0]
    setup[0] = setup[0].replace("python3", str(python), 1)
    clean_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}

    result = run("bash", "-euo", "pipefail", "-c", "\n".join(setup), cwd=project, env=clean_env)
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]
    assert (project / ".venv" / "bin" / f"python{version}").exists()

    port = free_port()
    server = subprocess.Popen(
        ["bash", "-c", f". .venv/bin/activate && exec {serve} --port {port}"],
        cwd=project,
        env={**os.environ, **clean_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = wait_for(f"http://127.0.0.1:{port}/health/ready")
        docs = wait_for(f"http://127.0.0.1:{port}/docs")
        openapi = wait_for(f"http://127.0.0.1:{port}/openapi.json")
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert ready == '{"status":"ok"}'
    assert "swagger-ui" in docs
    assert '"/api/v1/items"' in openapi

    # The image installs the project as a wheel (`pip install .`), not from the source tree:
    # the wheel must carry every file of the package, the email templates included.
    run(".venv/bin/pip", "wheel", "--no-deps", "-q", "-w", "dist", ".", cwd=project, env=clean_env)
    (wheel,) = (project / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packed = {name for name in archive.namelist() if name.startswith("app/")}
    sources = {
        path.relative_to(project).as_posix()
        for path in (project / "app").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert any(name.startswith("app/templates/email/") for name in sources)
    assert packed == sources
