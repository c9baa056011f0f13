"""High availability with real daemon processes on 127.0.0.1.

Three replicas (`r0`, `r1`, `r2`, so positions follow the names) peer with each other. As
Prometheus does, every alert is posted to all of them; the wait stage (position x
`--cluster.peer-timeout`, 2 s here) and the gossiped notification log must turn that into
exactly one webhook per group, and into at least one when the replica that should send dies.
Each webhook names its sender through `externalURL` (`http://<replica>.invalid/`).
"""

from __future__ import annotations

import collections
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_binary, require_tocsin
from tests.helpers.netns import Replica, ReplicaKind, make_loopback_replicas
from tests.helpers.processes import amtool
from tests.helpers.sink_for_oracle import RecordingSink

pytestmark = [pytest.mark.process]

PEER_TIMEOUT_SECONDS = 2.0
GROUP_WAIT_SECONDS = 1.0
CLUSTER_FLAGS = (
    f"--cluster.peer-timeout={PEER_TIMEOUT_SECONDS:g}s",
    "--cluster.reconnect-interval=1s",
    "--cluster.settle-timeout=20s",
)
# A fresh cluster on loopback forms in well under a second; CI boxes are slower and shared.
FORM_TIMEOUT_SECONDS = 20.0
# Gossip reaches every replica of three within a few 200 ms rounds.
SILENCE_SPREAD_TIMEOUT_SECONDS = 5.0
# After the first notification of a group, the last replica would send at 2 x peer timeout
# if dedup failed; watching a little longer than that catches any duplicate.
DUPLICATE_WATCH_SECONDS = 2 * PEER_TIMEOUT_SECONDS + 2.0
HTTP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.05


def config_for(sink: RecordingSink) -> str:
    return f"""
route:
  receiver: hook
  group_by: [group]
  group_wait: {GROUP_WAIT_SECONDS:g}s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs:
      - url: {sink.url("/hook")}
"""


def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL_SECONDS)


def cluster_status(replica: Replica) -> dict[str, Any]:
    response = httpx.get(f"{replica.base_url}/api/v2/status", timeout=HTTP_TIMEOUT_SECONDS)
    response.raise_for_status()
    status: dict[str, Any] = response.json()["cluster"]
    return status


def formed(replicas: Sequence[Replica], size: int | None = None) -> bool:
    expected = size if size is not None else len(replicas)
    for replica in replicas:
        status = cluster_status(replica)
        if status["status"] != "ready" or len(status["peers"]) != expected:
            return False
    return True


def post_alerts(replica: Replica, alerts: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{replica.base_url}/api/v2/alerts", json=alerts, timeout=HTTP_TIMEOUT_SECONDS)
    assert response.status_code == 200, response.text


def firing_alerts(groups: int, tag: str) -> list[dict[str, Any]]:
    starts = datetime.now(UTC).isoformat()
    return [{"labels": {"alertname": "HA", "group": f"{tag}-{index}"}, "startsAt": starts} for index in range(groups)]


def create_silence(replica: Replica, comment: str) -> str:
    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": "service", "value": comment, "isRegex": False}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "test",
        "comment": comment,
    }
    response = httpx.post(f"{replica.base_url}/api/v2/silences", json=body, timeout=HTTP_TIMEOUT_SECONDS)
    assert response.status_code == 200, response.text
    silence_id: str = response.json()["silenceID"]
    return silence_id


def silence_ids(replica: Replica) -> set[str]:
    response = httpx.get(f"{replica.base_url}/api/v2/silences", timeout=HTTP_TIMEOUT_SECONDS)
    response.raise_for_status()
    return {silence["id"] for silence in response.json()}


def has_silences(replica: Replica, wanted: set[str]) -> Callable[[], bool]:
    return lambda: wanted <= silence_ids(replica)


def notifications_by_group(sink: RecordingSink) -> dict[str, list[str]]:
    """Group label -> senders (replica names from externalURL), in arrival order."""
    found: dict[str, list[str]] = collections.defaultdict(list)
    for request in sink.requests:
        body = request.json()
        sender = body["externalURL"].removeprefix("http://").split(".invalid")[0]
        found[body["groupLabels"]["group"]].append(sender)
    return found


