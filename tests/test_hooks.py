"""The hooks: bad answers stop with a clear message and leave nothing; odd text renders safely."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
from jinja2 import Environment

from local_extensions import one_line, python_string, toml_string
from tests.conftest import bake, run, tool
from tests.matrix import COOKIECUTTER_JSON, OPTIONS, ROOT

PRE_GEN = ROOT / "hooks" / "pre_gen_project.py"
POST_GEN = ROOT / "hooks" / "post_gen_project.py"


def cookiecutter_cli(output_dir: Path, *answers: str) -> subprocess.CompletedProcess[str]:
    """Bake through the command line, as a user or a CI job would."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "-o",
            str(output_dir),
            str(ROOT),
            *answers,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"HOME": str(output_dir / ".home"), "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("project_slug=My-Service", "ERROR: project_slug 'My-Service' is not allowed"),
        ("project_slug=3d_printer", "ERROR: project_slug '3d_printer' is not allowed"),
        ("project_slug=class", "ERROR: project_slug 'class' is a Python keyword"),
        ("project_slug=match", "ERROR: project_slug 'match' is a Python keyword"),
        ("project_slug=fastapi", "ERROR: project_slug 'fastapi' would shadow"),
        ("project_slug=app", "ERROR: project_slug 'app' would shadow"),
        ("project_slug=json", "ERROR: project_slug 'json' would shadow"),
        ("project_name=   ", "ERROR: project_name is empty"),
        ("project_name=!!!", "ERROR: project_name '!!!' has no letters or digits"),
        ("author_email=not-an-email", "ERROR: author_email 'not-an-email' is not an email"),
        ("author_email=a@b", "ERROR: author_email 'a@b' is not an email"),
        ("version=one", "ERROR: version 'one' is not a PEP 440 version"),
        ("version=1.0.0-beta.x", "ERROR: version '1.0.0-beta.x' is not a PEP 440 version"),
        ("python_version=3.10", "3.10 provided for choice variable python_version"),
        ("database=oracle", "oracle provided for choice variable database"),
        ("auth=oauth", "oauth provided for choice variable auth"),
        ("cache=disk", "disk provided for choice variable cache"),
    ],
)
def test_bad_answer_stops_with_a_clear_message(tmp_path: Path, answer: str, message: str) -> None:
    result = cookiecutter_cli(tmp_path, answer)

    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert [path.name for path in tmp_path.iterdir() if path.name != ".home"] == []


@pytest.mark.parametrize("answers", [["project_name="], ["project_name=", "project_slug=ok"]])
def test_empty_name_gets_the_hooks_message_not_a_directory_clash(
    tmp_path: Path, answers: list[str]
) -> None:
    """An empty name derives no slug; it must not render into the output directory itself."""
    result = cookiecutter_cli(tmp_path, *answers)

    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert result.returncode != 0
    assert errors == ["ERROR: project_name is empty; give the service a name"]
    assert "already exists" not in result.stderr + result.stdout
    assert [path.name for path in tmp_path.iterdir() if path.name != ".home"] == []


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    result = cookiecutter_cli(tmp_path, "project_slug=class", "author_email=x", "version=v")

    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert [line.split()[1] for line in errors] == ["project_slug", "author_email", "version"]


