"""A project made with cruft from an older template updates to this checkout without conflicts.

The older template is a pinned commit of this repository; the newer one is the working tree
as it is now, uncommitted changes included, committed into a scratch clone so that cruft
(which only reads git) can check it out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import bake, redis_url, run, tool
from tests.matrix import OPTIONS, ROOT, VARIANT_FILES

# The last commit before the cache option existed (and before `_variant_files` named each
# path once): its projects have no `cache` answer at all.
BEFORE_CACHE = "402ac18a51c3b8aff68e5a7d0b2bc19804a26924"
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>)( |$)", re.MULTILINE)


def git(*args: str, cwd: Path) -> str:
    identity = ("-c", "user.name=Template Test", "-c", "user.email=test@example.com")
    return run("git", *identity, *args, cwd=cwd).stdout.strip()


def snapshot_of_the_checkout(destination: Path) -> str:
    """Clone this repository and commit its working tree on top; return the new commit."""
    run("git", "cat-file", "-e", f"{BEFORE_CACHE}^{{commit}}", cwd=ROOT)
    run("git", "clone", "--quiet", "--no-checkout", ROOT, destination, cwd=ROOT)
    git_dir = str(destination / ".git")
    # The scratch clone's index, filled from this checkout's files (its .gitignore applies).
    git(f"--git-dir={git_dir}", f"--work-tree={ROOT}", "add", "--all", cwd=ROOT)
    # Empty when the checkout has no uncommitted change (as in CI): then HEAD is the template.
    git(
        f"--git-dir={git_dir}", "commit", "--quiet", "--allow-empty", "-m", "working tree", cwd=ROOT
    )
    git("checkout", "--quiet", "--force", "HEAD", cwd=destination)
    return git("rev-parse", "HEAD", cwd=destination)


def files_of(project: Path) -> dict[str, str]:
    return {
        str(path.relative_to(project)): path.read_text(encoding="utf-8")
        for path in sorted(project.rglob("*"))
        if path.is_file()
        and ".git" not in path.relative_to(project).parts
        and "__pycache__" not in path.parts
        and path.name != ".cruft.json"
    }


@pytest.mark.slow
def test_cruft_update_from_before_the_cache_option(tmp_path: Path, worker_id: str) -> None:
    template = tmp_path / "template"
    new_commit = snapshot_of_the_checkout(template)
    home = tmp_path / "home"
    home.mkdir()
    config = home / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(home / 'templates'))}\n"
        f"replay_dir: {json.dumps(str(home / 'replay'))}\n"
    )
    env = {"COOKIECUTTER_CONFIG": str(config)}
    cruft = tool("cruft")

    run(
        *(cruft, "create", "--no-input", "--checkout", BEFORE_CACHE),
        *("--output-dir", tmp_path / "out", template),
        cwd=tmp_path,
        env=env,
    )
    project = tmp_path / "out" / "my_service"
    old_state = json.loads((project / ".cruft.json").read_text())
    assert old_state["commit"] == BEFORE_CACHE
    assert "cache" not in old_state["context"]["cookiecutter"]
    git("init", "--quiet", cwd=project)
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "-m", "project as generated", cwd=project)

    updated = run(
        *(cruft, "update", "--skip-apply-ask", "--allow-untracked-files"),
        *("--checkout", new_commit),
        cwd=project,
        env=env,
    )

    assert "Good work!" in updated.stdout, updated.stdout + updated.stderr
    assert "conflict" not in (updated.stdout + updated.stderr).lower()
    files = files_of(project)
    assert [name for name in files if name.endswith((".rej", ".orig"))] == []
    assert [name for name, text in files.items() if CONFLICT_MARKER.search(text)] == []
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == new_commit
    answers = state["context"]["cookiecutter"]
    assert answers["cache"] == OPTIONS["cache"][0] == "memory"
    assert answers["_variant_files"] == VARIANT_FILES
    # No local changes were made, so the update must arrive exactly at a fresh render.
    assert files == files_of(bake(tmp_path / "fresh"))

    run(tool("ruff"), "check", "--no-cache", ".", cwd=project)
    run(tool("ruff"), "format", "--check", "--no-cache", ".", cwd=project)
    suite = run(
        tool("python"),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        cwd=project,
        env={
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'update.db'}",
            "REDIS_URL": redis_url(worker_id),
            "COVERAGE_FILE": str(tmp_path / ".coverage"),
        },
    )
    assert re.search(r"\d+ passed", suite.stdout)
