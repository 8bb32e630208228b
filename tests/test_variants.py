"""The variants of tests/matrix.py render projects that pass their own gates as rendered.

How deeply each variant is checked is decided there: a set covering every three option values
renders and lints, the same over the code-changing options type-checks, and a set covering
every two runs its own suite and migrations against the real servers on the Python it names.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import (
    ROOT,
    bake,
    create_database,
    database_url,
    python_for,
    redis_url,
    require_server,
    require_servers,
    run,
    tool,
)
from tests.matrix import (
    CODE_VARIANTS,
    OPTIONS,
    RENDER_VARIANTS,
    SUITE_VARIANTS,
    VARIANT_FILES,
    Variant,
    keeps,
    variant_id,
)

Baked = Callable[[Variant], Path]

# Jinja that survived rendering, or the cookiecutter namespace; `${{` is GitHub Actions syntax.
LEFTOVER = re.compile(r"(?<!\$)\{\{|\{%|%\}|\{#|cookiecutter\.")

render_variants = pytest.mark.parametrize("variant", RENDER_VARIANTS, ids=variant_id)
code_variants = pytest.mark.parametrize("variant", CODE_VARIANTS, ids=variant_id)
suite_variants = pytest.mark.parametrize("variant", SUITE_VARIANTS, ids=variant_id)


def _files(project: Path) -> list[Path]:
    """The rendered files, without bytecode that other tests' runs may have left beside them."""
    return [
        path for path in project.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    ]


@render_variants
def test_files_match_the_options(baked: Baked, variant: Variant) -> None:
    project = baked(variant)
    for relative in VARIANT_FILES:
        assert (project / relative).exists() == keeps(variant, relative), relative
    for expected in ("README.md", "pyproject.toml", "app/main.py", "migrations/env.py"):
        assert (project / expected).is_file(), expected
    # A folder whose files all went with the options goes too.
    assert [path for path in project.rglob("*") if path.is_dir() and not any(path.iterdir())] == []


@render_variants
def test_nothing_is_left_unrendered(baked: Baked, variant: Variant) -> None:
    project = baked(variant)
    leftovers = [
        f"{path.relative_to(project)}: {match.group()}"
        for path in _files(project)
        for match in [LEFTOVER.search(path.read_text(encoding="utf-8"))]
        if match
    ]
    assert leftovers == []
    assert not [path for path in project.rglob("*") if "{" in path.name or "}" in path.name]


@render_variants
def test_markdown_headings_and_code_blocks_stand_on_their_own_lines(
    baked: Baked, variant: Variant
) -> None:
    """An option's section that renders to nothing must not glue its neighbours together."""
    project = baked(variant)
    for path in _files(project):
        if path.suffix != ".md":
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        fenced = False
        for number, line in enumerate(lines):
            if line.startswith("```"):
                fenced = not fenced
            if fenced:
                continue
            assert not re.search(r"[^\s#]#{2,} ", line), f"{path.name}:{number + 1}: {line}"
            if line.startswith("#") and number > 0:
                assert lines[number - 1] == "", f"{path.name}:{number + 1}: no blank line before"
        assert not fenced, f"{path.name}: a code block is not closed"


@render_variants
def test_config_files_parse(baked: Baked, variant: Variant) -> None:
    project = baked(variant)
    parsed = 0
    for path in _files(project):
        if path.suffix == ".toml":
            tomllib.loads(path.read_text(encoding="utf-8"))
            parsed += 1
        elif path.suffix in {".yaml", ".yml"}:
            yaml.safe_load(path.read_text(encoding="utf-8"))
            parsed += 1
    assert parsed >= 2
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["requires-python"] == f">={variant['python_version']}"
    assert pyproject["tool"]["mypy"]["python_version"] == variant["python_version"]


@render_variants
def test_lint_and_format_pass_as_rendered(baked: Baked, variant: Variant) -> None:
    project = baked(variant)
    run(tool("ruff"), "check", "--no-cache", ".", cwd=project)
    run(tool("ruff"), "format", "--check", "--no-cache", ".", cwd=project)


