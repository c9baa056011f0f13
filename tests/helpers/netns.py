"""Cluster replicas as real processes, on loopback or each in its own Linux network namespace.

Two parts:

`Replica` starts one tocsin daemon (or the real Alertmanager 0.25) with clustering on: its
own web and cluster address, a stable `--cluster.peer-name`, a private storage directory
that survives restarts (so `kill()` + `start()` is a crash and recovery), and a log file
quoted in every failure. Optionally the process runs inside a namespace (`ip netns exec`).

`Topology` builds the chaos lab of TESTING.md, as root, and always removes it:

      host namespace                                   namespace <prefix>-<i>
      ───────────────                                  ──────────────────────
      bridge br<id> ◄── c<id>h<i> ══ veth ══ c<id>n<i>   10.<A>.0.<10+i>/24  (cluster traffic)
      m<id>h<i> 10.<B>.<i>.1/24 ══ veth ══ m<id>n<i>     10.<B>.<i>.2/24     (API and webhook sink)

The bridge carries only gossip (the host has no address on it); each replica also has a
private management link to the host, over which the test drives its API and the replica
reaches the webhook sink. Partitioning detaches a replica's cluster veth from the bridge
(`ip link set ... nomaster`), which cuts gossip in both directions but leaves the
management link up, so both sides of a split keep receiving alerts and sending
notifications; healing re-attaches it.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Literal

import httpx

from tests.helpers.processes import ALERTMANAGER_BINARY, tocsin_binary

ReplicaKind = Literal["tocsin", "alertmanager"]

IP_BINARY = "ip"
# Creating or deleting one link or namespace takes milliseconds; a hung `ip` is a broken host.
IP_COMMAND_TIMEOUT_SECONDS = 10.0
# Either daemon starts well under 2 s; CI machines share their cores with the whole suite.
READY_TIMEOUT_SECONDS = 30.0
READY_POLL_SECONDS = 0.05
# tocsin leaves the cluster within 10 s on SIGTERM, then snapshots; past this we SIGKILL.
STOP_TIMEOUT_SECONDS = 15.0
HTTP_TIMEOUT_SECONDS = 5.0
LOG_TAIL_CHARS = 6000
# Linux limits interface names to 15 bytes; ours are 1 + 4 + 1 + index.
INTERFACE_ID_HEX_CHARS = 4
NAMESPACE_PREFIX = "tocsin-chaos"
# memberlist binds the cluster port for UDP and TCP; a port free for one may be taken for
# the other, so candidates are checked for both (a few retries are enough on a quiet box).
FREE_PORT_ATTEMPTS = 50


class ReplicaError(RuntimeError):
    """The replica exited or did not become ready; the message carries its log."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on `host` a moment ago."""
    for _ in range(FREE_PORT_ATTEMPTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no port free for TCP and UDP on {host}")


@dataclasses.dataclass
class Replica:
    """One cluster member process. `start()` again after `kill()` or `stop()` restarts it with
    the same name, addresses and storage."""

    kind: ReplicaKind
    name: str
    workdir: Path
    config_text: str
    web_host: str
    web_port: int
    cluster_host: str
    cluster_port: int
    peers: Sequence[str] = ()
    extra_args: Sequence[str] = ()
    netns: str | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = dataclasses.field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    @property
    def cluster_address(self) -> str:
        return f"{self.cluster_host}:{self.cluster_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "daemon.log"

    @property
    def storage_path(self) -> Path:
        return self.workdir / "data"

    def argv(self) -> list[str]:
        binary = ALERTMANAGER_BINARY if self.kind == "alertmanager" else tocsin_binary()
        argv = [
            str(binary),
            f"--config.file={self.workdir / 'config.yml'}",
            f"--storage.path={self.storage_path}",
            f"--web.listen-address={self.web_host}:{self.web_port}",
            f"--web.external-url=http://{self.name}.invalid/",  # tells us who sent a webhook
            f"--cluster.listen-address={self.cluster_address}",
            *(f"--cluster.peer={peer}" for peer in self.peers if peer != self.cluster_address),
        ]
        if self.kind == "tocsin":  # Alertmanager names itself with a random ULID
            argv.append(f"--cluster.peer-name={self.name}")
        argv.extend(self.extra_args)
        if self.netns is not None:
            argv = [IP_BINARY, "netns", "exec", self.netns, *argv]
        return argv

    def start(self) -> Replica:
        """Launch (without waiting for readiness)."""
        assert not self.is_running(), f"{self.name} is already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_path.mkdir(exist_ok=True)
        (self.workdir / "config.yml").write_text(self.config_text)
        argv = self.argv()
        self._close_log()
        self._log = open(self.log_path, "ab")
        self._log.write(f"$ {' '.join(argv)}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        return self

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        problem = "no answer yet"
        with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS) as client:
            while True:
                if self.process is None or self.process.poll() is not None:
                    raise ReplicaError(f"{self.name} exited before becoming ready\n{self.log_tail()}")
                try:
                    if client.get(f"{self.base_url}/-/ready").status_code == 200:
                        return
                except httpx.TransportError as error:
                    problem = f"{type(error).__name__}: {error}"
                if time.monotonic() >= deadline:
                    raise ReplicaError(f"{self.name} not ready after {timeout}s ({problem})\n{self.log_tail()}")
                time.sleep(READY_POLL_SECONDS)

    def kill(self) -> None:
        """SIGKILL: a crash, no leave, no final snapshot."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """SIGTERM (graceful leave and snapshot), bounded; SIGKILL after `timeout`."""
        code: int | None = None
        if self.process is not None:
            code = self.process.poll()
            if code is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    code = self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
                    code = None
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        try:
            text = self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            text = ""
        return f"----- {self.name} ({self.kind}) log -----\n{text}\n----- end of {self.name} log -----"


def make_loopback_replicas(
    kinds: Sequence[ReplicaKind], config_text: str, root: Path, extra_args: Sequence[str] = ()
) -> list[Replica]:
    """Replicas named r0, r1, ... on 127.0.0.1, each listing all the others as peers."""
    cluster_ports = [free_port() for _ in kinds]
    peers = [f"127.0.0.1:{port}" for port in cluster_ports]
    return [
        Replica(
            kind=kind,
            name=f"r{index}",
            workdir=root / f"r{index}",
            config_text=config_text,
            web_host="127.0.0.1",
            web_port=free_port(),
            cluster_host="127.0.0.1",
            cluster_port=cluster_ports[index],
            peers=peers,
            extra_args=extra_args,
        )
        for index, kind in enumerate(kinds)
    ]


# --- network namespaces ----------------------------------------------------------------------


class NetnsUnavailable(RuntimeError):
    """This host cannot make namespaces (not root, no iproute2, or no kernel support)."""


def _ip(*args: str) -> None:
    result = subprocess.run(
        [IP_BINARY, *args], capture_output=True, text=True, timeout=IP_COMMAND_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def netns_unavailable_reason() -> str | None:
    if shutil.which(IP_BINARY) is None:
        return "iproute2 (`ip`) is not installed (run `make system-packages` as root)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    return None


@dataclasses.dataclass
class Topology:
    """`count` namespaces on one bridge, each with a management link to the host."""

    count: int
    ident: str = dataclasses.field(default_factory=lambda: secrets.token_hex(INTERFACE_ID_HEX_CHARS // 2))
    _made_namespaces: list[str] = dataclasses.field(default_factory=list)
    _made_links: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        number = int(self.ident, 16)
        # Two /16s derived from the id, away from 10.0/8's usual docker and VPN ranges.
        self._cluster_octet = 100 + number % 50
        self._management_octet = 150 + number % 50

    @property
    def bridge(self) -> str:
        return f"br{self.ident}"

    def namespace(self, index: int) -> str:
        return f"{NAMESPACE_PREFIX}-{self.ident}-{index}"

    def cluster_ip(self, index: int) -> str:
        return f"10.{self._cluster_octet}.0.{10 + index}"

    def host_ip(self, index: int) -> str:
        """The host's end of replica `index`'s management link (webhook sink address)."""
        return f"10.{self._management_octet}.{index}.1"

    def management_ip(self, index: int) -> str:
        """The replica's end of its management link (its API address)."""
        return f"10.{self._management_octet}.{index}.2"

    def _cluster_link(self, index: int) -> str:
        return f"c{self.ident}h{index}"

    def create(self) -> Topology:
        reason = netns_unavailable_reason()
        if reason is not None:
            raise NetnsUnavailable(reason)
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
        except RuntimeError as error:
            raise NetnsUnavailable(str(error)) from error
        self._made_links.append(self.bridge)
        _ip("link", "set", self.bridge, "up")
        for index in range(self.count):
            namespace = self.namespace(index)
            _ip("netns", "add", namespace)
            self._made_namespaces.append(namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
            cluster_host, cluster_ns = self._cluster_link(index), f"c{self.ident}n{index}"
            _ip("link", "add", cluster_host, "type", "veth", "peer", "name", cluster_ns)
            self._made_links.append(cluster_host)
            _ip("link", "set", cluster_ns, "netns", namespace)
            _ip("-n", namespace, "addr", "add", f"{self.cluster_ip(index)}/24", "dev", cluster_ns)
            _ip("-n", namespace, "link", "set", cluster_ns, "up")
            _ip("link", "set", cluster_host, "master", self.bridge)
            _ip("link", "set", cluster_host, "up")
            management_host, management_ns = f"m{self.ident}h{index}", f"m{self.ident}n{index}"
            _ip("link", "add", management_host, "type", "veth", "peer", "name", management_ns)
            self._made_links.append(management_host)
            _ip("link", "set", management_ns, "netns", namespace)
            _ip("addr", "add", f"{self.host_ip(index)}/24", "dev", management_host)
            _ip("link", "set", management_host, "up")
            _ip("-n", namespace, "addr", "add", f"{self.management_ip(index)}/24", "dev", management_ns)
            _ip("-n", namespace, "link", "set", management_ns, "up")
        return self

    def isolate(self, index: int) -> None:
        """Cut replica `index` off the bridge: no gossip to or from it."""
        _ip("link", "set", self._cluster_link(index), "nomaster")

    def reconnect(self, index: int) -> None:
        _ip("link", "set", self._cluster_link(index), "master", self.bridge)

    def destroy(self) -> None:
        """Remove everything `create` made, even after a partial create; never raises."""
        for namespace in reversed(self._made_namespaces):
            subprocess.run([IP_BINARY, "netns", "del", namespace], capture_output=True, check=False)
        # Deleting a namespace deletes its veth ends and with them the host ends; the rest
        # (the bridge, host ends whose peer never moved) goes here.
        for link in reversed(self._made_links):
            subprocess.run([IP_BINARY, "link", "del", link], capture_output=True, check=False)
        self._made_namespaces.clear()
        self._made_links.clear()

    def __enter__(self) -> Topology:
        try:
            return self.create()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.destroy()

    def replicas(self, config_texts: Sequence[str], root: Path, extra_args: Sequence[str] = ()) -> list[Replica]:
        """One tocsin replica per namespace (named r0, r1, ...), peering over the bridge."""
        cluster_port = 9094  # every replica has its own address, so all can use the default port
        peers = [f"{self.cluster_ip(index)}:{cluster_port}" for index in range(self.count)]
        return [
            Replica(
                kind="tocsin",
                name=f"r{index}",
                workdir=root / f"r{index}",
                config_text=config_texts[index],
                web_host=self.management_ip(index),
                web_port=9093,
                cluster_host=self.cluster_ip(index),
                cluster_port=cluster_port,
                peers=peers,
                extra_args=extra_args,
                netns=self.namespace(index),
            )
            for index in range(self.count)
        ]


__all__ = [
    "NetnsUnavailable",
    "Replica",
    "ReplicaError",
    "Topology",
    "free_port",
    "make_loopback_replicas",
    "netns_unavailable_reason",
]
