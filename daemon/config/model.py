"""The validated configuration, as the rest of the daemon consumes it.

Receivers' integration settings stay plain mappings keyed by their YAML names (defaults
filled in, `*_file` references kept), so `daemon.integrations` can turn them into `notify`
objects without the loader knowing every integration's runtime type.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from daemon.matchers import Matcher


@dataclasses.dataclass
class RouteConfig:
    """One node of the route tree as written (before inheritance is applied)."""

    receiver: str | None = None
    # None: not set (inherit from the parent). ["..."]: group by all labels.
    group_by: list[str] | None = None
    # `match`, `match_re` and `matchers` merged and sorted by (name, value, type).
    matchers: list[Matcher] = dataclasses.field(default_factory=list)
    mute_time_intervals: list[str] = dataclasses.field(default_factory=list)
    active_time_intervals: list[str] = dataclasses.field(default_factory=list)
    continue_matching: bool = False
    routes: list[RouteConfig] = dataclasses.field(default_factory=list)
    group_wait: timedelta | None = None
    group_interval: timedelta | None = None
    repeat_interval: timedelta | None = None


@dataclasses.dataclass
class InhibitRule:
    source_matchers: list[Matcher]
    target_matchers: list[Matcher]
    equal: list[str]


@dataclasses.dataclass(frozen=True)
class TimeRange:
    """Minutes since midnight; start inclusive, end exclusive (0..1440)."""

    start_minute: int
    end_minute: int


@dataclasses.dataclass
class TimeIntervalSpec:
    """One entry of a named time interval. Fields are ANDed; ranges within a field ORed.
    Ranges are inclusive pairs; days_of_month may hold negative values (from month end)."""

    times: list[TimeRange] = dataclasses.field(default_factory=list)
    weekdays: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # sunday = 0
    days_of_month: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    months: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # january = 1
    years: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    location: str | None = None  # IANA zone name; None means UTC


@dataclasses.dataclass
class Receiver:
    name: str
    # e.g. {"webhook_configs": [{"url": ..., "send_resolved": True, "http_config": {...}, ...}]}
    integrations: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Config:
    global_config: dict[str, Any]
    resolve_timeout: timedelta
    route: RouteConfig
    receivers: list[Receiver]
    inhibit_rules: list[InhibitRule] = dataclasses.field(default_factory=list)
    # `time_intervals` and the deprecated `mute_time_intervals`, merged by name.
    time_intervals: dict[str, list[TimeIntervalSpec]] = dataclasses.field(default_factory=dict)
    # Template globs made absolute against the config file's directory.
    templates: list[str] = dataclasses.field(default_factory=list)
    # The config re-marshalled to YAML with defaults filled in and secrets as <secret>.
    original: str = ""
    # Where it came from (None for the embedded default).
    source_path: str | None = None
