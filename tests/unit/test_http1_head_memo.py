"""Request heads remembered by their bytes: same answers as parsing, independent copies,
bounded memory."""

from __future__ import annotations

import dataclasses

import pytest

from daemon.api import http1
from daemon.api.http1 import (
    MAX_REMEMBERED_HEAD_BYTES,
    MAX_REMEMBERED_HEADS,
    HttpError,
    parse_request_head,
    parse_request_head_memoised,
)

HEADS = [
    b"POST /api/v2/silences HTTP/1.1\r\nHost: 127.0.0.1:9093\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n",
    b"GET /api/v2/alerts?filter=a%3D%22b%22 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\t b\r\nX-A: c\r\n\r\n",
]


@pytest.mark.parametrize("head", HEADS)
def test_memoised_heads_equal_fresh_parses(head: bytes) -> None:
    first = parse_request_head_memoised(head)
    again = parse_request_head_memoised(head)
    assert dataclasses.asdict(first) == dataclasses.asdict(parse_request_head(head))
    assert dataclasses.asdict(again) == dataclasses.asdict(first)


def test_each_call_gets_its_own_headers() -> None:
    first = parse_request_head_memoised(HEADS[0])
    first.headers["host"] = "changed"
    first.headers["x-new"] = "1"
    again = parse_request_head_memoised(HEADS[0])
    assert again.headers["host"] == "127.0.0.1:9093"
    assert "x-new" not in again.headers
    assert again is not first


def test_refusals_are_raised_every_time() -> None:
    bad = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
    for _ in range(2):
        with pytest.raises(HttpError) as refused:
            parse_request_head_memoised(bad)
        assert refused.value.status == 400
    assert bad not in http1._parsed_heads


def test_memory_is_bounded() -> None:
    for serial in range(MAX_REMEMBERED_HEADS + 20):
        parse_request_head_memoised(f"GET /{serial} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert len(http1._parsed_heads) == MAX_REMEMBERED_HEADS
    assert b"GET /0 HTTP/1.1\r\nHost: x\r\n\r\n" not in http1._parsed_heads  # the oldest went first
    padding = "a" * MAX_REMEMBERED_HEAD_BYTES
    large = f"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {padding}\r\n\r\n".encode()
    assert parse_request_head_memoised(large).headers["x-pad"] == padding
    assert large not in http1._parsed_heads


def test_remembered_response_heads_equal_built_ones() -> None:
    from daemon.api.response import Response, json_response

    for response in (json_response(200, {"silenceID": "x"}), Response(200), Response(404, b"", "text/plain")):
        for date in ("Thu, 26 Nov 2026 00:00:00 GMT", "Thu, 26 Nov 2026 00:00:01 GMT"):
            for connection in (None, "close"):
                built = http1._build_response_head(
                    response, http11=True, body_length=len(response.body), connection=connection, date=date
                )
                for _ in range(2):
                    head = http1.encode_response_head(
                        response, http11=True, body_length=len(response.body), connection=connection, date=date
                    )
                    assert head == built
                    assert f"Date: {date}\r\n".encode() in head
    assert len(http1._response_heads) <= http1.MAX_REMEMBERED_RESPONSE_HEADS


def test_response_heads_memory_is_bounded() -> None:
    from daemon.api.response import Response

    for length in range(http1.MAX_REMEMBERED_RESPONSE_HEADS + 5):
        head = http1.encode_response_head(Response(200), http11=True, body_length=length, connection=None, date="D")
        assert head.endswith(f"Content-Length: {length}\r\n\r\n".encode())
    assert len(http1._response_heads) <= http1.MAX_REMEMBERED_RESPONSE_HEADS


def test_heads_with_short_handler_headers_are_remembered_and_equal_built_ones() -> None:
    from daemon.api.response import Response

    http1._response_heads.clear()
    short = Response(200, b"{}", "application/json", [("Vary", "Origin"), ("Access-Control-Allow-Origin", "*")])
    other = Response(200, b"{}", "application/json", [("Vary", "Accept")])
    long_value = Response(301, b"", None, [("Location", "/" + "x" * http1.MAX_REMEMBERED_RESPONSE_HEADER_VALUE)])
    for response in (short, other, long_value, short, other):
        built = http1._build_response_head(response, http11=True, body_length=2, connection=None, date="D")
        assert http1.encode_response_head(response, http11=True, body_length=2, connection=None, date="D") == built
    assert b"Vary: Origin\r\n" in http1.encode_response_head(short, http11=True, body_length=2, connection=None, date="D")
    assert b"Vary: Accept\r\n" in http1.encode_response_head(other, http11=True, body_length=2, connection=None, date="D")
    # Two heads remembered (the short headers), the one with a long Location built each time.
    assert len(http1._response_heads) == 2
