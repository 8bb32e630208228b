#!/usr/bin/env python3
"""Everyday tasks for this template; needs nothing but Python 3.11+.

    python3 dev.py demo    render the default project into build/ and serve its API docs
    python3 dev.py test    run the template's test suite (extra arguments go to pytest)
    python3 dev.py bench   benchmark a generated service against a bare reference (--help)

Each creates `.venv/` on first use with the template's tools plus every dependency of every
generated variant (read from the rendered pyproject.toml files, so they never drift), and
reuse it until those inputs change. `test` also creates `.venv-X.Y/` with the same
dependencies for each other Python version a project can choose (found through pyenv or on
PATH), so each generated suite runs on the Python its variant names.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP_NAME = ".dev-inputs"
REQUIREMENTS_LIST = VENV / ".dev-variant-requirements.json"
TEMPLATE_PYPROJECT = ROOT / "{{cookiecutter.project_slug}}" / "pyproject.toml"
DEMO_DIR = ROOT / "build"


def _sh(*command: str | Path, cwd: Path = ROOT) -> None:
    print("+", " ".join(map(str, command)), flush=True)
    subprocess.run([str(part) for part in command], cwd=cwd, check=True)


def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for path in (ROOT / "requirements-test.txt", ROOT / "cookiecutter.json", TEMPLATE_PYPROJECT):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def variant_requirements() -> list[str]:
    """Runtime and dev dependencies of every variant (runs inside .venv).

    One project per type-checked variant: every value of every option is among them, and the
    configuration-only options (the Python version) change no dependency.
    """
    from cookiecutter.main import cookiecutter

    from tests.matrix import CODE_VARIANTS

    requirements: set[str] = set()
    with tempfile.TemporaryDirectory() as scratch:
        for number, variant in enumerate(CODE_VARIANTS):
            project = cookiecutter(
                str(ROOT),
                no_input=True,
                extra_context=variant,
                output_dir=str(Path(scratch) / str(number)),
            )
            pyproject = tomllib.loads((Path(project) / "pyproject.toml").read_text())
            requirements.update(pyproject["project"]["dependencies"])
            for extra in pyproject["project"].get("optional-dependencies", {}).values():
                requirements.update(extra)
    return sorted(requirements)


def _version_of(python: Path | str) -> str:
    """The "X.Y" version of an interpreter, or "" when it does not run."""
    probe = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else ""


def find_python(version: str) -> Path | None:
    """An interpreter of exactly this version: pyenv's own, or one on PATH that really runs."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(
        glob.glob(str(pyenv_root / "versions" / f"{version}.*" / "bin" / "python3"))
    )
    on_path = shutil.which(f"python{version}")
    for candidate in [*reversed(candidates), *([on_path] if on_path else [])]:
        if _version_of(candidate) == version:
            return Path(candidate)
    return None


def extra_venv(version: str) -> Path:
    """Where `test` keeps the environment for a Python version other than .venv's."""
    return ROOT / f".venv-{version}"


def _is_current(environment: Path, digest: str) -> bool:
    stamp = environment / STAMP_NAME
    return stamp.exists() and stamp.read_text() == digest


def _pip(environment: Path) -> tuple[Path | str, ...]:
    return (environment / "bin" / "python", "-m", "pip", "--disable-pip-version-check", "-q")


def ensure_environment(*, every_python: bool = False) -> None:
    """Create or refresh .venv (and with every_python the .venv-X.Y) when inputs changed."""
    digest = _inputs_digest()
    if not _is_current(VENV, digest) or not REQUIREMENTS_LIST.exists():
        if not (BIN / "python").exists():
            print(f"+ creating {VENV}", flush=True)
            venv.create(VENV, with_pip=True)
        _sh(*_pip(VENV), "install", "-r", ROOT / "requirements-test.txt")
        listed = subprocess.run(
            [str(BIN / "python"), str(Path(__file__)), "_requirements"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()[-1]  # the hooks print their own lines before it
        _sh(*_pip(VENV), "install", *json.loads(listed))
        REQUIREMENTS_LIST.write_text(listed)
        (VENV / STAMP_NAME).write_text(digest)
    if every_python:
        for version in _other_python_versions():
            _ensure_extra_venv(version, digest)


def _other_python_versions() -> list[str]:
    own = _version_of(BIN / "python")
    options = json.loads((ROOT / "cookiecutter.json").read_text())
    return [version for version in options["python_version"] if version != own]


def _ensure_extra_venv(version: str, digest: str) -> None:
    environment = extra_venv(version)
    if _is_current(environment, digest):
        return
    python = find_python(version)
    if python is None:
        print(f"! Python {version} not found: its variants' suites cannot run", flush=True)
        return
    if not (environment / "bin" / "python").exists():
        _sh(python, "-m", "venv", environment)
    _sh(*_pip(environment), "install", *json.loads(REQUIREMENTS_LIST.read_text()))
    (environment / STAMP_NAME).write_text(digest)


def demo(port: int) -> None:
    ensure_environment()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    _sh(BIN / "cookiecutter", "--no-input", "-o", DEMO_DIR, ROOT)
    (project,) = DEMO_DIR.iterdir()
    venv.create(project / ".venv", with_pip=True)
    project_bin = project / ".venv" / "bin"
    pip = (project_bin / "python", "-m", "pip", "-q", "--disable-pip-version-check")
    _sh(*pip, "install", "-e", ".", cwd=project)
    _sh(project_bin / "alembic", "upgrade", "head", cwd=project)
    print(f"\nServing {project} — API docs at http://127.0.0.1:{port}/docs (Ctrl+C stops)\n")
    os.chdir(project)
    uvicorn = project_bin / "uvicorn"
    os.execv(uvicorn, [str(uvicorn), "app.main:create_app", "--factory", "--port", str(port)])


def test(pytest_args: list[str]) -> int:
    ensure_environment(every_python=True)
    command = [str(BIN / "python"), "-m", "pytest", "-n", "auto", *pytest_args]
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def bench(bench_args: list[str]) -> None:
    """Replace this process with the benchmark, so Ctrl+C reaches it and it stops its servers."""
    ensure_environment()
    os.chdir(ROOT)
    python = str(BIN / "python")
    os.execv(python, [python, "-m", "bench", *bench_args])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    tasks = parser.add_subparsers(dest="task", required=True)
    demo_parser = tasks.add_parser("demo", help="render the default project and serve its docs")
    demo_parser.add_argument("--port", type=int, default=8000)
    tasks.add_parser("test", help="run the template's test suite", add_help=False)
    tasks.add_parser("bench", help="benchmark a generated service (--help)", add_help=False)
    tasks.add_parser("_requirements", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.task == "demo":
        demo(args.port)
    elif args.task == "test":
        return test(rest)
    elif args.task == "bench":
        bench(rest)
    elif args.task == "_requirements":
        print(json.dumps(variant_requirements()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