def _run_hook(
    hook: Path, context: dict[str, object], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Render a hook with any context, even one cookiecutter itself would refuse, and run it."""
    source = Environment().from_string(hook.read_text()).render(cookiecutter=context)
    with tempfile.TemporaryDirectory() as scripts:
        script = Path(scripts) / hook.name
        script.write_text(source)
        return subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=False, cwd=cwd
        )


def _run_pre_gen(context: dict[str, object], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return _run_hook(PRE_GEN, context, tmp_path)


def _default_context() -> dict[str, object]:
    context = {key: value for key, value in COOKIECUTTER_JSON.items() if not key.startswith("__")}
    context.update({name: values[0] for name, values in OPTIONS.items()})
    context["project_slug"] = "my_service"
    return context


@pytest.mark.parametrize(
    ("cache", "left"),
    [
        ("memory", {"app/core/cache.py", "tests/test_cache.py", "app/main.py"}),
        (
            "redis",
            {"app/core/cache.py", "tests/test_cache.py", "tests/test_redis.py", "app/main.py"},
        ),
        ("none", {"app/main.py"}),
    ],
)
def test_post_gen_hook_keeps_what_the_map_names_for_the_answers(
    tmp_path: Path, cache: str, left: set[str]
) -> None:
    """A new option's files need only entries in the map: the hook reads any option it names."""
    variant_files = {
        "app/core/cache.py": {"cache": ["memory", "redis"]},
        "tests/test_cache.py": {"cache": ["memory", "redis"]},
        "tests/test_redis.py": {"cache": ["redis"]},
    }
    context = {**_default_context(), "cache": cache, "_variant_files": variant_files}
    project = tmp_path / "project"
    for relative in [*variant_files, "app/main.py"]:
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text("")

    result = _run_hook(POST_GEN, context, project)

    assert result.returncode == 0, result.stderr
    remaining = {str(path.relative_to(project)) for path in project.rglob("*.py")}
    assert remaining == left
    assert "Created my_service." in result.stdout


def test_post_gen_hook_needs_every_named_option_to_match(tmp_path: Path) -> None:
    variant_files = {"tests/test_pg_redis.py": {"database": ["postgresql"], "cache": ["redis"]}}
    kept = []
    for database, cache in [("postgresql", "redis"), ("postgresql", "memory"), ("mysql", "redis")]:
        project = tmp_path / f"{database}-{cache}"
        (project / "tests").mkdir(parents=True)
        (project / "tests" / "test_pg_redis.py").write_text("")
        context = {
            **_default_context(),
            "database": database,
            "cache": cache,
            "_variant_files": variant_files,
        }
        assert _run_hook(POST_GEN, context, project).returncode == 0
        kept.append((project / "tests" / "test_pg_redis.py").exists())
    assert kept == [True, False, False]


def test_post_gen_hook_keeps_a_path_when_any_listed_map_matches(tmp_path: Path) -> None:
    """A list of maps is an "or": the events table serves webhooks, websockets or both."""
    variant_files = {"app/events.py": [{"database": ["postgresql"]}, {"cache": ["redis"]}]}
    kept = []
    for database, cache in [("postgresql", "memory"), ("mysql", "redis"), ("mysql", "none")]:
        project = tmp_path / f"{database}-{cache}"
        (project / "app").mkdir(parents=True)
        (project / "app" / "events.py").write_text("")
        context = {
            **_default_context(),
            "database": database,
            "cache": cache,
            "_variant_files": variant_files,
        }
        assert _run_hook(POST_GEN, context, project).returncode == 0
        kept.append((project / "app" / "events.py").exists())
    assert kept == [True, True, False]


@pytest.mark.parametrize("option", OPTIONS)
def test_unknown_choice_is_refused_through_the_python_api(tmp_path: Path, option: str) -> None:
    """What cruft and scripts call: cookiecutter refuses the value before any hook runs."""
    with pytest.raises(ValueError, match=f"provided for choice variable {option}"):
        bake(tmp_path, **{option: "no-such-value"})
    assert [path.name for path in tmp_path.iterdir() if path.name != ".cookiecutter-home"] == []


def test_hook_reads_answers_as_data_not_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = f'"""); open({str(marker)!r}, "w"); ("""\\'
    result = _run_pre_gen({**_default_context(), "description": hostile}, tmp_path)

    assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_hook_accepts_the_defaults(tmp_path: Path) -> None:
    result = _run_pre_gen(_default_context(), tmp_path)
    assert (result.returncode, result.stderr) == (0, "")


TRICKY_TEXTS = [
    'He said "hi"',
    "it's",
    "both ' and \"",
    "back\\slash \\n \\u0041",
    "two\nlines\r\nand\ttab",
    "Ünïcödé 中文 😀",
    "\u2028 separators \u2029",
    "control \x07 bell",
    '""" triple',
    "'''",
    "${{ github }} {{ jinja }} {% raw %}",
]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_quoting_filters_round_trip(text: str) -> None:
    assert tomllib.loads(f"value = {toml_string(text)}")["value"] == text
    assert ast.literal_eval(python_string(text)) == text
    assert "\n" not in one_line(text)


def test_odd_names_and_descriptions_render_safely(tmp_path: Path) -> None:
    name = 'Ünïcödé "Quoted" \\ Service\nsecond line 😀'
    description = 'It\'s a "service" with \\backslashes\\,\nnewlines and 中文 ünïcödé'
    project = bake(
        tmp_path,
        project_name=name,
        project_slug="odd_service",
        description=description,
        author_name='O\'Brien "Bob" \\',
    )

    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["description"] == one_line(description)
    assert pyproject["project"]["authors"][0]["name"] == 'O\'Brien "Bob" \\'
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert one_line(name) in readme
    shown = run(
        tool("python"),
        "-c",
        "import json; from app.main import create_app; a = create_app();"
        " print(json.dumps([a.title, a.description]))",
        cwd=project,
    )
    assert json.loads(shown.stdout) == [name, description]
    run(tool("ruff"), "check", "--no-cache", ".", cwd=project)
    run(tool("ruff"), "format", "--check", "--no-cache", ".", cwd=project)


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    first = bake(tmp_path / "a")
    second = bake(tmp_path / "b")

    def snapshot(project: Path) -> dict[str, bytes]:
        return {
            str(path.relative_to(project)): path.read_bytes()
            for path in sorted(project.rglob("*"))
            if path.is_file()
        }

    assert snapshot(first) == snapshot(second)
