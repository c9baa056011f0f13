"""Address handling of the peer (Go's SplitHostPort rules, Alertmanager's advertise-address
discovery), build_peer from flags, and memberlist's encryption layout."""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cluster import peer as peer_module
from cluster.core import Address
from cluster.peer import PeerError, build_peer, discover_advertise_host, join_host_port, split_host_port
from cluster.replication import Replicator
from cluster.security import Keyring, SecurityError
from cluster.testing import MemoryNetwork
from cluster.transport import NetTransport, TlsTransport

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:9094", ("0.0.0.0", 9094)),
        ("[::1]:9094", ("::1", 9094)),
        (":9094", ("", 9094)),
        ("alertmanager-0.alertmanager:9094", ("alertmanager-0.alertmanager", 9094)),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("localhost", "missing port"), ("::1:9094", "too many colons"), ("a:99999", "invalid port"), ("a:x", "invalid port")],
)
def test_split_host_port_errors(text: str, message: str) -> None:
    with pytest.raises(PeerError, match=message):
        split_host_port(text)


def test_join_host_port_brackets_ipv6() -> None:
    assert join_host_port("::1", 9094) == "[::1]:9094"
    assert join_host_port("10.0.0.1", 9094) == "10.0.0.1:9094"


def test_advertise_discovery_prefers_private_addresses() -> None:
    candidates = ["127.0.0.1", "169.254.1.1", "8.8.8.8", "100.64.3.4", "192.168.1.10"]
    assert discover_advertise_host(False, candidates) == "100.64.3.4"
    assert discover_advertise_host(False, ["127.0.0.1", "10.1.2.3"]) == "10.1.2.3"
    with pytest.raises(PeerError, match="no private IP found"):
        discover_advertise_host(False, ["127.0.0.1", "8.8.8.8"])
    assert discover_advertise_host(True, ["127.0.0.1", "8.8.8.8"]) == "8.8.8.8"
    with pytest.raises(PeerError, match="no private/public IP"):
        discover_advertise_host(True, ["127.0.0.1", "not an ip"])


async def resolve_fake(host: str) -> list[str]:
    table = {"am-0.am.svc": ["10.8.0.5"], "weird.example": ["fe80::1"], "any.example": ["0.0.0.0"]}
    await trio.lowlevel.checkpoint()
    if host in table:
        return table[host]
    return [host]


@pytest.mark.parametrize(
    ("listen", "advertise", "expected"),
    [
        ("10.0.0.9:9094", "", Address("10.0.0.9", 9094)),
        ("10.0.0.9:9094", "am-0.am.svc:9500", Address("10.8.0.5", 9500)),  # host names accepted
        ("10.0.0.9:9094", "weird.example:9094", Address("fe80::1", 9094)),  # unusual range: no crash
        ("10.0.0.9:9094", "[::ffff:10.1.1.1]:9094", Address("10.1.1.1", 9094)),
    ],
)
async def test_advertise_address(listen: str, advertise: str, expected: Address) -> None:
    network = MemoryNetwork()
    host, port = split_host_port(listen)
    settings = peer_module.PeerSettings(listen_address=listen, advertise_address=advertise, name="x")
    peer = peer_module.Peer(settings, network.transport(host, port), resolver=resolve_fake)
    async with trio.open_nursery() as nursery:
        await nursery.start(peer.run)
        assert peer.advertise == expected
        assert peer.status()["peers"] == [{"name": "x", "address": join_host_port(expected.host, expected.port)}]
        nursery.cancel_scope.cancel()


