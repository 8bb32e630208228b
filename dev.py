#!/usr/bin/env python3
"""Everyday tasks for this template; needs nothing but Python 3.11+.

    python3 dev.py demo    render the default project into build/ and serve its API docs
    python3 dev.py test    run the template's test suite (extra arguments go to pytest)
    python3 dev.py bench   benchmark a generated service against a bare reference (--help)

Each creates `.venv/` on first use with the template's tools plus every dependency of every
generated variant (read from the rendered pyproject.toml files, so they never drift), and
reuse it until those inputs change.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
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
STAMP = VENV / ".dev-inputs"
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
    """Runtime and dev dependencies of every variant (runs inside .venv)."""
    from cookiecutter.main import cookiecutter

    options = json.loads((ROOT / "cookiecutter.json").read_text())
    axes = list(options["_variant_files"])
    requirements: set[str] = set()
    with tempfile.TemporaryDirectory() as scratch:
        for number, values in enumerate(itertools.product(*(options[axis] for axis in axes))):
            project = cookiecutter(
                str(ROOT),
                no_input=True,
                extra_context=dict(zip(axes, values, strict=True)),
                output_dir=str(Path(scratch) / str(number)),
            )
            pyproject = tomllib.loads((Path(project) / "pyproject.toml").read_text())
            requirements.update(pyproject["project"]["dependencies"])
            for extra in pyproject["project"].get("optional-dependencies", {}).values():
                requirements.update(extra)
    return sorted(requirements)


def ensure_environment() -> None:
    """Create or refresh .venv when the template's requirements changed."""
    digest = _inputs_digest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    if not (BIN / "python").exists():
        print(f"+ creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    pip = (BIN / "python", "-m", "pip", "--disable-pip-version-check", "-q")
    _sh(*pip, "install", "-r", ROOT / "requirements-test.txt")
    listed = subprocess.run(
        [str(BIN / "python"), str(Path(__file__)), "_requirements"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()[-1]  # the hooks print their own lines before it
    _sh(*pip, "install", *json.loads(listed))
    STAMP.write_text(digest)


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
    ensure_environment()
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
