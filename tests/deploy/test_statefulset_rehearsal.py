"""A StatefulSet rehearsal without Kubernetes.

The chart is rendered with Helm's engine and the container's command line is taken from the
rendered StatefulSet, with `$(POD_NAME)` and `$(POD_IP)` expanded as the kubelet does. Each
"pod" runs in its own network namespace on a shared bridge; its /etc/hosts
(`/etc/netns/<ns>/hosts`, bind-mounted by `ip netns exec`) maps the pod DNS names the chart
uses, as cluster DNS would. The three replicas must form one cluster and deduplicate a
notification. Then one pod is restarted, as a rescheduled pod is, with a new IP under the
same name (its hosts entries updated everywhere, like DNS): it must rejoin and keep its
position.

Needs root (namespaces, /etc/netns) and the daemon's clustering (`daemon.cluster_glue`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.helm import find, main_container, render

pytestmark = [pytest.mark.process, pytest.mark.slow]

REPLICAS = 3
IP_TIMEOUT_S = 10.0
# A fresh cluster settles in seconds; CI shares 2 cores with the rest of the suite.
FORM_TIMEOUT_S = 60.0
NOTIFY_TIMEOUT_S = 30.0
# With --cluster.peer-timeout=2s the last replica checks the log 4 s after the first sends;
# watching twice that long shows nobody else sends.
PEER_TIMEOUT = "2s"
DUPLICATE_WATCH_S = 8.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.2
HTTP_TIMEOUT_S = 3.0
ENV_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class _Sink:
    """Records webhook bodies POSTed to it."""

    def __init__(self, host: str) -> None:
        bodies: list[dict[str, Any]] = []
        self.bodies = bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclasses.dataclass
class _Pod:
    name: str
    namespace: str
    ip: str
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://{self.ip}:9093"


@dataclasses.dataclass
class _Lab:
    """Namespaces on a bridge; the host holds the bridge's first address (API and sink)."""

    ident: str = dataclasses.field(default_factory=lambda: secrets.token_hex(2))
    namespaces: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.subnet = f"10.{200 + int(self.ident, 16) % 40}.0"
        self.bridge = f"sb{self.ident}"

    @property
    def host_ip(self) -> str:
        return f"{self.subnet}.1"

    def create(self, count: int) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for index in range(count):
            namespace = f"tocsin-sts-{self.ident}-{index}"
            _ip("netns", "add", namespace)
            self.namespaces.append(namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
            outside, inside = f"s{self.ident}h{index}", f"s{self.ident}n{index}"
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", namespace)
            _ip("link", "set", outside, "master", self.bridge)
            _ip("link", "set", outside, "up")
            _ip("-n", namespace, "link", "set", inside, "up")

    def set_address(self, index: int, ip: str, old_ip: str | None = None) -> None:
        inside = f"s{self.ident}n{index}"
        if old_ip is not None:
            _ip("-n", self.namespaces[index], "addr", "del", f"{old_ip}/24", "dev", inside)
        _ip("-n", self.namespaces[index], "addr", "add", f"{ip}/24", "dev", inside)

    def write_hosts(self, names_to_ips: dict[str, str]) -> None:
        lines = ["127.0.0.1 localhost", *(f"{ip} {name}" for name, ip in names_to_ips.items())]
        for namespace in self.namespaces:
            directory = Path("/etc/netns") / namespace
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "hosts").write_text("\n".join(lines) + "\n")

    def destroy(self) -> None:
        for namespace in self.namespaces:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
            shutil.rmtree(Path("/etc/netns") / namespace, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)


def _pod_command_line(statefulset: dict[str, Any], pod: _Pod, config_file: Path) -> list[str]:
    """The container's command and args as the kubelet runs them for this pod, with the two
    paths the pod gets from volumes pointed at local files."""
    container = main_container(statefulset)
    environment = {"POD_NAME": pod.name, "POD_IP": pod.ip}
    argv = [ENV_REFERENCE.sub(lambda m: environment.get(m.group(1), m.group(0)), word)
            for word in [*container["command"], *container["args"]]]
    volume_paths = {
        "--config.file=/etc/alertmanager/alertmanager.yml": f"--config.file={config_file}",
        "--storage.path=/alertmanager": f"--storage.path={pod.workdir / 'data'}",
    }
    argv = [volume_paths.get(word, word) for word in argv]
    assert argv[0] == "daemon"
    argv[0] = str(Path(sys.executable).with_name("daemon"))
    return argv


