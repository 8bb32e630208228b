"""Delete the files the chosen options do not use, then print the next steps.

`_variant_files` in cookiecutter.json maps each option value to the paths only it needs. A
path listed under any value of an option is kept only when that value was chosen; paths
listed nowhere belong to every variant. Nothing here touches the network or writes random
values, so `cruft update` re-renders the same tree from the same answers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")


def unused_paths(context: dict[str, object]) -> set[str]:
    """Paths that belong only to option values other than the chosen ones."""
    variants = context["_variant_files"]
    assert isinstance(variants, dict)
    unused: set[str] = set()
    for axis, files_by_value in variants.items():
        chosen = context[axis]
        kept = set(files_by_value[chosen])
        for value, paths in files_by_value.items():
            if value != chosen:
                unused.update(path for path in paths if path not in kept)
    return unused


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def next_steps(context: dict[str, object]) -> str:
    slug = context["project_slug"]
    lines = [
        f"Created {slug}. Next steps:",
        f"  cd {slug}",
        "  python -m venv .venv && . .venv/bin/activate",
        '  pip install -e ".[dev]"',
    ]
    if context["database"] != "sqlite":
        lines.append("  docker compose up -d db   # or point DATABASE_URL at your own server")
    lines.append("  alembic upgrade head")
    if context["auth"] in ("jwt", "jwt_and_api_key"):
        lines.append(f"  {slug} create-superuser --email you@example.com")
    elif context["auth"] == "api_key":
        lines.append(f'  {slug} create-api-key --name "first admin"')
    lines += [
        "  uvicorn app.main:create_app --factory --reload   # then open http://127.0.0.1:8000/docs",
        "  pytest",
    ]
    return "\n".join(lines)


def main() -> None:
    root = Path.cwd()
    for relative in sorted(unused_paths(CONTEXT)):
        remove(root / relative)
    print(next_steps(CONTEXT))


if __name__ == "__main__":
    main()
