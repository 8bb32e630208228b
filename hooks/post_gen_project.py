"""Delete the files the chosen options do not use, then print the next steps.

`_variant_files` in cookiecutter.json names each path that only some variants need, once,
with the option values that keep it: `{"app/core/passwords.py": {"auth": ["jwt", ...]}}`. A
path is kept when, for every option it names, the chosen value is listed; a list of such
maps keeps the path when any one of them does (`[{"webhooks": ["yes"]}, {"websockets":
["yes"]}]`); paths listed nowhere belong to every variant. Nothing here touches the
network or writes random values, so `cruft update` re-renders the same tree from the same
answers.
"""

from __future__ import annotations

import json
from pathlib import Path

CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")


def kept(
    context: dict[str, object], keeping: dict[str, list[str]] | list[dict[str, list[str]]]
) -> bool:
    """Whether the chosen values keep a path: all of one map's options match, for any map."""
    alternatives = keeping if isinstance(keeping, list) else [keeping]
    return any(
        all(context[option] in values for option, values in alternative.items())
        for alternative in alternatives
    )


def unused_paths(context: dict[str, object]) -> set[str]:
    """Paths whose option values do not include the chosen ones."""
    variant_files = context["_variant_files"]
    assert isinstance(variant_files, dict)
    return {path for path, keeping in variant_files.items() if not kept(context, keeping)}


def remove(root: Path, relative: str) -> None:
    """Delete the path, then each folder above it that this left empty (`k8s/`, say)."""
    path = root / relative
    path.unlink(missing_ok=True)
    for folder in path.parents:
        if folder == root or not folder.is_dir() or any(folder.iterdir()):
            break
        folder.rmdir()


def next_steps(context: dict[str, object]) -> str:
    slug = context["project_slug"]
    lines = [
        f"Created {slug}. Next steps:",
        f"  cd {slug}",
        "  python -m venv .venv && . .venv/bin/activate",
        '  pip install -e ".[dev]"',
    ]
    servers = (
        (["db"] if context["database"] != "sqlite" else [])
        + (["redis"] if context["cache"] == "redis" else [])
        + (["rabbitmq"] if context["jobs"] == "queue" else [])
    )
    if servers:
        lines.append(
            f"  docker compose up -d {' '.join(servers)}   # or point the settings at your own"
        )
    lines.append("  alembic upgrade head")
    if context["auth"] in ("jwt", "jwt_and_api_key"):
        lines.append(f"  {slug} create-superuser --email you@example.com")
    elif context["auth"] == "api_key":
        lines.append(f'  {slug} create-api-key --name "first admin"')
    lines.append("  uvicorn app.main:create_app --factory --reload --no-proxy-headers")
    if context["jobs"] == "queue":
        lines.append(f"  {slug}-worker run   # in another shell: runs the background tasks")
    lines += ["  # then open http://127.0.0.1:8000/docs", "  pytest"]
    return "\n".join(lines)


def main() -> None:
    root = Path.cwd()
    for relative in sorted(unused_paths(CONTEXT)):
        remove(root, relative)
    print(next_steps(CONTEXT))


if __name__ == "__main__":
    main()
