"""Start real daemon processes (tocsin or the real Alertmanager 0.25) on loopback for tests.

Both kinds take the same flags, so one class drives either: it writes the config text to a
temp directory, starts the binary with `--cluster.listen-address=` (HA off), a private
`--storage.path` and a free `127.0.0.1` port, and waits (bounded) until `/-/ready` answers.
Everything the process prints goes to a log file, which `log_text()` returns and which is
quoted in every startup error.

Typical use (the fixtures in `tests/conftest.py` wrap this)::

    am = DaemonProcess.launch("alertmanager", config_text, workdir)
    tocsin = DaemonProcess.launch("tocsin", config_text, workdir2)
    wait_all_ready([am, tocsin])     # both start concurrently
    httpx.get(f"{am.base_url}/api/v2/status")
    am.stop()

Synchronous on purpose: these are whole processes, so blocking the test thread while one
starts or stops costs nothing, and the helper stays usable from sync tests, async tests and
the benchmark alike.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal
from urllib.parse import urlsplit

import httpx

DaemonKind = Literal["alertmanager", "tocsin"]
# Prometheus is started by the same machinery (config file, data dir, log, /-/ready, stop).
ProcessKind = Literal["alertmanager", "tocsin", "prometheus"]
DAEMON_KINDS: tuple[DaemonKind, ...] = ("alertmanager", "tocsin")

ALERTMANAGER_BINARY = Path("/usr/bin/prometheus-alertmanager")
AMTOOL_BINARY = Path("/usr/bin/amtool")
PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
REPO_ROOT = Path(__file__).resolve().parents[2]

# Cold start of either daemon is well under 2s on a loaded 2-core box; 30s leaves room for a
# CI machine running the suite in parallel without letting a hung process stall the run.
READY_TIMEOUT_SECONDS = 30.0
# How often /-/ready is polled: short enough not to dominate test time, long enough not to
# burn the CPU the daemon needs to start.
READY_POLL_SECONDS = 0.05
# Graceful shutdown after SIGTERM: Alertmanager leaves the cluster (bounded at 10s by itself)
# and writes snapshots; with HA off that takes milliseconds. Past this we SIGKILL.
STOP_TIMEOUT_SECONDS = 10.0
# A port picked by binding to :0 can be taken by someone else before the daemon binds it;
# retry the launch on a fresh port this many times.
PORT_RACE_ATTEMPTS = 3
# Per-request timeout for the helper's own HTTP calls (ready probe, reload).
HELPER_HTTP_TIMEOUT_SECONDS = 10.0
# How much of a log is quoted in an error message.
LOG_TAIL_CHARS = 8000


class DaemonStartError(RuntimeError):
    """The process exited or did not become ready in time; the message carries its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tocsin_binary() -> Path:
    """The `daemon` console script of the venv running the tests (or the repo's .venv)."""
    beside_interpreter = Path(sys.executable).parent / "daemon"
    if beside_interpreter.exists():
        return beside_interpreter
    return REPO_ROOT / ".venv" / "bin" / "daemon"


def binary_for(kind: DaemonKind) -> Path:
    return ALERTMANAGER_BINARY if kind == "alertmanager" else tocsin_binary()


def oracle_missing_reason(binary: Path = ALERTMANAGER_BINARY) -> str | None:
    """Why an oracle binary cannot run here, or None when it can."""
    if not binary.exists():
        return f"{binary} is not installed (run `make system-packages` as root)"
    if not os.access(binary, os.X_OK):
        return f"{binary} is not executable"
    return None


