"""Partition chaos: three tocsin replicas, each in its own network namespace with its own
address, gossiping over a bridge (see `tests/helpers/netns.py` for the topology).

Splitting {r0} | {r1, r2} detaches r0's cluster link from the bridge. Both sides still get
every alert (Prometheus reaches each replica over its management link) and can reach the
webhook sink, so the contract under test is Alertmanager's: at least once, never zero; the
duplicates a split costs stay inside the split; state made on either side converges after
healing; and an acknowledged silence survives the SIGKILL of the replica that took it.

Needs root and iproute2; skipped without them, except under CI=true where that is a failure.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_tocsin, running_in_ci
from tests.helpers.netns import NetnsUnavailable, Replica, Topology, netns_unavailable_reason
from tests.helpers.sink_for_oracle import RecordingSink

pytestmark = [pytest.mark.process]

PEER_TIMEOUT_SECONDS = 2.0
GROUP_WAIT_SECONDS = 1.0
# Short enough that every group is re-evaluated several times during the split and after
# the heal, so a repeat caused by merging the two sides' logs would show.
GROUP_INTERVAL_SECONDS = 5.0
CLUSTER_FLAGS = (
    f"--cluster.peer-timeout={PEER_TIMEOUT_SECONDS:g}s",
    "--cluster.reconnect-interval=2s",
    "--cluster.settle-timeout=20s",
)
FORM_TIMEOUT_SECONDS = 20.0
# The 60 s: long enough that every peer is declared dead on the other side (about
# 5 s) and the reconnect loop retries several times before the heal.
SPLIT_SECONDS = 60.0
# New groups start every few seconds during the split, as alerts keep flowing.
ALERT_BATCH_EVERY_SECONDS = 6.0
GROUPS_PER_BATCH = 4
# After healing: reconnect (2 s) + a push/pull, with room for a loaded CI box.
CONVERGE_TIMEOUT_SECONDS = 30.0
# Watching this long after the heal covers three group intervals on every replica.
AFTER_HEAL_WATCH_SECONDS = 3 * GROUP_INTERVAL_SECONDS
HTTP_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.1


def config_for(url: str) -> str:
    return f"""