@code_variants
def test_types_pass_as_rendered(baked: Baked, variant: Variant, worker_id: str) -> None:
    # One mypy cache per test process: third-party stubs are checked once, not per variant.
    cache = ROOT / ".cache" / f"mypy-{worker_id}"
    run(tool("mypy"), "--cache-dir", cache, cwd=baked(variant))


@pytest.mark.slow
@suite_variants
def test_generated_suite_passes_on_its_services(
    baked: Baked, variant: Variant, tmp_path: Path, worker_id: str
) -> None:
    require_servers(variant)
    python = python_for(variant["python_version"])
    url = database_url(variant["database"], f"tpl_{variant_id(variant)}", tmp_path)
    result = run(
        python,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        cwd=baked(variant),
        env={
            "DATABASE_URL": url,
            "REDIS_URL": redis_url(worker_id),
            "COVERAGE_FILE": str(tmp_path / ".coverage"),
        },
    )
    assert re.search(r"\d+ passed", result.stdout)
    assert "Required test coverage of 90" in result.stdout
    version = run(python, "-c", "import sys; print(sys.version)", cwd=tmp_path).stdout
    assert version.startswith(variant["python_version"] + ".")


@suite_variants
def test_migrations_upgrade_check_and_downgrade(
    baked: Baked, variant: Variant, tmp_path: Path, worker_id: str
) -> None:
    require_servers(variant)
    database = variant["database"]
    name = f"tpl_mig_{variant_id(variant)}"
    create_database(database, name)
    env = {
        "DATABASE_URL": database_url(database, name, tmp_path),
        "REDIS_URL": redis_url(worker_id),
    }
    project = baked(variant)
    alembic = python_for(variant["python_version"]).parent / "alembic"

    upgraded = run(alembic, "upgrade", "head", cwd=project, env=env)
    run(alembic, "check", cwd=project, env=env)
    current = run(alembic, "current", cwd=project, env=env)
    run(alembic, "downgrade", "base", cwd=project, env=env)
    after = run(alembic, "current", cwd=project, env=env)

    revisions = sorted(
        path.name[:4] for path in (project / "migrations" / "versions").glob("0*.py")
    )
    steps = zip(["", *revisions[:-1]], revisions, strict=True)
    for before, revision in steps:  # every revision applied, in order
        assert f"Running upgrade {before} -> {revision}" in upgraded.stderr
    assert f"{revisions[-1]} (head)" in current.stdout
    assert "(head)" not in after.stdout


@pytest.mark.parametrize("database", OPTIONS["database"])
def test_autogenerated_revision_applies_and_passes_the_gates(tmp_path: Path, database: str) -> None:
    """The README's model-change workflow: change a model, autogenerate, upgrade, lint."""
    require_server(database)
    name = f"tpl_autogen_{database}"
    create_database(database, name)
    env = {"DATABASE_URL": database_url(database, name, tmp_path)}
    project = bake(tmp_path / "project", database=database)
    alembic = tool("alembic")
    run(alembic, "upgrade", "head", cwd=project, env=env)
    shipped = set((project / "migrations" / "versions").glob("*.py"))

    model = project / "app" / "models" / "item.py"
    source = model.read_text(encoding="utf-8")
    column = "    updated_at: Mapped[datetime]\n"
    model.write_text(source.replace(column, column + "    done_at: Mapped[datetime | None]\n"))
    run(alembic, "revision", "--autogenerate", "-m", "add done at", cwd=project, env=env)

    (revision,) = set((project / "migrations" / "versions").glob("*.py")) - shipped
    text = revision.read_text(encoding="utf-8")
    assert "done_at" in text
    assert "app." not in text  # column types rendered without importing the application
    run(alembic, "upgrade", "head", cwd=project, env=env)
    run(alembic, "check", cwd=project, env=env)
    run(tool("ruff"), "check", "--no-cache", ".", cwd=project)
    run(tool("ruff"), "format", "--check", "--no-cache", ".", cwd=project)