@dataclass
class DaemonProcess:
    """One running daemon process with its config file, storage directory and log."""

    kind: ProcessKind
    workdir: Path
    port: int
    process: subprocess.Popen[bytes]
    argv: list[str]
    extra_args: tuple[str, ...] = ()
    _log_handle: IO[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def route_prefix(self) -> str:
        """Where the daemon mounts its routes: `--web.route-prefix`, else the external URL's path."""
        prefix = ""
        for argument in self.extra_args:
            if argument.startswith("--web.route-prefix="):
                trimmed = argument.split("=", 1)[1].strip("/")
                return f"/{trimmed}" if trimmed else ""
            if argument.startswith("--web.external-url="):
                prefix = urlsplit(argument.split("=", 1)[1]).path.rstrip("/")
        return prefix

    @property
    def prefixed_url(self) -> str:
        """`base_url` plus the route prefix: the API is at `prefixed_url + "/api/v2"`."""
        return self.base_url + self.route_prefix

    @property
    def config_path(self) -> Path:
        return self.workdir / "config.yml"

    @property
    def storage_path(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "daemon.log"

    @property
    def pid(self) -> int:
        return self.process.pid

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def launch(
        cls,
        kind: DaemonKind,
        config_text: str,
        workdir: Path,
        *,
        extra_args: Sequence[str] = (),
        log_level: str = "info",
        port: int | None = None,
        command_prefix: Sequence[str] = (),
    ) -> DaemonProcess:
        """Write the config and start the process; does not wait for readiness.

        `command_prefix` lets the benchmark pin the daemon to a core (`taskset -c 0`).
        """
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yml").write_text(config_text)
        (workdir / "data").mkdir(exist_ok=True)
        chosen_port = port if port is not None else free_port()
        argv = [
            *command_prefix,
            str(binary_for(kind)),
            f"--config.file={workdir / 'config.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{chosen_port}",
            "--cluster.listen-address=",
            f"--log.level={log_level}",
            *extra_args,
        ]
        return cls._spawn(kind, argv, workdir, chosen_port, tuple(extra_args))

    @classmethod
    def launch_prometheus(
        cls,
        config_text: str,
        workdir: Path,
        *,
        rules: dict[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> DaemonProcess:
        """Start a real Prometheus with `config_text`; `rules` files are written beside it."""
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yml").write_text(config_text)
        for name, text in (rules or {}).items():
            (workdir / name).write_text(text)
        (workdir / "data").mkdir(exist_ok=True)
        port = free_port()
        argv = [
            str(PROMETHEUS_BINARY),
            f"--config.file={workdir / 'config.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *extra_args,
        ]
        return cls._spawn("prometheus", argv, workdir, port, tuple(extra_args))

    @classmethod
    def _spawn(
        cls, kind: ProcessKind, argv: list[str], workdir: Path, port: int, extra_args: tuple[str, ...]
    ) -> DaemonProcess:
        # Closed in stop(); the child keeps its own copy of the descriptor meanwhile.
        log_handle = open(workdir / "daemon.log", "ab")
        log_handle.write(f"$ {' '.join(argv)}\n".encode())
        log_handle.flush()
        process = subprocess.Popen(
            argv,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            # Its own process group, so a Ctrl-C aimed at pytest does not hit it first and
            # our stop() decides the order of shutdown.
            start_new_session=True,
        )
        return cls(
            kind=kind,
            workdir=workdir,
            port=port,
            process=process,
            argv=argv,
            extra_args=extra_args,
            _log_handle=log_handle,
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Poll `/-/ready` until 200; raise DaemonStartError (with the log) otherwise."""
        deadline = time.monotonic() + timeout
        last_problem = "no answer yet"
        with httpx.Client(timeout=HELPER_HTTP_TIMEOUT_SECONDS) as client:
            while True:
                exit_code = self.process.poll()
                if exit_code is not None:
                    raise DaemonStartError(
                        f"{self.kind} exited with code {exit_code} before becoming ready\n{self.log_tail()}"
                    )
                try:
                    response = client.get(f"{self.prefixed_url}/-/ready")
                    if response.status_code == 200:
                        return
                    last_problem = f"/-/ready answered {response.status_code}"
                except httpx.TransportError as error:
                    last_problem = f"{type(error).__name__}: {error}"
                if time.monotonic() >= deadline:
                    raise DaemonStartError(
                        f"{self.kind} on port {self.port} not ready after {timeout}s ({last_problem})\n"
                        f"{self.log_tail()}"
                    )
                time.sleep(READY_POLL_SECONDS)

    def port_was_taken(self) -> bool:
        return self.process.poll() is not None and "address already in use" in self.log_text().lower()

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """SIGTERM, wait (bounded), then SIGKILL. Returns the exit code (None if killed hard)."""
        exit_code: int | None = self.process.poll()
        if exit_code is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                exit_code = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                exit_code = None
        self._close_log()
        return exit_code

    def kill(self) -> None:
        """SIGKILL without grace (crash tests, or a stop that timed out)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    # ---------------------------------------------------------------- config

    def write_config(self, config_text: str) -> None:
        self.config_path.write_text(config_text)

    def reload(self, config_text: str | None = None) -> httpx.Response:
        """Optionally replace the config file, then `POST /-/reload`; returns the response."""
        if config_text is not None:
            self.write_config(config_text)
        return httpx.post(f"{self.prefixed_url}/-/reload", timeout=HELPER_HTTP_TIMEOUT_SECONDS)

    def reload_by_signal(self, config_text: str | None = None) -> None:
        """Optionally replace the config file, then send SIGHUP (no answer to wait for)."""
        if config_text is not None:
            self.write_config(config_text)
        self.process.send_signal(signal.SIGHUP)

    # ---------------------------------------------------------------- logs

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        text = self.log_text()
        clipped = text[-chars:]
        return f"----- {self.kind} log ({self.log_path}) -----\n{clipped}\n----- end of log -----"


def wait_all_ready(daemons: Iterable[DaemonProcess], timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Wait for several already-launched daemons; they start concurrently meanwhile."""
    for daemon in daemons:
        daemon.wait_ready(timeout)


def start_daemon(
    kind: DaemonKind,
    config_text: str,
    workdir: Path,
    *,
    extra_args: Sequence[str] = (),
    log_level: str = "info",
    command_prefix: Sequence[str] = (),
) -> DaemonProcess:
    """Launch and wait for readiness, retrying on a fresh port if the chosen one was taken."""
    for attempt in range(PORT_RACE_ATTEMPTS):
        daemon = DaemonProcess.launch(
            kind,
            config_text,
            workdir / f"attempt-{attempt}" if attempt else workdir,
            extra_args=extra_args,
            log_level=log_level,
            command_prefix=command_prefix,
        )
        try:
            daemon.wait_ready()
            return daemon
        except DaemonStartError:
            daemon.stop()
            if not daemon.port_was_taken() or attempt == PORT_RACE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable: the loop either returns or raises")


def amtool(
    base_url: str, *args: str, timeout: float = 30.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real amtool against a daemon; never reads the user's amtool.yml (HOME is a temp dir)."""
    command = [str(AMTOOL_BINARY), f"--alertmanager.url={base_url}", *args]
    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "USER": "tester", "TZ": "UTC"}
    if env:
        run_env.update(env)
    run_env.setdefault("HOME", str(Path(run_env.get("TMPDIR", "/tmp")) / "amtool-empty-home"))
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=run_env, check=False)
