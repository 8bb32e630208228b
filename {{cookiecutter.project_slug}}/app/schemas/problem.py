"""The RFC 9457 problem document every error response carries (for the OpenAPI schema)."""

from pydantic import BaseModel, ConfigDict, Field


class FieldProblem(BaseModel):
    """One reason a request failed validation."""

    loc: list[str | int] = Field(description="Where the problem is: body, query, path, header.")
    msg: str
    type: str


class Problem(BaseModel):
    """An error, in the shape of RFC 9457, with the id of the request that caused it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "No item with this id.",
                    "request_id": "0b8f4a0b2cbf4c5e9f0b8f1e0d7c6a51",
                }
            ]
        }
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    request_id: str
    errors: list[FieldProblem] | None = Field(
        default=None, description="Present on 422: each field that failed validation."
    )
