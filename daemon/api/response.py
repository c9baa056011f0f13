"""A framework-free HTTP response value, so handlers are plain functions that tests call
directly and the ASGI layer only translates; and the answers of go-openapi's layer in front
of Alertmanager's handlers (error codes, the media-type check, body decoding failures)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from daemon.matchers import go_quote

JSON_CONTENT_TYPE = "application/json"
# What go-openapi takes a request without Content-Type for.
DEFAULT_MEDIA_TYPE = "application/octet-stream"

# go-openapi error codes (errors.CompositeErrorCode etc.).
CODE_BAD_REQUEST = 400
CODE_INVALID_TYPE = 601
CODE_REQUIRED = 602
CODE_TOO_FEW_ITEMS = 612


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


class FrameworkError(Exception):
    """A request go-openapi refuses before the handler runs; `response` is its answer."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.response = framework_error(status, code, message)


def body_decode_failure(body_name: str, message: str) -> FrameworkError:
    """A body encoding/json could not decode into the handler's parameter (400)."""
    return FrameworkError(
        400, CODE_BAD_REQUEST, f'parsing {body_name} body from "" failed, because {message}'
    )


def unsupported_media_type(content_type: str | None) -> Response | None:
    """go-openapi's consumer check: only application/json bodies (a missing header counts as
    application/octet-stream)."""
    shown = content_type.split(";", 1)[0].strip() if content_type else DEFAULT_MEDIA_TYPE
    if shown.lower() == JSON_CONTENT_TYPE:
        return None
    return framework_error(
        415, 415, f"unsupported media type {go_quote(shown)}, only [application/json] are allowed"
    )
