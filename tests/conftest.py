"""Shared fixtures: real daemon processes (tocsin and the Alertmanager oracle) and a recording sink.

- `daemon_factory(kind, config_text, ...)` starts `"tocsin"` or `"alertmanager"` and waits for
  `/-/ready`; `daemon_factory.start_many([(kind, config), ...])` starts several concurrently.
  `alertmanager_factory(config)` and `tocsin_factory(config)` are the one-kind shorthands.
  Every process is stopped (SIGTERM, bounded, then SIGKILL) at teardown, and when the test
  failed their logs are printed in the report.
- `recording_sink`: the shared recording HTTP server on 127.0.0.1 (`tests/helpers/http_sink.py`,
  with per-path response scripts). The differential tests use their own predicate-polling
  variant (`tests/helpers/sink_for_oracle.py`) through `tests/oracle/conftest.py`.

Under `CI=true` a missing oracle binary fails the test instead of skipping it: a silent skip
would let the differential suite pass without running.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.http_sink import HttpSink
from tests.helpers.processes import (
    ALERTMANAGER_BINARY,
    DaemonKind,
    DaemonProcess,
    DaemonStartError,
    oracle_missing_reason,
    start_daemon,
)


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_binary(binary: Path = ALERTMANAGER_BINARY) -> None:
    """Skip when a system binary is missing, but fail under CI."""
    reason = oracle_missing_reason(binary)
    if reason is None:
        return
    if running_in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def require_tocsin() -> None:
    """Skip while the daemon's composition root has not landed yet (parallel development)."""
    if importlib.util.find_spec("daemon.app") is None:
        if running_in_ci():
            pytest.fail("daemon.app is missing: tocsin cannot start", pytrace=False)
        pytest.skip("daemon.app not built yet")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the item so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"report_{phase}", None), "failed", False)
        for phase in ("setup", "call")
    )


class DaemonFactory:
    """Starts daemons into per-test temp directories and stops them all at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self.started: list[DaemonProcess] = []

    def _workdir(self, kind: DaemonKind) -> Path:
        return self._tmp_path / f"{kind}-{len(self.started)}"

    @staticmethod
    def _require(kind: DaemonKind) -> None:
        if kind == "alertmanager":
            require_binary(ALERTMANAGER_BINARY)
        else:
            require_tocsin()

    def __call__(
        self,
        kind: DaemonKind,
        config_text: str,
        *,
        extra_args: Sequence[str] = (),
        log_level: str = "info",
    ) -> DaemonProcess:
        self._require(kind)
        daemon = start_daemon(
            kind, config_text, self._workdir(kind), extra_args=extra_args, log_level=log_level
        )
        self.started.append(daemon)
        return daemon

    def start_many(
        self, specs: Sequence[tuple[DaemonKind, str]], *, extra_args: Sequence[str] = ()
    ) -> list[DaemonProcess]:
        """Launch every (kind, config) first, then wait for all: they start in parallel."""
        for kind, _ in specs:
            self._require(kind)
        launched: list[DaemonProcess] = []
        for kind, config_text in specs:
            daemon = DaemonProcess.launch(kind, config_text, self._workdir(kind), extra_args=extra_args)
            self.started.append(daemon)
            launched.append(daemon)
        ready: list[DaemonProcess] = []
        for (kind, config_text), daemon in zip(specs, launched, strict=True):
            try:
                daemon.wait_ready()
            except DaemonStartError:
                if not daemon.port_was_taken():
                    raise
                # Someone took the free port between our probe and the daemon's bind.
                daemon = start_daemon(kind, config_text, self._workdir(kind), extra_args=extra_args)
                self.started.append(daemon)
            ready.append(daemon)
        return ready

    def stop_all(self) -> None:
        for daemon in self.started:
            daemon.stop()

    def dump_logs(self) -> None:
        for daemon in self.started:
            print(daemon.log_tail(), file=sys.stderr)


@pytest.fixture
def daemon_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DaemonFactory]:
    factory = DaemonFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()
        if _test_failed(request):
            factory.dump_logs()


@pytest.fixture
def alertmanager_factory(daemon_factory: DaemonFactory) -> Any:
    def start(config_text: str, **options: Any) -> DaemonProcess:
        return daemon_factory("alertmanager", config_text, **options)

    return start


@pytest.fixture
def tocsin_factory(daemon_factory: DaemonFactory) -> Any:
    def start(config_text: str, **options: Any) -> DaemonProcess:
        return daemon_factory("tocsin", config_text, **options)

    return start


@pytest.fixture
def recording_sink() -> Iterator[HttpSink]:
    with HttpSink() as sink:
        yield sink
