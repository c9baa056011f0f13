"""Flags parse as Alertmanager 0.25's kingpin parser does (messages checked against the real binary)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.flags import (
    EXIT_USAGE,
    Flags,
    UsageError,
    external_url,
    format_go_duration,
    parse_flags,
    parse_go_duration,
    route_prefix,
)


def parsed(*argv: str) -> Flags:
    outcome = parse_flags(list(argv), program="alertmanager")
    assert outcome.flags is not None, outcome.stderr
    return outcome.flags


def error_of(*argv: str) -> str:
    outcome = parse_flags(list(argv), program="alertmanager")
    assert outcome.flags is None and outcome.exit_code == EXIT_USAGE
    return outcome.stderr


def test_defaults_are_alertmanagers() -> None:
    flags = parsed()
    assert flags.config_file == "/etc/prometheus/alertmanager.yml"
    assert flags.storage_path == "/var/lib/prometheus/alertmanager/"
    assert flags.data_retention == timedelta(hours=120)
    assert flags.data_maintenance_interval == timedelta(minutes=15)
    assert flags.alerts_gc_interval == timedelta(minutes=30)
    assert flags.web_listen_addresses == [":9093"]
    assert flags.web_get_concurrency == 0
    assert flags.web_timeout == timedelta(0)
    assert flags.cluster_listen_address == "0.0.0.0:9094"
    assert flags.cluster_peer_timeout == timedelta(seconds=15)
    assert flags.cluster_gossip_interval == timedelta(milliseconds=200)
    assert flags.cluster_pushpull_interval == timedelta(minutes=1)
    assert flags.cluster_settle_timeout == timedelta(minutes=1)
    assert flags.cluster_reconnect_timeout == timedelta(hours=6)
    assert (flags.log_level, flags.log_format) == ("info", "logfmt")
    assert not flags.config_file_given


def test_equals_and_separate_value_forms() -> None:
    flags = parsed("--config.file=/a.yml", "--storage.path", "/data", "--web.timeout", "1m30s")
    assert (flags.config_file, flags.storage_path, flags.web_timeout) == ("/a.yml", "/data", timedelta(seconds=90))
    assert flags.config_file_given


def test_repeatable_flags_replace_default_and_accumulate() -> None:
    flags = parsed("--web.listen-address=:1", "--web.listen-address=:2", "--cluster.peer=a:1", "--peer", "b:2")
    assert flags.web_listen_addresses == [":1", ":2"]
    assert flags.cluster_peers == ["a:1", "b:2"]


def test_empty_cluster_listen_address_disables_ha() -> None:
    assert not parsed("--cluster.listen-address=").cluster_enabled
    assert parsed().cluster_enabled


def test_bool_flag_and_negation() -> None:
    assert parsed("--web.systemd-socket").web_systemd_socket
    assert not parsed("--web.systemd-socket", "--no-web.systemd-socket").web_systemd_socket


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--foo"], "unknown long flag '--foo'"),
        (["--foo=1"], "unknown long flag '--foo'"),
        (["-x"], "unknown short flag '-x'"),
        (["--log.level=bogus"], 'unrecognized log level "bogus"'),
        (["--log.level=WARN"], 'unrecognized log level "WARN"'),
        (["--log.format=xml"], 'unrecognized log format "xml"'),
        (["--web.timeout=abc"], 'time: invalid duration "abc"'),
        (["--web.timeout="], 'time: invalid duration ""'),
        (["--web.timeout=5"], 'time: missing unit in duration "5"'),
        (["--data.retention=1x"], 'time: unknown unit "x" in duration "1x"'),
        (["--web.get-concurrency=x"], 'strconv.ParseFloat: parsing "x": invalid syntax'),
        (["--config.file"], "expected argument for flag '--config.file'"),
        (["--web.systemd-socket=true"], "unexpected true"),
        (["--web.systemd-socket=false"], "unexpected false"),
        (["--no-config.file"], "unknown long flag '--no-config.file'"),
        (["positional"], "unexpected positional"),
        (["--", "--version"], "unexpected --version"),
        (["--web.timeout=5s", "--web.timeout=6s"], "flag 'web.timeout' cannot be repeated"),
        (["--web.timeout=abc", "--log.level=x"], 'time: invalid duration "abc"'),
    ],
)
def test_usage_errors_match_kingpin(argv: list[str], message: str) -> None:
    assert error_of(*argv) == f"alertmanager: error: {message}, try --help\n"


def test_version_fires_where_it_is_reached() -> None:
    outcome = parse_flags(["--version", "--foo"], program="alertmanager")
    assert outcome.exit_code == 0 and outcome.stdout.startswith("tocsin, version 0.25.0 (branch: ")
    assert outcome.stdout.count("\n") == 5
    # Values are converted after the scan, so a bad value before --version does not matter...
    assert parse_flags(["--web.timeout=abc", "--version"]).exit_code == 0
    # ...but an unknown flag before it does.
    assert parse_flags(["--foo", "--version"]).exit_code == EXIT_USAGE


def test_help_lists_every_flag() -> None:
    outcome = parse_flags(["--help"], program="alertmanager")
    assert outcome.exit_code == 0 and outcome.stdout.startswith("usage: alertmanager [<flags>]")
    for name in ("--config.file", "--cluster.peer-timeout", "--log.format", "--web.route-prefix"):
        assert name in outcome.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("120h", timedelta(hours=120)),
        ("1m0s", timedelta(minutes=1)),
        ("200ms", timedelta(milliseconds=200)),
        ("1.5h", timedelta(minutes=90)),
        (".5s", timedelta(milliseconds=500)),
        ("-1s", timedelta(seconds=-1)),
        ("+2m", timedelta(minutes=2)),
        ("1h2m3.5s", timedelta(hours=1, minutes=2, seconds=3.5)),
        ("1500us", timedelta(microseconds=1500)),
        ("1500µs", timedelta(microseconds=1500)),
    ],
)
def test_go_durations(text: str, expected: timedelta) -> None:
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize("text", ["", "s", ".s", "1d", "--1s", "1.2.3s"])
def test_invalid_go_durations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [(timedelta(minutes=1), "1m0s"), (timedelta(hours=6), "6h0m0s"), (timedelta(milliseconds=200), "200ms"),
     (timedelta(0), "0s"), (timedelta(seconds=90), "1m30s"), (timedelta(seconds=1.5), "1.5s")],
)
def test_go_duration_strings(duration: timedelta, text: str) -> None:
    assert format_go_duration(duration) == text


@given(st.integers(min_value=0, max_value=10**6))
def test_duration_round_trip(milliseconds: int) -> None:
    duration = timedelta(milliseconds=milliseconds)
    assert parse_go_duration(format_go_duration(duration)) == duration


def test_external_url_derived_from_hostname_and_port() -> None:
    flags = parsed("--web.listen-address=127.0.0.1:9999")
    assert external_url(flags, "box") == "http://box:9999"
    assert route_prefix(flags, external_url(flags, "box")) == "/"


def test_external_url_path_becomes_route_prefix() -> None:
    flags = parsed("--web.external-url=https://am.example.com/alerts/")
    assert external_url(flags, "box") == "https://am.example.com/alerts"
    assert route_prefix(flags, external_url(flags, "box")) == "/alerts"
    explicit = parsed("--web.external-url=http://h/p/", "--web.route-prefix=x//")
    assert route_prefix(explicit, external_url(explicit, "box")) == "/x"


def test_external_url_rejects_other_schemes() -> None:
    with pytest.raises(ValueError) as caught:
        external_url(parsed("--web.external-url=ftp://x"), "box")
    assert str(caught.value) == """"ftp://x": invalid "ftp" scheme, only 'http' and 'https' are supported"""
