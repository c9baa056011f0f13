"""Fuzz the running daemon's API with schemathesis, driven by the OpenAPI description we ship
(`daemon/api/openapi.json`): every operation gets generated requests, valid and invalid.

Each answer must be a status the description documents for that operation (so a 5xx only
where Alertmanager itself answers one, e.g. DELETE of an unknown silence), with a body of
the documented shape and content type, within a bounded time (no hang); afterwards the
daemon must still be alive and answering. The same run against the real Alertmanager 0.25
checks the description itself. The number of examples is bounded to keep CI short; set
TOCSIN_FUZZ_EXAMPLES for a longer local run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import require_binary, require_tocsin
from tests.helpers.processes import REPO_ROOT, DaemonKind, DaemonProcess, start_daemon

pytestmark = [pytest.mark.process]

SPEC_PATH = REPO_ROOT / "daemon" / "api" / "openapi.json"
# Per operation; 9 operations, so about 300 requests in all: a few seconds on loopback.
EXAMPLES_PER_OPERATION = int(os.environ.get("TOCSIN_FUZZ_EXAMPLES", "30"))
# Any single answer slower than this counts as a hang (the slowest real one takes milliseconds).
REQUEST_TIMEOUT_SECONDS = 10.0

CONFIG = """\
route:
  receiver: default
  group_by: [alertname]
  routes:
    - receiver: team
      matchers: [team="ops"]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
receivers:
  - name: default
  - name: team
"""

schema = schemathesis.openapi.from_path(SPEC_PATH)


@pytest.fixture(scope="module", params=["tocsin", "alertmanager"])
def daemon(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """tocsin, and the real Alertmanager 0.25 as a check on the description itself: an answer
    the description does not allow from Alertmanager is a mistake in the description."""
    kind: DaemonKind = request.param
    if kind == "alertmanager":
        require_binary()
    else:
        require_tocsin()
    process = start_daemon(kind, CONFIG, Path(tmp_path_factory.mktemp(f"fuzz-{kind}")))
    # Some state for the GETs to walk over: alerts (one inhibited) and a silence.
    with httpx.Client(base_url=process.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        client.post("/api/v2/alerts", json=[
            {"labels": {"alertname": "Fuzz", "severity": "critical"}},
            {"labels": {"alertname": "Fuzz", "severity": "warning", "team": "ops"}},
        ]).raise_for_status()
        client.post("/api/v2/silences", json={
            "matchers": [{"name": "team", "value": "ops", "isRegex": False}],
            "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2999-01-01T00:00:00Z",
            "createdBy": "fuzz", "comment": "seed",
        }).raise_for_status()
    try:
        yield process
    finally:
        process.stop()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_api_answers_only_documented_statuses(case: schemathesis.Case, daemon: DaemonProcess) -> None:
    try:
        response = case.call(base_url=f"{daemon.base_url}/api/v2", timeout=REQUEST_TIMEOUT_SECONDS)
    except requests.ConnectionError:
        # Alertmanager 0.25's handlers dereference null array entries (`[null]` alerts,
        # `"matchers": [null]`) and panic; Go drops the connection. tocsin must answer.
        if daemon.kind == "alertmanager" and "null" in json.dumps(case.body, default=str):
            return
        raise
    checks = [status_code_conformance, response_schema_conformance]
    if response.content:
        # Alertmanager's empty answers (404 of an unknown silence, 200 of POST /alerts)
        # carry no Content-Type; only bodies must declare theirs.
        checks.append(content_type_conformance)
    case.validate_response(response, checks=checks, excluded_checks=[not_a_server_error])
    assert daemon.is_running(), daemon.log_tail()


def test_daemon_survives_the_fuzzing(daemon: DaemonProcess) -> None:
    """Runs after the fuzz cases in this module: still alive, still answering."""
    response = httpx.get(f"{daemon.base_url}/-/ready", timeout=REQUEST_TIMEOUT_SECONDS)
    assert response.status_code == 200
    assert daemon.is_running()