def test_build_peer_from_flags(tmp_path: Path) -> None:
    key_file = tmp_path / "gossip.key"
    key_file.write_text(base64.b64encode(b"k" * 32).decode() + "\n")
    peer = build_peer(
        listen_address="127.0.0.1:0",
        known_peers=["a:9094", "b:9094", "c:9094", "d:9094", "e:9094", "f:9094", "g:9094", "h:9094"],
        name="n",
        gossip_interval=timedelta(milliseconds=300),
        key_file=str(key_file),
    )
    core = peer.settings.core
    # Alertmanager's fan-out max(3, 8 / 2); user retransmits keep tocsin's larger multiplier.
    assert (core.gossip_interval_ms, core.gossip_nodes, core.user_retransmit_mult) == (300, 4, 5)
    replicated = build_peer(listen_address="127.0.0.1:0", replicator=Replicator(wall_clock=lambda: EPOCH))
    # The daemon's silences and nflog entries ride on the replicator's queue, not the core's.
    assert replicated.replicator is not None
    assert replicated.replicator.retransmit_mult == replicated.settings.core.user_retransmit_mult == 5
    assert replicated.replicator.min_transmits == replicated.settings.core.user_min_transmits == 10
    assert core.udp_buffer_size == 1400 - 29  # room for version, nonce and tag
    assert isinstance(peer._transport, NetTransport)
    with pytest.raises(SecurityError, match="key size"):
        key_file.write_text(base64.b64encode(b"short").decode())
        build_peer(listen_address="127.0.0.1:0", key_file=str(key_file))
    tls = tmp_path / "tls.yml"
    tls.write_text("tls_client_config:\n  insecure_skip_verify: true\n")
    with pytest.raises(ValueError, match="missing tls_server_config"):
        build_peer(listen_address="127.0.0.1:0", tls_config_file=str(tls))
    assert TlsTransport  # the TLS path is exercised end to end in tests/cluster/test_tls.py


def test_encrypted_packet_layout_is_memberlists(monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes(range(16))
    nonce = bytes(range(100, 112))
    monkeypatch.setattr("cluster.security.os.urandom", lambda n: nonce[:n])
    sealed = Keyring([key]).encrypt_packet(b"hello")
    # version 1 | nonce | AES-GCM(plaintext) with tag, no additional data for an empty label
    assert sealed == b"\x01" + nonce + AESGCM(key).encrypt(nonce, b"hello", None)
    stream = Keyring([key]).encrypt_stream(b"hello")
    header = struct.pack(">BI", 10, 1 + 12 + 5 + 16)
    assert stream == header + b"\x01" + nonce + AESGCM(key).encrypt(nonce, b"hello", header)
    labelled = Keyring([key]).encrypt_packet(b"hello", label=b"prod")
    assert labelled[13:] == AESGCM(key).encrypt(nonce, b"hello", b"prod")


def test_version_zero_padded_messages_still_decrypt() -> None:
    key, nonce = bytes(16), bytes(12)
    padded = b"hi" + bytes([14]) * 14  # PKCS#7 to one AES block
    message = b"\x00" + nonce + AESGCM(key).encrypt(nonce, padded, None)
    assert Keyring([key]).decrypt_packet(message) == b"hi"


@pytest.mark.parametrize(
    ("message", "error"),
    [(b"", "empty payload"), (b"\x02" + bytes(40), "Unsupported encryption version 2"), (b"\x01" + bytes(10), "too small")],
)
def test_decrypt_errors(message: bytes, error: str) -> None:
    with pytest.raises(SecurityError, match=error):
        Keyring([bytes(16)]).decrypt_packet(message)


def test_plaintext_stream_is_refused_when_encryption_is_on() -> None:
    with pytest.raises(SecurityError, match="remote state is not encrypted"):
        Keyring([bytes(16)]).decrypt_stream(b"\x06" + bytes(20))


async def test_a_peer_list_naming_only_ourselves_settles_at_once() -> None:
    # A one-replica StatefulSet: --cluster.peer names the pod itself.
    async def resolve(host: str) -> list[str]:
        await trio.lowlevel.checkpoint()
        return {"am-0.am": ["10.0.0.9"]}.get(host, [host])

    settings = peer_module.PeerSettings(listen_address="10.0.0.9:9094", known_peers=("am-0.am:9094",), name="x")
    alone = peer_module.Peer(settings, MemoryNetwork().transport("10.0.0.9", 9094), resolver=resolve)
    async with trio.open_nursery() as nursery:
        await nursery.start(alone.run)
        assert alone.ready()
        nursery.cancel_scope.cancel()


async def test_an_unresolvable_peer_name_does_not_count_as_alone() -> None:
    async def resolve(host: str) -> list[str]:
        await trio.lowlevel.checkpoint()
        if host == "am-1.am":
            raise OSError("no such host")
        return [host]

    settings = peer_module.PeerSettings(listen_address="10.0.0.9:9094", known_peers=("am-1.am:9094",), name="x")
    waiting = peer_module.Peer(settings, MemoryNetwork().transport("10.0.0.9", 9094), resolver=resolve)
    async with trio.open_nursery() as nursery:
        await nursery.start(waiting.run)
        assert not waiting.ready()
        assert waiting.status()["status"] == "settling"
        nursery.cancel_scope.cancel()