@pytest.fixture
def sink() -> Iterator[RecordingSink]:
    with RecordingSink() as recording:
        yield recording


class ClusterRunner:
    """Starts replicas for one test; stops (or kills) all of them at teardown, printing
    their logs when the test failed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.replicas: list[Replica] = []

    def start(
        self, kinds: Sequence[ReplicaKind], config_text: str, extra_args: Sequence[str] = CLUSTER_FLAGS
    ) -> list[Replica]:
        replicas = make_loopback_replicas(kinds, config_text, self.root, extra_args)
        for replica in replicas:
            replica.start()
        self.replicas.extend(replicas)
        for replica in replicas:
            replica.wait_ready()
        return replicas

    def teardown(self, failed: bool) -> None:
        for replica in self.replicas:
            replica.kill()
        if failed:
            for replica in self.replicas:
                print(replica.log_tail())


@pytest.fixture
def runner(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ClusterRunner]:
    require_tocsin()
    cluster = ClusterRunner(tmp_path)
    yield cluster
    failed = any(
        getattr(getattr(request.node, f"report_{phase}", None), "failed", False) for phase in ("setup", "call")
    )
    cluster.teardown(failed)


def test_three_replicas_form_a_cluster_that_status_and_amtool_show(runner: ClusterRunner, sink: RecordingSink) -> None:
    replicas = runner.start(["tocsin"] * 3, config_for(sink))
    until(lambda: formed(replicas), FORM_TIMEOUT_SECONDS, "three ready members everywhere")
    expected_peers = [{"address": replica.cluster_address, "name": replica.name} for replica in replicas]
    for replica in replicas:
        status = cluster_status(replica)
        assert status == {"name": replica.name, "peers": expected_peers, "status": "ready"}
    shown = amtool(replicas[1].base_url, "cluster", "show", "--output=extended")
    assert shown.returncode == 0, shown.stderr
    assert "Cluster Status:  ready" in shown.stdout
    assert "Node Name:       r1" in shown.stdout
    for replica in replicas:
        assert f"{replica.cluster_address}  {replica.name}" in shown.stdout
    metrics = httpx.get(f"{replicas[2].base_url}/metrics", timeout=HTTP_TIMEOUT_SECONDS).text
    assert "alertmanager_cluster_enabled 1.0" in metrics
    assert "alertmanager_cluster_members 3.0" in metrics
    assert "alertmanager_peer_position 2.0" in metrics
    assert 'alertmanager_cluster_peer_info{peer="r2"} 1.0' in metrics


def test_a_silence_created_on_one_replica_appears_on_all(runner: ClusterRunner, sink: RecordingSink) -> None:
    replicas = runner.start(["tocsin"] * 3, config_for(sink))
    until(lambda: formed(replicas), FORM_TIMEOUT_SECONDS, "the cluster")
    created = create_silence(replicas[0], "spread")
    started = time.monotonic()
    for replica in replicas[1:]:
        until(has_silences(replica, {created}), SILENCE_SPREAD_TIMEOUT_SECONDS, f"the silence on {replica.name}")
    assert time.monotonic() - started < SILENCE_SPREAD_TIMEOUT_SECONDS
    # An expiry made on another replica wins everywhere (last writer wins).
    response = httpx.delete(f"{replicas[2].base_url}/api/v2/silence/{created}", timeout=HTTP_TIMEOUT_SECONDS)
    assert response.status_code == 200

    def expired_everywhere() -> bool:
        for replica in replicas:
            body = httpx.get(f"{replica.base_url}/api/v2/silence/{created}", timeout=HTTP_TIMEOUT_SECONDS).json()
            if body["status"]["state"] != "expired":
                return False
        return True

    until(expired_everywhere, SILENCE_SPREAD_TIMEOUT_SECONDS, "the expiry on every replica")


# The acceptance number: 500 groups posted to all three replicas.
DEDUP_GROUPS = 500
# Position 0 must finish all 500 webhooks (and gossip the log) within one peer timeout.
# It takes about a second alone, but up to 2.5 s while all three replicas flush 500 groups
# on a shared 2-core box; 5 s keeps the margin (Alertmanager's default is 15 s).
DEDUP_PEER_TIMEOUT_SECONDS = 5.0
DEDUP_DELIVERY_TIMEOUT_SECONDS = 60.0


def test_alerts_posted_to_every_replica_are_notified_exactly_once(runner: ClusterRunner, sink: RecordingSink) -> None:
    flags = [*CLUSTER_FLAGS, f"--cluster.peer-timeout={DEDUP_PEER_TIMEOUT_SECONDS:g}s"]
    replicas = runner.start(["tocsin"] * 3, config_for(sink), [f for f in flags if f not in CLUSTER_FLAGS[:1]])
    until(lambda: formed(replicas), FORM_TIMEOUT_SECONDS, "the cluster")
    alerts = firing_alerts(DEDUP_GROUPS, "dedup")
    for replica in replicas:
        post_alerts(replica, alerts)
    sink.wait_for_count(DEDUP_GROUPS, "/hook", timeout=DEDUP_DELIVERY_TIMEOUT_SECONDS)
    # A process test: real time must pass for a duplicate to show (the last replica's wait).
    time.sleep(2 * DEDUP_PEER_TIMEOUT_SECONDS + 2.0)
    sent = notifications_by_group(sink)
    assert len(sent) == DEDUP_GROUPS
    duplicates = {group: senders for group, senders in sent.items() if len(senders) != 1}
    assert duplicates == {}
    assert {senders[0] for senders in sent.values()} == {"r0"}


def test_sigkill_of_position_zero_before_it_sends_lets_the_next_replica_send(
    runner: ClusterRunner, sink: RecordingSink
) -> None:
    replicas = runner.start(["tocsin"] * 3, config_for(sink))
    until(lambda: formed(replicas), FORM_TIMEOUT_SECONDS, "the cluster")
    groups = 20
    alerts = firing_alerts(groups, "failover")
    for replica in replicas:
        post_alerts(replica, alerts)
    replicas[0].kill()  # well inside its 1 s group wait: r0 never sends
    sink.wait_for_count(groups, "/hook", timeout=GROUP_WAIT_SECONDS + 2 * PEER_TIMEOUT_SECONDS + 20.0)
    time.sleep(DUPLICATE_WATCH_SECONDS)
    sent = notifications_by_group(sink)
    assert sorted(sent) == sorted(alert["labels"]["group"] for alert in alerts)
    assert all(len(senders) == 1 for senders in sent.values()), sent
    assert {senders[0] for senders in sent.values()} == {"r1"}


# SIGKILL lands this long after r0's group wait ended, while it is sending: some groups went
# out and were logged, some are in flight, some not yet started.
KILL_AFTER_GROUP_WAIT_SECONDS = 0.05
MID_SEND_GROUPS = 200


def test_sigkill_of_position_zero_while_it_sends_still_notifies_every_group(
    runner: ClusterRunner, sink: RecordingSink
) -> None:
    replicas = runner.start(["tocsin"] * 3, config_for(sink))
    until(lambda: formed(replicas), FORM_TIMEOUT_SECONDS, "the cluster")
    alerts = firing_alerts(MID_SEND_GROUPS, "mid-send")
    posted_to_first = time.monotonic()
    for replica in replicas:
        post_alerts(replica, alerts)
    time.sleep(max(0.0, posted_to_first + GROUP_WAIT_SECONDS + KILL_AFTER_GROUP_WAIT_SECONDS - time.monotonic()))
    replicas[0].kill()
    sink.wait_for_count(MID_SEND_GROUPS, "/hook", timeout=GROUP_WAIT_SECONDS + 2 * PEER_TIMEOUT_SECONDS + 30.0)
    time.sleep(DUPLICATE_WATCH_SECONDS)
    sent = notifications_by_group(sink)
    assert sorted(sent) == sorted(alert["labels"]["group"] for alert in alerts)  # at least once
    # r1 covers for r0 and r2 stays quiet: a group is sent at most by r0 (before dying) and r1.
    assert all(len(senders) <= 2 and "r2" not in senders for senders in sent.values()), sent


# Silences merged from peers are committed to disk by the daemon's 1 s background commit.
MERGED_COMMIT_SECONDS = 1.5


def test_a_wiped_replica_gets_silences_back_by_push_pull_and_leaving_is_seen_at_once(
    runner: ClusterRunner, sink: RecordingSink
) -> None:
    replicas = runner.start(["tocsin"] * 3, config_for(sink))
    until(lambda: formed(replicas), FORM_TIMEOUT_SECONDS, "the cluster")
    created = {create_silence(replicas[index % 2], f"keep-{index}") for index in range(5)}
    until(has_silences(replicas[2], created), SILENCE_SPREAD_TIMEOUT_SECONDS, "silences on r2")

    restarted = replicas[2]
    assert restarted.stop() == 0  # graceful: the others drop it at once instead of probing it dead
    until(lambda: formed(replicas[:2], size=2), 5.0, "r2's leave on r0 and r1")
    shutil.rmtree(restarted.storage_path)  # whatever it gets back comes from its peers
    restarted.start().wait_ready()
    until(has_silences(restarted, created), FORM_TIMEOUT_SECONDS, "silences back on the wiped r2")
    until(lambda: formed(replicas), FORM_TIMEOUT_SECONDS, "the cluster re-formed")

    # What it merged is on its own disk too: crash everybody, bring back r2 alone.
    time.sleep(MERGED_COMMIT_SECONDS)
    for replica in replicas:
        replica.kill()
    restarted.start().wait_ready()
    assert created <= silence_ids(restarted)


def test_a_replica_settles_only_once_it_exchanged_state_with_a_peer(runner: ClusterRunner, sink: RecordingSink) -> None:
    replicas = make_loopback_replicas(["tocsin", "tocsin"], config_for(sink), runner.root, CLUSTER_FLAGS)
    runner.replicas.extend(replicas)
    lonely, late = replicas
    lonely.start().wait_ready()
    assert cluster_status(lonely)["status"] == "settling"
    # Not settled: the gossip-settle stage holds notifications back.
    post_alerts(lonely, firing_alerts(1, "held"))
    time.sleep(GROUP_WAIT_SECONDS + 1.0)
    assert sink.requests == []
    late.start().wait_ready()
    until(lambda: formed(replicas), FORM_TIMEOUT_SECONDS, "both replicas ready")
    sink.wait_for_count(1, "/hook", timeout=10.0)


# Alertmanager gossips each nflog entry 3 times in a cluster of 3 (memberlist's retransmit
# limit, 3 x ceil(log10(N + 1))), each copy to whichever member the next gossip round, ping or
# ack goes to, without tracking who already got one. Measured under load (1 tocsin + 2
# Alertmanagers, 2 CPU hogs): in about one burst of 20 groups in 25, both Alertmanagers spent
# every copy of a few entries on each other (gossip rounds plus ping/ack piggyback between the
# two), so tocsin at position 2 learned them only from the next push/pull, a minute later, and
# sent duplicates after its 10 s wait. Nothing was lost or late on tocsin's side: the kernel's
# drop counter stayed 0, no packet failed to decode, and no copy of those entries arrived at
# all until tocsin's own entries were echoed back; a longer wait would not help. Production
# repairs such misses by push/pull too; here it runs more often than the positions' waits (0
# duplicated bursts in 60 then, 3 in 60 without), and the gossip path is checked on its own
# (`gossiped_updates`).
MIXED_PUSH_PULL_INTERVAL_SECONDS = 2.0


def gossiped_updates(replica: Replica) -> float:
    """tocsin's `alertmanager_cluster_messages_received_total{msg_type="update"}`: Parts that
    arrived by gossip (or direct send), not by push/pull."""
    text = httpx.get(f"{replica.base_url}/metrics", timeout=HTTP_TIMEOUT_SECONDS).text
    for line in text.splitlines():
        if line.startswith('alertmanager_cluster_messages_received_total{msg_type="update"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no gossiped update counter in tocsin's metrics")


@pytest.mark.oracle
@pytest.mark.parametrize(
    "kinds",
    [("tocsin", "tocsin", "alertmanager"), ("tocsin", "alertmanager", "alertmanager")],
    ids=["2-tocsin-1-alertmanager", "1-tocsin-2-alertmanager"],
)
def test_mixed_clusters_with_alertmanager_share_silences_and_deduplicate(
    runner: ClusterRunner, sink: RecordingSink, kinds: tuple[ReplicaKind, ...]
) -> None:
    require_binary()
    # Alertmanager's name is a random ULID, which sorts before ours: it is position 0, and
    # it received the alerts last (they are posted to one replica after the other), so the
    # last replica's wait needs the same margin as the 500-group test on a loaded machine.
    flags = [f for f in CLUSTER_FLAGS if not f.startswith("--cluster.peer-timeout=")]
    flags.append(f"--cluster.peer-timeout={DEDUP_PEER_TIMEOUT_SECONDS:g}s")
    flags.append(f"--cluster.pushpull-interval={MIXED_PUSH_PULL_INTERVAL_SECONDS:g}s")
    replicas = runner.start(kinds, config_for(sink), flags)
    # Alertmanager settles by polling the member count (about 10 s).
    until(lambda: formed(replicas), FORM_TIMEOUT_SECONDS + 15.0, "the mixed cluster")
    names = [peer["name"] for peer in cluster_status(replicas[0])["peers"]]
    assert len(names) == 3 and names == sorted(names)
    assert all([peer["name"] for peer in cluster_status(r)["peers"]] == names for r in replicas)
    from_alertmanager = create_silence(replicas[2], "from-go")
    from_tocsin = create_silence(replicas[0], "from-python")
    for replica in replicas:
        until(
            has_silences(replica, {from_alertmanager, from_tocsin}),
            SILENCE_SPREAD_TIMEOUT_SECONDS,
            f"both silences on {replica.name}",
        )
    groups = 20
    alerts = firing_alerts(groups, f"mixed-{uuid.uuid4().hex[:6]}")
    last_tocsin = max((r for r in replicas if r.kind == "tocsin"), key=lambda r: r.name)
    updates_before = gossiped_updates(last_tocsin)
    for replica in replicas:
        post_alerts(replica, alerts)
    sink.wait_for_count(groups, "/hook", timeout=GROUP_WAIT_SECONDS + 2 * DEDUP_PEER_TIMEOUT_SECONDS + 20.0)
    time.sleep(2 * DEDUP_PEER_TIMEOUT_SECONDS + 2.0)
    sent = notifications_by_group(sink)
    assert len(sent) == groups
    assert all(len(senders) == 1 for senders in sent.values()), sent
    # The entries came by gossip, not only by push/pull: each nflog Part counts once per copy,
    # and a tocsin replica that sent nothing received at least one copy per group on average.
    assert gossiped_updates(last_tocsin) - updates_before >= groups


# Start-up errors end the process before it serves anything.
STARTUP_FAILURE_TIMEOUT_SECONDS = 20.0


def exit_code_and_log(replica: Replica) -> tuple[int | None, str]:
    replica.start()
    assert replica.process is not None
    try:
        code: int | None = replica.process.wait(timeout=STARTUP_FAILURE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        replica.kill()
    return code, replica.log_path.read_text()


def test_an_unreadable_key_file_stops_the_start(tmp_path: Path, sink: RecordingSink) -> None:
    require_tocsin()
    (replica,) = make_loopback_replicas(["tocsin"], config_for(sink), tmp_path)
    replica.extra_args = ["--cluster.key-file=/nonexistent/gossip.key"]
    code, log = exit_code_and_log(replica)
    assert code == 1, log
    assert "unable to initialize gossip mesh" in log and "reading cluster key file" in log, log


def test_a_busy_cluster_port_stops_the_start(tmp_path: Path, sink: RecordingSink) -> None:
    require_tocsin()
    (replica,) = make_loopback_replicas(["tocsin"], config_for(sink), tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((replica.cluster_host, replica.cluster_port))
        code, log = exit_code_and_log(replica)
    assert code == 1, log
    assert "unable to initialize gossip mesh" in log and "in use" in log, log
