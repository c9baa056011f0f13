"""A framework-free HTTP response value, so handlers are plain functions that tests call
directly and the ASGI layer only translates."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

JSON_CONTENT_TYPE = "application/json"


@dataclasses.dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def json_response(status: int, payload: Any) -> Response:
    return Response(status, orjson.dumps(payload), JSON_CONTENT_TYPE)


def handler_error(status: int, message: str) -> Response:
    """Errors raised by Alertmanager's handlers: a JSON *string* body."""
    return json_response(status, message)


def framework_error(status: int, code: int, message: str) -> Response:
    """Errors raised by go-openapi's validation layer: `{"code": N, "message": "..."}`."""
    return json_response(status, {"code": code, "message": message})
