"""`--web.external-url` with a path: routes move under the prefix, and webhooks carry the URL."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.alerts_gen import alert, utc_now
from tests.oracle.differential import PairStarter

pytestmark = [pytest.mark.oracle, pytest.mark.process]

EXTERNAL_URL = "https://alerts.example.org/am/"
CONFIG = """\
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: team
    webhook_configs: [{url: $SINK/team}]
"""


def test_external_url_path_becomes_the_route_prefix(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(CONFIG, extra_args=[f"--web.external-url={EXTERNAL_URL}"], prefix="/am")
    pair.post_alerts([alert({"alertname": "Prefixed"}, starts_at=utc_now())])
    pair.wait_for_notifications(1)
    for side in pair.sides:
        (request,) = side.sink.requests
        # The trailing slash is trimmed.
        assert request.json()["externalURL"] == "https://alerts.example.org/am"
    pair.compare_notifications()
    pair.compare_api()
    pair.compare_status()
    for path in ("/-/ready", "/-/healthy", "/am/-/ready"):
        statuses = [httpx.get(side.daemon.base_url + path).status_code for side in pair.sides]
        assert statuses[1] == statuses[0], path
    redirects = [httpx.get(side.daemon.base_url + "/") for side in pair.sides]
    assert [response.status_code for response in redirects] == [302, 302]
    assert redirects[1].headers["location"] == redirects[0].headers["location"] == "/am"
    unprefixed = [httpx.get(side.daemon.base_url + "/api/v2/status").status_code for side in pair.sides]
    assert unprefixed[1] == unprefixed[0]
