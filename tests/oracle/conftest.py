"""Fixtures for differential tests: `oracle_pair(config_template)` starts both daemons."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from tests.conftest import DaemonFactory
from tests.helpers.sink_for_oracle import RecordingSink
from tests.oracle.differential import OraclePair, PairStarter, start_pair


@pytest.fixture
def oracle_pair(daemon_factory: DaemonFactory) -> Iterator[PairStarter]:
    opened: list[RecordingSink] = []

    def fresh_sinks() -> Iterator[RecordingSink]:
        while True:
            sink = RecordingSink().start()
            opened.append(sink)
            yield sink

    sinks = fresh_sinks()

    def start(config_template: str, extra_args: Sequence[str] = (), prefix: str = "") -> OraclePair:
        return start_pair(daemon_factory, config_template, sinks, extra_args, prefix)

    try:
        yield start
    finally:
        for sink in opened:
            sink.close()
