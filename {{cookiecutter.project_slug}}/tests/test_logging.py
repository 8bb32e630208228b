"""Log lines carry the request id; production logs are JSON; every request is logged once."""

import json
import logging
import sys

import pytest
from httpx import AsyncClient

from app.core.logging import (
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    configure_logging,
    request_id_var,
)


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_json_lines_carry_request_id_and_extra_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "app.test", "levelname": "INFO", "msg": "hello %s", "args": ("world",)}
    )
    record.status = 201
    token = request_id_var.set("req-42")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)

    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == "hello world"
    assert line["request_id"] == "req-42"
    assert line["status"] == 201
    assert line["level"] == "INFO"
    assert line["time"].endswith("+00:00")


def test_json_lines_include_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("app.test").makeRecord(
            "app.test", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in line["exception"]


@pytest.mark.parametrize("json_lines", [True, False])
def test_configure_logging_installs_one_root_handler(json_lines: bool) -> None:
    configure_logging("WARNING", json_lines=json_lines)

    root = logging.getLogger()
    (handler,) = root.handlers
    assert root.level == logging.WARNING
    assert isinstance(handler.formatter, JsonFormatter) is json_lines
    assert logging.getLogger("uvicorn.access").propagate is False


@pytest.mark.anyio
async def test_one_access_line_per_request(client: AsyncClient) -> None:
    handler = ListHandler()
    handler.addFilter(RequestIdFilter())
    access = logging.getLogger("app.access")
    access.addHandler(handler)
    try:
        response = await client.get("/api/v1/items/not-a-uuid", headers={"X-Request-ID": "r-1"})
    finally:
        access.removeHandler(handler)

    assert len(handler.records) == 1
    record = handler.records[0]
    assert record.__dict__["status"] == response.status_code == 422
    assert record.__dict__["path"] == "/api/v1/items/not-a-uuid"
    assert record.__dict__["duration_ms"] >= 0
    assert record.__dict__["request_id"] == "r-1"


@pytest.mark.parametrize(
    "hostile",
    [
        "/items\nINFO forged line",
        "a\u2028b\u2029c",
        "a\x85b",
        "a\rb\x1b[31m",
        "a\x7fb\x9b31m",
    ],
    ids=["newline", "separators", "next-line", "c0", "del-and-c1"],
)
@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
def test_text_from_clients_cannot_break_a_log_line(hostile: str, json_lines: bool) -> None:
    record = logging.makeLogRecord(
        {"name": "app.access", "levelname": "INFO", "msg": "GET %s 404", "args": (hostile,)}
    )
    RequestIdFilter().filter(record)
    formatter = JsonFormatter() if json_lines else TextFormatter("%(levelname)s %(message)s")

    line = formatter.format(record)

    assert len(line.splitlines()) == 1
    unsafe = {chr(code) for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}
    assert not unsafe & set(line)
    if json_lines:
        assert json.loads(line)["message"] == f"GET {hostile} 404"