def _start(pod: _Pod, argv: list[str]) -> None:
    (pod.workdir / "data").mkdir(parents=True, exist_ok=True)
    # The child keeps its own copy of the log's descriptor.
    with open(pod.workdir / "daemon.log", "ab") as log:
        pod.process = subprocess.Popen(["ip", "netns", "exec", pod.namespace, *argv], stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(pod: _Pod) -> None:
    if pod.process is not None and pod.process.poll() is None:
        pod.process.send_signal(signal.SIGTERM)
        try:
            pod.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pod.process.kill()
            pod.process.wait()


def _logs(pods: list[_Pod]) -> str:
    return "\n".join(f"--- {p.name} ---\n{(p.workdir / 'daemon.log').read_text(errors='replace')[-3000:]}"
                     for p in pods if (p.workdir / "daemon.log").exists())


def _cluster_view(client: httpx.Client, pod: _Pod) -> dict[str, str] | None:
    """Peer name -> address as this pod's /api/v2/status shows it, once it is ready."""
    try:
        status = client.get(f"{pod.api}/api/v2/status").json()["cluster"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    if status.get("status") != "ready":
        return None
    return {peer["name"]: peer["address"] for peer in status.get("peers") or []}


def _wait_for(predicate: Any, timeout: float, what: str, pods: list[_Pod]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{_logs(pods)}")
        time.sleep(POLL_S)


@contextlib.contextmanager
def _lab() -> Iterator[_Lab]:
    lab = _Lab()
    try:
        lab.create(REPLICAS)
        yield lab
    finally:
        lab.destroy()


def test_rendered_statefulset_forms_one_cluster_dedups_and_a_restarted_pod_keeps_its_place(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        _skip_or_fail("the rehearsal needs root and iproute2 for network namespaces")
    import importlib.util

    if importlib.util.find_spec("daemon.cluster_glue") is None:
        pytest.skip("the daemon's clustering (daemon.cluster_glue) has not landed yet")

    statefulset = find(render({"extraArgs": {"cluster.peer-timeout": PEER_TIMEOUT}}), "StatefulSet")
    peer_names = [re.sub(r"\.tocsin-headless\..*", "", p.removeprefix("--cluster.peer="))
                  for p in main_container(statefulset)["args"] if p.startswith("--cluster.peer=")]
    assert peer_names == [f"tocsin-{i}" for i in range(REPLICAS)]
    peer_hosts = [p.removeprefix("--cluster.peer=").rsplit(":", 1)[0]
                  for p in main_container(statefulset)["args"] if p.startswith("--cluster.peer=")]

    with _lab() as lab:
        sink = _Sink(lab.host_ip)
        pods = [_Pod(f"tocsin-{i}", lab.namespaces[i], f"{lab.subnet}.{10 + i}", tmp_path / f"tocsin-{i}")
                for i in range(REPLICAS)]
        config_file = tmp_path / "alertmanager.yml"
        config_file.write_text(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n"
            "  group_interval: 1m\n  repeat_interval: 1h\n"
            f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: http://{lab.host_ip}:{sink.port}/\n"
        )
        try:
            for index, pod in enumerate(pods):
                lab.set_address(index, pod.ip)
            lab.write_hosts(dict(zip(peer_hosts, (p.ip for p in pods), strict=True)))
            for pod in pods:
                pod.workdir.mkdir(parents=True)
                _start(pod, _pod_command_line(statefulset, pod, config_file))

            with httpx.Client(timeout=HTTP_TIMEOUT_S) as client:
                everyone = {p.name: f"{p.ip}:9094" for p in pods}
                _wait_for(lambda: all(_cluster_view(client, p) == everyone for p in pods), FORM_TIMEOUT_S,
                          "one cluster of three pods", pods)

                # Prometheus sends the alert to every replica; exactly one notification comes out.
                alert = [{"labels": {"alertname": "RehearsalAlert", "severity": "page"}}]
                for pod in pods:
                    assert client.post(f"{pod.api}/api/v2/alerts", json=alert).status_code == 200
                _wait_for(lambda: len(sink.bodies) >= 1, NOTIFY_TIMEOUT_S, "the notification", pods)
                time.sleep(DUPLICATE_WATCH_S)
                assert len(sink.bodies) == 1, [b["externalURL"] for b in sink.bodies]
                assert sink.bodies[0]["commonLabels"]["alertname"] == "RehearsalAlert"

                # tocsin-1 is rescheduled: SIGTERM, a new pod IP, DNS follows, same pod name.
                moved, old_ip = pods[1], pods[1].ip
                _stop(moved)
                moved.ip = f"{lab.subnet}.{10 + REPLICAS + 1}"
                lab.set_address(1, moved.ip, old_ip=old_ip)
                lab.write_hosts(dict(zip(peer_hosts, (p.ip for p in pods), strict=True)))
                _start(moved, _pod_command_line(statefulset, moved, config_file))
                everyone = {p.name: f"{p.ip}:9094" for p in pods}
                _wait_for(lambda: all(_cluster_view(client, p) == everyone for p in pods), FORM_TIMEOUT_S,
                          "tocsin-1 back in the cluster at its new address", pods)
                # Its position is its name's rank among the members: unchanged at 1.
                assert sorted(everyone).index(moved.name) == 1
                metrics = client.get(f"{moved.api}/metrics").text
                position = re.search(r"^alertmanager_peer_position (\S+)$", metrics, re.M)
                if position is not None:
                    assert float(position.group(1)) == 1.0
        finally:
            for pod in pods:
                _stop(pod)
            sink.close()
