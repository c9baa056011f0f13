"""Alertmanager's TLS gossip mode (--cluster.tls-config): two tocsin peers over TLS, and a
tocsin peer in a TLS cluster with a real Alertmanager 0.25 (packets and streams framed as
clusterpb.MemberlistMessage over TLS/TCP), replicating a silence both ways."""

from __future__ import annotations

import random
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trio
import trustme

from cluster.core import CoreConfig
from cluster.peer import Peer, PeerSettings
from cluster.replication import Replicator
from cluster.tlsconfig import load_tls_config
from cluster.transport import TlsTransport
from daemon import wire
from tests.cluster.test_interop_alertmanager import (
    ALERTMANAGER,
    CONFIG,
    STOP_TIMEOUT_S,
    SilenceState,
    free_port,
)
from tests.conftest import require_binary

HOST = "127.0.0.1"
TIMEOUT_S = 20.0

pytestmark = pytest.mark.process


@pytest.fixture
def tls_config_file(tmp_path: Path) -> Path:
    ca = trustme.CA()
    cert = ca.issue_cert(HOST)
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "node.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "node.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    path = tmp_path / "tls.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: node.crt\n  key_file: node.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
        "tls_client_config:\n  ca_file: ca.crt\n  cert_file: node.crt\n  key_file: node.key\n"
        f"  server_name: {HOST}\n"
    )
    return path


def tls_peer(tls_config_file: Path, name: str, port: int, peers: list[str]) -> tuple[Peer, SilenceState]:
    config = load_tls_config(tls_config_file)
    assert config is not None
    state = SilenceState()
    replicator = Replicator(lambda: datetime.now(UTC))
    replicator.add_channel("sil", state)
    settings = PeerSettings(
        listen_address=f"{HOST}:{port}",
        known_peers=tuple(peers),
        name=name,
        core=CoreConfig(probe_interval_ms=500),
    )
    transport = TlsTransport(HOST, port, config.server_context(), config.client_context(), config.server_name)
    return Peer(settings, transport, replicator, rng=random.Random(name)), state


def a_silence(comment: str) -> wire.MeshSilence:
    now = datetime.now(UTC)
    return wire.MeshSilence(
        wire.WireSilence(
            id=str(uuid.uuid4()),
            matchers=(wire.WireMatcher(wire.MATCHER_EQUAL, "team", "db"),),
            starts_at=now,
            ends_at=now + timedelta(hours=1),
            updated_at=now,
            created_by="tocsin",
            comment=comment,
        ),
        expires_at=now + timedelta(hours=121),
    )


async def until(predicate: Callable[[], object], timeout_s: float) -> None:
    with trio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 - state changes in other tasks and processes
            await trio.sleep(0.05)


async def test_two_tocsin_peers_over_tls(tls_config_file: Path) -> None:
    port_a = free_port()
    a, _ = tls_peer(tls_config_file, "a", port_a, [])
    b, b_state = tls_peer(tls_config_file, "b", 0, [f"{HOST}:{port_a}"])
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await nursery.start(b.run)
        await until(lambda: len(a.members()) == 2 and len(b.members()) == 2, TIMEOUT_S)
        message = a_silence("over tls")
        assert a.replicator is not None
        a.replicator.channels["sil"].broadcast(wire.encode_silences([message]))
        await until(lambda: message.silence.id in b_state.silences, TIMEOUT_S)
        nursery.cancel_scope.cancel()


@pytest.fixture
def tls_alertmanager(tmp_path: Path, tls_config_file: Path) -> Iterator[tuple[int, int, int]]:
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
            f"--cluster.tls-config={tls_config_file}",
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


@pytest.mark.oracle
async def test_tls_cluster_with_alertmanager(tls_config_file: Path, tls_alertmanager: tuple[int, int, int]) -> None:
    web, am_cluster, ours = tls_alertmanager
    peer, state = tls_peer(tls_config_file, "tocsin-tls", ours, [f"{HOST}:{am_cluster}"])
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=5.0) as http:
        await nursery.start(peer.run)
        await until(lambda: len(peer.members()) == 2, TIMEOUT_S)

        async def am_peer_count() -> int:
            try:
                response = await http.get(f"http://{HOST}:{web}/api/v2/status")
                return len(response.json()["cluster"]["peers"])
            except httpx.HTTPError:
                return 0

        with trio.fail_after(TIMEOUT_S):
            while await am_peer_count() != 2:  # noqa: ASYNC110 - polling another process
                await trio.sleep(0.1)

        message = a_silence("tocsin over tls")
        assert peer.replicator is not None
        peer.replicator.channels["sil"].broadcast(wire.encode_silences([message]))
        with trio.fail_after(TIMEOUT_S):
            while (await http.get(f"http://{HOST}:{web}/api/v2/silence/{message.silence.id}")).status_code != 200:  # noqa: ASYNC110
                await trio.sleep(0.05)

        now = datetime.now(UTC)
        created = await http.post(
            f"http://{HOST}:{web}/api/v2/silences",
            json={
                "matchers": [{"name": "a", "value": "b", "isRegex": False}],
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(hours=1)).isoformat(),
                "createdBy": "am",
                "comment": "am over tls",
            },
        )
        am_id = created.json()["silenceID"]
        await until(lambda: am_id in state.silences, TIMEOUT_S)
        nursery.cancel_scope.cancel()
