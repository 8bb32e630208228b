"""{{ cookiecutter.project_slug }}: the FastAPI service package."""

__version__ = "{{ cookiecutter.version }}"
