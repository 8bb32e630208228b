"""Validate every answer before anything is written; print one line per problem and exit 1.

The answers arrive as JSON data, never pasted into this source, so no answer can change
what this script does. Choice options (database, auth, ...) need no check here: cookiecutter
and cruft refuse a value that is not among the choices before any hook runs, and the context
a hook receives holds only the chosen value, not the list it was chosen from.

An empty project_name would derive an empty project_slug, and cookiecutter would then try
to render into the output directory itself and stop with "directory already exists" before
this hook could speak; cookiecutter.json therefore derives a placeholder slug from a name
with no letters or digits, and this hook refuses the name.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")

# Top-level import names the generated project depends on; a distribution or command of
# the same name would shadow them, and `app` is the generated package itself.
RESERVED_NAMES = frozenset(
    {
        "aiosqlite",
        "alembic",
        "anyio",
        "app",
        "asgi_lifespan",
        "asyncmy",
        "asyncpg",
        "coverage",
        "fastapi",
        "greenlet",
        "httptools",
        "httpx",
        "migrations",
        "mypy",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "pytest",
        "pytest_cov",
        "ruff",
        "sqlalchemy",
        "starlette",
        "tests",
        "uvicorn",
        "uvloop",
    }
)

SLUG_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
EMAIL_PATTERN = re.compile(r"[^@\s\"<>,;]+@[^@\s\"<>,;]+\.[^@\s\"<>,;.]+")
# The public version scheme of PEP 440: [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local].
PEP440_PATTERN = re.compile(
    r"""
    v?
    (?:[0-9]+!)?
    [0-9]+(?:\.[0-9]+)*
    (?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?
    (?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?
    (?:[-_.]?dev[-_.]?[0-9]*)?
    (?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?
    """,
    re.VERBOSE | re.IGNORECASE,
)


def _text_problems(name: str, value: object) -> list[str]:
    if not isinstance(value, str):
        return [f"{name} must be text, got {value!r}"]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return [f"{name} {value!r} holds characters that cannot be written as UTF-8"]
    return []


def _slug_problems(slug: str) -> list[str]:
    allowed = "a lowercase Python identifier: a-z first, then a-z, 0-9 or _"
    if not SLUG_PATTERN.fullmatch(slug):
        return [f"project_slug {slug!r} is not allowed; use {allowed}"]
    if keyword.iskeyword(slug) or keyword.issoftkeyword(slug):
        return [f"project_slug {slug!r} is a Python keyword; use {allowed}, not a keyword"]
    if slug in RESERVED_NAMES or slug in sys.stdlib_module_names:
        return [
            f"project_slug {slug!r} would shadow the module of the same name that the "
            "project imports; choose another name"
        ]
    return []


def problems(context: dict[str, object]) -> list[str]:
    """Every problem with the answers, one human-readable line each."""
    found: list[str] = []
    for name in (
        "project_name",
        "project_slug",
        "description",
        "author_name",
        "author_email",
        "version",
    ):
        found += _text_problems(name, context.get(name))
    if found:
        return found

    name = str(context["project_name"])
    if not name.strip():
        found.append("project_name is empty; give the service a name")
    elif not any(character.isalnum() for character in name):
        found.append(f"project_name {name!r} has no letters or digits; give the service a name")
    found += _slug_problems(str(context["project_slug"]))
    email = str(context["author_email"])
    if not EMAIL_PATTERN.fullmatch(email):
        found.append(f"author_email {email!r} is not an email address like name@example.com")
    version = str(context["version"])
    if not PEP440_PATTERN.fullmatch(version.strip()) or version != version.strip():
        found.append(f"version {version!r} is not a PEP 440 version such as 0.1.0 or 1.0.0rc1")
    return found


def main() -> int:
    found = problems(CONTEXT)
    for line in found:
        print(f"ERROR: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
