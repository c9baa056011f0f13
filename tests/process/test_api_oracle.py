"""Differential test of the alerts API's error handling: the same requests (a table of bad and
borderline inputs, `api_cases.py`) go to the real Alertmanager 0.25 and to tocsin; status,
content type, `Allow` header and body must agree (JSON bodies compared as values, so Go's
trailing newline does not count; times normalised in alert lists)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import require_binary, require_tocsin
from tests.helpers.processes import DaemonProcess, DaemonStartError, start_daemon
from tests.process.api_cases import ALL_CASES, ApiCase

pytestmark = [pytest.mark.process, pytest.mark.oracle]

CONFIG = """\
route:
  receiver: x
  group_by: [alertname]
  routes:
  - matchers: [team="db"]
    receiver: db
    continue: true
  - matchers: [job="a"]
    receiver: x
    group_by: [job, instance]
receivers:
- name: x
- name: db
- name: unused
"""
TIME_FIELDS = ("startsAt", "endsAt", "updatedAt")
HTTP_TIMEOUT_SECONDS = 10.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, DaemonProcess]]:
    require_binary()
    require_tocsin()
    started: list[DaemonProcess] = []
    try:
        for kind in ("alertmanager", "tocsin"):
            started.append(start_daemon(kind, CONFIG, tmp_path_factory.mktemp(kind)))  # type: ignore[arg-type]
        yield started[0], started[1]
    except DaemonStartError as error:
        pytest.fail(str(error), pytrace=False)
    finally:
        for daemon in started:
            daemon.stop()


def _normalised_body(response: httpx.Response) -> Any:
    if response.headers.get("content-type", "").startswith("application/json"):
        value = orjson.loads(response.content)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _normalise_times(item)
                    for alert in item.get("alerts", []):
                        _normalise_times(alert)
        return value
    return response.content


def _normalise_times(item: dict[str, Any]) -> None:
    for field in TIME_FIELDS:
        if field in item:
            item[field] = "<time>"


def _method_set(text: str | None) -> frozenset[str] | None:
    """Alertmanager lists allowed methods in Go map order (it varies between requests)."""
    return None if text is None else frozenset(part.strip() for part in text.split(","))


def _normalised_405(body: Any) -> Any:
    if isinstance(body, dict) and body.get("code") == 405:
        head, _, listed = body["message"].partition("[")
        return {**body, "message": (head, _method_set(listed.rstrip("] are")))}
    return body


def _outcome(daemon: DaemonProcess, case: ApiCase) -> tuple[int, str | None, str | None, Any]:
    _, method, path, body, headers = case
    response = httpx.request(
        method, daemon.base_url + path, content=body, headers=headers, timeout=HTTP_TIMEOUT_SECONDS
    )
    return (
        response.status_code,
        response.headers.get("content-type"),
        _method_set(response.headers.get("allow")),
        _normalised_405(_normalised_body(response)),
    )


def test_the_table_is_large_enough() -> None:
    assert len(ALL_CASES) >= 30


@pytest.mark.parametrize("case", ALL_CASES, ids=[case[0] for case in ALL_CASES])
def test_same_answer_as_alertmanager(pair: tuple[DaemonProcess, DaemonProcess], case: ApiCase) -> None:
    alertmanager, tocsin = pair
    assert _outcome(tocsin, case) == _outcome(alertmanager, case)
