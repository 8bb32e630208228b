"""Make the OpenAPI document tell the truth about errors: every 4xx/5xx is problem+json."""

import copy
from typing import Any

from fastapi import FastAPI

from app.core.errors import PROBLEM_MEDIA_TYPE
from app.schemas.problem import Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# FastAPI documents 422 with its own model; the service answers with Problem instead.
_REPLACED_SCHEMAS = ("HTTPValidationError", "ValidationError")
# Raised before validation for any operation that reads a body.
_BODY_ERRORS = {
    "400": {"description": "The body is not UTF-8 text, or Content-Length is malformed."},
    "413": {"description": "The body is larger than MAX_BODY_BYTES."},
}
# Possible on every operation that declares a security requirement.
_AUTH_ERRORS = {
    "401": {"description": "Missing or invalid credentials."},
    "403": {"description": "The credentials do not grant this operation."},
}

# Every operation but the health probes draws on its client's rate limit.
_THROTTLED = {"description": "Too many requests from this client; see Retry-After."}


def _use_problem_documents(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for name in _REPLACED_SCHEMAS:
        schemas.pop(name, None)
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            if not path.startswith("/health/"):
                operation["responses"].setdefault("429", copy.deepcopy(_THROTTLED))
            if "requestBody" in operation:
                operation["responses"].update(copy.deepcopy(_BODY_ERRORS))
            if operation.get("security"):
                for code, response in _AUTH_ERRORS.items():
                    operation["responses"].setdefault(code, copy.deepcopy(response))
            for code, response in operation.get("responses", {}).items():
                if code[0] in "45":
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": dict(_PROBLEM_REF)}}


def install_problem_openapi(app: FastAPI) -> None:
    """Generate the document once, on first request, with error responses rewritten."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _use_problem_documents(FastAPI.openapi(app))
        return FastAPI.openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
