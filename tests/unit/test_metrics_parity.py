"""Every `alertmanager_*` metric family the real Alertmanager 0.25 exposes exists in tocsin with
the same type and label names, and tocsin exposes none Alertmanager lacks: both daemons run
for real on loopback, HA off, and HA on as two-peer clusters, and `/metrics` is scraped from
each (a process test; it lives here beside the other metrics tests)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import require_binary, require_tocsin
from tests.helpers.processes import DaemonKind, DaemonProcess, binary_for, free_port

CONFIG = """
route:
  receiver: team
receivers:
- name: team
  webhook_configs:
  - url: http://127.0.0.1:9/hook
"""
pytestmark = [pytest.mark.process, pytest.mark.oracle]

PREFIX = "alertmanager_"
# Label names a histogram or summary adds to its series; not part of the family's labels.
SERIES_LABELS = frozenset({"le", "quantile"})
# How long two fresh peers may take to see each other (both daemons join within a second or
# two on loopback; generous for a loaded CI machine).
CLUSTER_FORM_TIMEOUT_SECONDS = 30.0
CLUSTER_POLL_SECONDS = 0.2
HTTP_TIMEOUT_SECONDS = 10.0

# Families Alertmanager has that tocsin deliberately lacks, with the reason. Keep this short;
# empty today.
KNOWN_GAPS: dict[str, str] = {}
# Labelled counters that Alertmanager (client_golang) exposes only after their first event,
# which may or may not happen while peers start: compared only when both daemons show them.
AFTER_FIRST_EVENT = frozenset({"alertmanager_tls_transport_write_errors"})
# Families that appear only after the first probe round-trip between the peers (about a
# second after joining): the pair is scraped once both daemons show them.
AFTER_FIRST_PING = ("alertmanager_cluster_pings_seconds",)

Families = dict[str, tuple[str, frozenset[str]]]


def families(daemon: DaemonProcess, wait_for: tuple[str, ...] = ()) -> Families:
    """name -> (type, label names) of the `alertmanager_*` families on `/metrics`, once every
    family in `wait_for` has a sample (bounded wait)."""
    deadline = time.monotonic() + CLUSTER_FORM_TIMEOUT_SECONDS
    with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS) as client:
        # The first scrape makes the instrumented /metrics handler observe itself, so the HTTP
        # histograms have a series (and thus label names) by the second.
        client.get(f"{daemon.base_url}/metrics").raise_for_status()
        while True:
            text = client.get(f"{daemon.base_url}/metrics").text
            found = parse_families(text)
            missing = [name for name in wait_for if not found.get(name, ("", frozenset()))[1]]
            if not missing:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{daemon.kind} never showed {missing}")
            time.sleep(CLUSTER_POLL_SECONDS)


def parse_families(text: str) -> Families:
    found: Families = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(PREFIX):
            continue
        labels: set[str] = set()
        for sample in family.samples:
            labels |= set(sample.labels) - SERIES_LABELS
        found[family.name] = (family.type, frozenset(labels))
    return found


class Launcher:
    """Starts daemons with the cluster flags this test needs (the shared helper always adds
    `--cluster.listen-address=`, which Alertmanager refuses to see twice) and stops them all."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self.started: list[DaemonProcess] = []

    def launch(self, kind: DaemonKind, name: str, cluster_args: list[str]) -> DaemonProcess:
        workdir = self._tmp_path / f"{kind}-{name}"
        workdir.mkdir(parents=True)
        (workdir / "config.yml").write_text(CONFIG)
        (workdir / "data").mkdir()
        port = free_port()
        argv = [
            str(binary_for(kind)),
            f"--config.file={workdir / 'config.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *cluster_args,
        ]
        daemon = DaemonProcess._spawn(kind, argv, workdir, port, ())
        self.started.append(daemon)
        return daemon

    def single(self, kind: DaemonKind) -> DaemonProcess:
        daemon = self.launch(kind, "single", ["--cluster.listen-address="])
        daemon.wait_ready()
        return daemon

    def tls_config(self) -> Path:
        """A `--cluster.tls-config` with mutual TLS from a throw-away CA, shared by all peers."""
        directory = self._tmp_path / "tls"
        if not directory.exists():
            directory.mkdir()
            authority = trustme.CA()
            certificate = authority.issue_cert("127.0.0.1")
            certificate.cert_chain_pems[0].write_to_path(str(directory / "node.crt"))
            certificate.private_key_pem.write_to_path(str(directory / "node.key"))
            authority.cert_pem.write_to_path(str(directory / "ca.crt"))
            (directory / "tls.yml").write_text(
                f"tls_server_config:\n  cert_file: {directory}/node.crt\n  key_file: {directory}/node.key\n"
                f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {directory}/ca.crt\n"
                f"tls_client_config:\n  ca_file: {directory}/ca.crt\n  cert_file: {directory}/node.crt\n"
                f"  key_file: {directory}/node.key\n  server_name: 127.0.0.1\n"
            )
        return directory / "tls.yml"

    def pair(self, kind: DaemonKind) -> DaemonProcess:
        return self._pair(kind, [])

    def tls_pair(self, kind: DaemonKind) -> DaemonProcess:
        return self._pair(kind, [f"--cluster.tls-config={self.tls_config()}"])

    def _pair(self, kind: DaemonKind, extra_args: list[str]) -> DaemonProcess:
        """Two peers joined to each other; returns the first once both see two members."""
        ports = [free_port(), free_port()]
        peers = []
        for index, name in enumerate(("a", "b")):
            args = [
                f"--cluster.listen-address=127.0.0.1:{ports[index]}",
                f"--cluster.peer=127.0.0.1:{ports[1 - index]}",
                *extra_args,
            ]
            if kind == "tocsin":
                # Alertmanager names each peer with a fresh ULID; tocsin defaults to the host
                # name, which two processes on one machine share.
                args.append(f"--cluster.peer-name={name}")
            peers.append(self.launch(kind, name, args))
        for peer in peers:
            peer.wait_ready()
        deadline = time.monotonic() + CLUSTER_FORM_TIMEOUT_SECONDS
        with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS) as client:
            while True:
                sizes = [len(client.get(f"{p.base_url}/api/v2/status").json()["cluster"]["peers"]) for p in peers]
                if sizes == [2, 2]:
                    return peers[0]
                if time.monotonic() > deadline:
                    raise AssertionError(f"{kind} peers did not form a cluster: sizes {sizes}")
                time.sleep(CLUSTER_POLL_SECONDS)

    def stop_all(self) -> None:
        for daemon in self.started:
            daemon.stop()


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    require_binary()
    require_tocsin()
    started = Launcher(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def compare(reference: Families, ours: Families) -> list[str]:
    problems = []
    for name, (kind, labels) in sorted(reference.items()):
        if name in KNOWN_GAPS or (name in AFTER_FIRST_EVENT and name not in ours):
            continue
        if name not in ours:
            problems.append(f"missing {name} ({kind}, labels {sorted(labels)})")
        elif ours[name] != (kind, labels):
            problems.append(f"{name}: Alertmanager {kind} {sorted(labels)}, tocsin {ours[name][0]} {sorted(ours[name][1])}")
    for name in sorted(set(ours) - set(reference) - AFTER_FIRST_EVENT):
        problems.append(f"tocsin has {name}, Alertmanager does not")
    return problems


@pytest.mark.parametrize("mode", ["single", "pair", "tls_pair"])
def test_tocsin_exposes_alertmanagers_metric_families(launcher: Launcher, mode: str) -> None:
    start = getattr(launcher, mode)
    clustered = mode != "single"
    wait_for = AFTER_FIRST_PING if clustered else ()
    reference = families(start("alertmanager"), wait_for)
    ours = families(start("tocsin"), wait_for)
    # The comparison means something only if Alertmanager really showed its families.
    assert "alertmanager_silences_query_duration_seconds" in reference
    assert ("alertmanager_cluster_members" in reference) == clustered
    assert ("alertmanager_tls_transport_stream_connections_sent" in reference) == (mode == "tls_pair")
    assert compare(reference, ours) == []
    # A gap that closes must leave the list.
    assert [name for name in KNOWN_GAPS if name in ours] == []