route:
  receiver: hook
  group_by: [group]
  group_wait: {GROUP_WAIT_SECONDS:g}s
  group_interval: {GROUP_INTERVAL_SECONDS:g}s
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
"""


def until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL_SECONDS)


def get_json(replica: Replica, path: str) -> Any:
    response = httpx.get(f"{replica.base_url}{path}", timeout=HTTP_TIMEOUT_SECONDS)
    response.raise_for_status()
    return response.json()


def members_seen(replica: Replica) -> list[str]:
    return sorted(peer["name"] for peer in get_json(replica, "/api/v2/status")["cluster"]["peers"])


def ready_with(replicas: list[Replica], names: list[str]) -> Callable[[], bool]:
    def check() -> bool:
        for replica in replicas:
            cluster = get_json(replica, "/api/v2/status")["cluster"]
            if cluster["status"] != "ready" or sorted(p["name"] for p in cluster["peers"]) != names:
                return False
        return True

    return check


def post_group(replicas: list[Replica], group: str) -> None:
    alert = [{"labels": {"alertname": "Split", "group": group}, "startsAt": datetime.now(UTC).isoformat()}]
    for replica in replicas:
        response = httpx.post(f"{replica.base_url}/api/v2/alerts", json=alert, timeout=HTTP_TIMEOUT_SECONDS)
        assert response.status_code == 200, response.text


def create_silence(replica: Replica, value: str) -> str:
    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": "team", "value": value, "isRegex": False}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=2)).isoformat(),
        "createdBy": "chaos",
        "comment": value,
    }
    response = httpx.post(f"{replica.base_url}/api/v2/silences", json=body, timeout=HTTP_TIMEOUT_SECONDS)
    assert response.status_code == 200, response.text
    silence_id: str = response.json()["silenceID"]
    return silence_id


def silence_ids(replica: Replica) -> set[str]:
    return {silence["id"] for silence in get_json(replica, "/api/v2/silences")}


def senders_by_group(sink: RecordingSink) -> dict[str, list[str]]:
    found: dict[str, list[str]] = collections.defaultdict(list)
    for request in sink.requests:
        body = request.json()
        found[body["groupLabels"]["group"]].append(body["externalURL"].removeprefix("http://").split(".")[0])
    return found


@pytest.fixture
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Topology, list[Replica], RecordingSink]]:
    """Three namespaces with one replica each (not started) and a sink they can all reach.
    Everything is removed afterwards, also when the test fails."""
    require_tocsin()
    reason = netns_unavailable_reason()
    if reason is not None:
        if running_in_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    with RecordingSink(host="0.0.0.0") as sink:
        topology = Topology(3)
        try:
            topology.create()
        except NetnsUnavailable as error:
            topology.destroy()
            if running_in_ci():
                pytest.fail(f"CI=true and network namespaces are unavailable: {error}", pytrace=False)
            pytest.skip(f"network namespaces are unavailable: {error}")
        replicas: list[Replica] = []
        try:
            configs = [config_for(f"http://{topology.host_ip(i)}:{sink.port}/hook") for i in range(3)]
            replicas = topology.replicas(configs, tmp_path, CLUSTER_FLAGS)
            yield topology, replicas, sink
        finally:
            for replica in replicas:
                replica.kill()
            topology.destroy()
            failed = any(
                getattr(getattr(request.node, f"report_{phase}", None), "failed", False)
                for phase in ("setup", "call")
            )
            if failed:
                for replica in replicas:
                    print(replica.log_tail())


def start_cluster(replicas: list[Replica]) -> None:
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.wait_ready()
    until(ready_with(replicas, ["r0", "r1", "r2"]), FORM_TIMEOUT_SECONDS, "the cluster to form")


def test_a_split_notifies_on_both_sides_and_heals_without_repeats(
    lab: tuple[Topology, list[Replica], RecordingSink],
) -> None:
    topology, replicas, sink = lab
    start_cluster(replicas)
    post_group(replicas, "before")
    sink.wait_for_count(1, timeout=10.0)
    # Until the last replica's wait is over, a split would cut the log entry off in flight.
    time.sleep(2 * PEER_TIMEOUT_SECONDS + 1.0)
    assert senders_by_group(sink) == {"before": ["r0"]}

    topology.isolate(0)
    split_started = time.monotonic()
    during: list[str] = []
    silences: set[str] = set()
    batch = 0
    while time.monotonic() - split_started < SPLIT_SECONDS:
        for index in range(GROUPS_PER_BATCH):
            group = f"split-{batch}-{index}"
            post_group(replicas, group)
            during.append(group)
        if batch == 1:  # once both sides consider the other gone
            silences |= {create_silence(replicas[0], "minority"), create_silence(replicas[2], "majority")}
        batch += 1
        time.sleep(ALERT_BATCH_EVERY_SECONDS)
    assert members_seen(replicas[0]) == ["r0"]
    assert members_seen(replicas[1]) == ["r1", "r2"]
    seen_on_minority, seen_on_majority = silence_ids(replicas[0]), silence_ids(replicas[1])
    assert len(silences) == 2 and seen_on_minority != seen_on_majority  # really split

    topology.reconnect(0)
    until(ready_with(replicas, ["r0", "r1", "r2"]), CONVERGE_TIMEOUT_SECONDS, "membership to converge")
    until(lambda: all(silences <= silence_ids(r) for r in replicas), CONVERGE_TIMEOUT_SECONDS, "silences everywhere")
    sent_at_heal = len(sink.requests)
    time.sleep(AFTER_HEAL_WATCH_SECONDS)

    senders = senders_by_group(sink)
    assert len(sink.requests) == sent_at_heal, "healing caused repeat notifications"
    assert senders["before"] == ["r0"]  # notified before the split; no repeat during or after it
    majority_duplicates = 0
    for group in during:
        sides = senders.get(group, [])
        majority = sorted(s for s in sides if s != "r0")
        # At least once on each side; one duplicate per group is the price of the split.
        assert sides.count("r0") == 1, (group, sides)
        assert majority in (["r1"], ["r2"], ["r1", "r2"]), (group, sides)
        majority_duplicates += len(majority) - 1
    # The majority side still deduplicates between its two replicas; only while r1 and r2
    # disagree about r0's death (a moment around failure detection) can both send.
    assert majority_duplicates <= GROUPS_PER_BATCH, senders


def test_an_acknowledged_silence_survives_sigkill_of_the_isolated_replica_that_took_it(
    lab: tuple[Topology, list[Replica], RecordingSink],
) -> None:
    topology, replicas, _ = lab
    start_cluster(replicas)
    topology.isolate(1)  # nothing can leave r1 by gossip: only its disk can keep the silence
    silence_id = create_silence(replicas[1], "durable")
    replicas[1].kill()
    assert silence_id not in silence_ids(replicas[0])
    topology.reconnect(1)
    replicas[1].start().wait_ready()
    assert silence_id in silence_ids(replicas[1])
    until(
        lambda: all(silence_id in silence_ids(r) for r in replicas),
        CONVERGE_TIMEOUT_SECONDS,
        "the recovered silence on every replica",
    )
