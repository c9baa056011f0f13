"""The trio Peer with Alertmanager's channels joins a real Alertmanager 0.25 on 127.0.0.1:
both list each other, a silence created through Alertmanager's API reaches our "sil"
channel as a MeshSilence, and a MeshSilence we broadcast shows up in Alertmanager's API.
This proves the shell, the Part/FullState envelope and daemon.wire are wire compatible."""

from __future__ import annotations

import random
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trio

from cluster.core import CoreConfig
from cluster.peer import Peer, PeerSettings
from cluster.replication import Replicator, split_delimited
from cluster.transport import NetTransport
from daemon import wire
from tests.conftest import require_binary

ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 20.0
CONVERGE_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
CONFIG = "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"

pytestmark = [pytest.mark.oracle, pytest.mark.process]


def free_port() -> int:
    """A port free for both TCP and UDP, as memberlist binds both."""
    while True:
        with socket.socket() as tcp:
            tcp.bind((HOST, 0))
            port = int(tcp.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((HOST, port))
            except OSError:
                continue
        return port


class SilenceState:
    """Last-writer-wins silences keyed by id, as Alertmanager merges them."""

    def __init__(self) -> None:
        self.silences: dict[str, wire.MeshSilence] = {}

    def snapshot(self) -> bytes:
        return wire.encode_silences(self.silences.values())

    def merge(self, data: bytes, now: datetime) -> bool:
        changed = False
        for message in wire.decode_silences(data):
            if message.expires_at < now:
                continue
            known = self.silences.get(message.silence.id)
            if known is None or known.silence.updated_at < message.silence.updated_at:
                self.silences[message.silence.id] = message
                changed = True
        return changed


class RawState:
    def __init__(self) -> None:
        self.records: set[bytes] = set()

    def snapshot(self) -> bytes:
        return b""

    def merge(self, data: bytes, now: datetime) -> bool:
        new = set(split_delimited(data)) - self.records
        self.records |= new
        return bool(new)


@pytest.fixture
def alertmanager_ports(tmp_path: Path) -> Iterator[tuple[int, int, int]]:
    """(web port, its cluster port, our cluster port) with Alertmanager running and
    pointed at our (not yet started) peer."""
    require_binary(ALERTMANAGER)
    web, cluster, ours = free_port(), free_port(), free_port()
    (tmp_path / "am.yml").write_text(CONFIG)
    log = open(tmp_path / "am.log", "wb")
    process = subprocess.Popen(
        [
            str(ALERTMANAGER),
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path}",
            f"--web.listen-address={HOST}:{web}",
            f"--cluster.listen-address={HOST}:{cluster}",
            f"--cluster.peer={HOST}:{ours}",
            "--cluster.probe-interval=500ms",
            "--cluster.reconnect-interval=1s",
            "--log.level=debug",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield web, cluster, ours
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def until(predicate: Callable[[], object], timeout_s: float) -> None:
    with trio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 - state changes in other tasks and processes
            await trio.sleep(0.05)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


async def am_status(http: httpx.AsyncClient, web: int) -> dict[str, object]:
    response = await http.get(f"http://{HOST}:{web}/api/v2/status")
    response.raise_for_status()
    cluster: dict[str, object] = response.json()["cluster"]
    return cluster


async def test_mixed_cluster_replicates_silences_both_ways(
    alertmanager_ports: tuple[int, int, int], client: httpx.AsyncClient
) -> None:
    web, am_cluster, ours = alertmanager_ports
    silences, nflog = SilenceState(), RawState()
    replicator = Replicator(lambda: datetime.now(UTC))
    sil_channel = replicator.add_channel("sil", silences)
    replicator.add_channel("nfl", nflog)
    settings = PeerSettings(
        listen_address=f"{HOST}:{ours}",
        known_peers=(f"{HOST}:{am_cluster}",),
        name="tocsin-interop",
        core=CoreConfig(probe_interval_ms=500),
    )
    peer = Peer(settings, NetTransport(HOST, ours), replicator, rng=random.Random(7))
    async with trio.open_nursery() as nursery:
        await nursery.start(peer.run)

        # Both sides list both members.
        await until(lambda: len(peer.members()) == 2, STARTUP_TIMEOUT_S)
        with trio.fail_after(STARTUP_TIMEOUT_S):
            while True:
                try:
                    status = await am_status(client, web)
                except httpx.HTTPError:
                    status = {}
                if len(status.get("peers", [])) == 2:  # type: ignore[arg-type]
                    break
                await trio.sleep(0.1)
        am_name = status["name"]
        assert {m.name for m in peer.members()} == {"tocsin-interop", am_name}
        assert {p["address"] for p in status["peers"]} == {  # type: ignore[attr-defined]
            f"{HOST}:{am_cluster}",
            f"{HOST}:{ours}",
        }
        with trio.fail_after(CONVERGE_TIMEOUT_S):
            await peer.wait_ready()

        # Alertmanager -> us.
        now = datetime.now(UTC)
        body = {
            "matchers": [{"name": "job", "value": "api.*", "isRegex": True, "isEqual": True}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "oracle",
            "comment": "from alertmanager",
        }
        created = await client.post(f"http://{HOST}:{web}/api/v2/silences", json=body)
        created.raise_for_status()
        am_id = created.json()["silenceID"]
        await until(lambda: am_id in silences.silences, CONVERGE_TIMEOUT_S)
        theirs = silences.silences[am_id].silence
        assert theirs.matchers == (wire.WireMatcher(wire.MATCHER_REGEXP, "job", "api.*"),)
        assert (theirs.created_by, theirs.comment) == ("oracle", "from alertmanager")
        assert silences.silences[am_id].expires_at > theirs.ends_at

        # Us -> Alertmanager, through the gossip channel.
        our_id = str(uuid.uuid4())
        ours_message = wire.MeshSilence(
            wire.WireSilence(
                id=our_id,
                matchers=(wire.WireMatcher(wire.MATCHER_NOT_EQUAL, "env", "dev"),),
                starts_at=now,
                ends_at=now + timedelta(hours=2),
                updated_at=now,
                created_by="tocsin",
                comment="from python ☃",
            ),
            expires_at=now + timedelta(hours=2 + 120),
        )
        silences.silences[our_id] = ours_message
        sil_channel.broadcast(wire.encode_silences([ours_message]))

        async def visible_in_alertmanager() -> dict[str, object] | None:
            response = await client.get(f"http://{HOST}:{web}/api/v2/silence/{our_id}")
            return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

        with trio.fail_after(CONVERGE_TIMEOUT_S):
            while (seen := await visible_in_alertmanager()) is None:  # noqa: ASYNC110 - polling another process
                await trio.sleep(0.05)
        assert seen["comment"] == "from python ☃"
        assert seen["createdBy"] == "tocsin"
        assert seen["matchers"] == [{"name": "env", "value": "dev", "isRegex": False, "isEqual": False}]

        # Leaving is noticed by Alertmanager.
        await peer.leave(timeout_s=5.0)
        with trio.fail_after(CONVERGE_TIMEOUT_S):
            while len((await am_status(client, web))["peers"]) != 1:  # type: ignore[arg-type]  # noqa: ASYNC110
                await trio.sleep(0.1)
