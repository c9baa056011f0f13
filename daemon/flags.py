"""Command-line flags, parsed the way Alertmanager 0.25's kingpin parser does.

Behaviour reproduced (checked against the real binary):
- `--name=value` and `--name value`; `-h` is the only short flag.
- Bool flags take no value: `--web.systemd-socket` sets, `--no-web.systemd-socket` clears,
  `--web.systemd-socket=true` is "unexpected true".
- Repeatable flags (`--web.listen-address`, `--cluster.peer`) replace their default on first
  use and accumulate; any other flag given twice is "flag 'x' cannot be repeated".
- Tokens are scanned left to right: an unknown flag, a positional argument or a flag missing
  its value stops the scan with an error; `--version` prints the version at the moment it
  is reached (so `--version --foo` prints the version, `--foo --version` fails). Values are
  converted only after the scan, in command-line order.
- Errors print `<program>: error: <message>, try --help` on stderr and exit with status 1
  (kingpin's `Fatalf` status, which is what the real binary returns).
- Durations use Go's `time.ParseDuration` syntax and messages, as kingpin's `.Duration()` does.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TextIO

from cluster.core.config import MAX_SUSPICION_MULT, MIN_SUSPICION_MULT, TOCSIN_SUSPICION_MULT
from daemon.version import build_info

EXIT_OK = 0
# kingpin's FatalIfError/Fatalf exits with 1 for every usage error.
EXIT_USAGE = 1

LOG_LEVELS = ("debug", "info", "warn", "error")
LOG_FORMATS = ("logfmt", "json")


class Kind(enum.Enum):
    STRING = "string"
    STRINGS = "strings"  # repeatable
    BOOL = "bool"
    DURATION = "duration"
    INT = "int"
    SUSPICION_MULTIPLIER = "suspicion_multiplier"
    LOG_LEVEL = "log_level"
    LOG_FORMAT = "log_format"


@dataclasses.dataclass(frozen=True)
class FlagSpec:
    name: str
    kind: Kind
    default: str | None  # text form, converted like a command-line value; None: no default
    help: str
    attribute: str  # field of `Flags`
    hidden: bool = False


FLAG_SPECS: tuple[FlagSpec, ...] = (
    FlagSpec("config.file", Kind.STRING, "/etc/prometheus/alertmanager.yml",
             "Alertmanager configuration file name.", "config_file"),
    FlagSpec("storage.path", Kind.STRING, "/var/lib/prometheus/alertmanager/",
             "Base path for data storage.", "storage_path"),
    FlagSpec("data.retention", Kind.DURATION, "120h", "How long to keep data for.", "data_retention"),
    FlagSpec("data.maintenance-interval", Kind.DURATION, "15m",
             "Interval between garbage collection and snapshotting to disk of the silences and the "
             "notification logs.", "data_maintenance_interval"),
    FlagSpec("alerts.gc-interval", Kind.DURATION, "30m", "Interval between alert GC.", "alerts_gc_interval"),
    FlagSpec("web.systemd-socket", Kind.BOOL, None,
             "Use systemd socket activation listeners instead of port listeners (Linux only).",
             "web_systemd_socket"),
    FlagSpec("web.listen-address", Kind.STRINGS, ":9093",
             "Addresses on which to expose metrics and web interface. Repeatable for multiple addresses.",
             "web_listen_addresses"),
    FlagSpec("web.config.file", Kind.STRING, "",
             "[EXPERIMENTAL] Path to configuration file that can enable TLS or authentication.",
             "web_config_file"),
    FlagSpec("web.external-url", Kind.STRING, None,
             "The URL under which Alertmanager is externally reachable (for example, if Alertmanager "
             "is served via a reverse proxy). If the URL has a path portion, it will be used to prefix "
             "all HTTP endpoints. If omitted, relevant URL components will be derived automatically.",
             "web_external_url"),
    FlagSpec("web.route-prefix", Kind.STRING, None,
             "Prefix for the internal routes of web endpoints. Defaults to path of --web.external-url.",
             "web_route_prefix"),
    FlagSpec("web.get-concurrency", Kind.INT, "0",
             "Maximum number of GET requests processed concurrently. If negative or zero, the limit "
             "is GOMAXPROC or 8, whichever is larger.", "web_get_concurrency"),
    FlagSpec("web.timeout", Kind.DURATION, "0",
             "Timeout for HTTP requests. If negative or zero, no timeout is set.", "web_timeout"),
    FlagSpec("web.ui-path", Kind.STRING, "/usr/share/prometheus/alertmanager/ui/",
             "Path to static UI directory.", "web_ui_path"),
    FlagSpec("cluster.listen-address", Kind.STRING, "0.0.0.0:9094",
             "Listen address for cluster. Set to empty string to disable HA mode.", "cluster_listen_address"),
    FlagSpec("cluster.advertise-address", Kind.STRING, None,
             "Explicit address to advertise in cluster.", "cluster_advertise_address"),
    FlagSpec("cluster.peer", Kind.STRINGS, None, "Initial peers (may be repeated).", "cluster_peers"),
    FlagSpec("cluster.peer-timeout", Kind.DURATION, "15s",
             "Time to wait between peers to send notifications.", "cluster_peer_timeout"),
    FlagSpec("cluster.gossip-interval", Kind.DURATION, "200ms",
             "Interval between sending gossip messages.", "cluster_gossip_interval"),
    FlagSpec("cluster.pushpull-interval", Kind.DURATION, "1m0s",
             "Interval for gossip state syncs.", "cluster_pushpull_interval"),
    FlagSpec("cluster.tcp-timeout", Kind.DURATION, "10s",
             "Timeout for establishing a stream connection with a remote node for a full state sync, "
             "and for stream read and write operations.", "cluster_tcp_timeout"),
    FlagSpec("cluster.probe-timeout", Kind.DURATION, "500ms",
             "Timeout to wait for an ack from a probed node before assuming it is unhealthy.",
             "cluster_probe_timeout"),
    FlagSpec("cluster.probe-interval", Kind.DURATION, "1s",
             "Interval between random node probes.", "cluster_probe_interval"),
    FlagSpec("cluster.settle-timeout", Kind.DURATION, "1m0s",
             "Maximum time to wait for cluster connections to settle before evaluating notifications.",
             "cluster_settle_timeout"),
    FlagSpec("cluster.reconnect-interval", Kind.DURATION, "10s",
             "Interval between attempting to reconnect to lost peers.", "cluster_reconnect_interval"),
    FlagSpec("cluster.reconnect-timeout", Kind.DURATION, "6h0m0s",
             "Length of time to attempt to reconnect to a lost peer.", "cluster_reconnect_timeout"),
    FlagSpec("cluster.tls-config", Kind.STRING, "",
             "[EXPERIMENTAL] Path to config yaml file that can enable mutual TLS within the gossip "
             "protocol.", "cluster_tls_config"),
    FlagSpec("cluster.allow-insecure-public-advertise-address-discovery", Kind.BOOL, None,
             "[EXPERIMENTAL] Allow alertmanager to discover and listen on a public IP address.",
             "cluster_allow_insecure_public_advertise_address_discovery"),
    # tocsin additions (absent from Alertmanager 0.25).
    FlagSpec("cluster.peer-name", Kind.STRING, "",
             "Name of this peer in the cluster (default: the host name).", "cluster_peer_name"),
    FlagSpec("cluster.key-file", Kind.STRING, "",
             "Path to a file holding the gossip encryption key(s).", "cluster_key_file"),
    FlagSpec("cluster.suspicion-multiplier", Kind.SUSPICION_MULTIPLIER, f"{TOCSIN_SUSPICION_MULT:g}",
             f"A suspected peer is declared dead after at least this many probe intervals times "
             f"max(1, log10(cluster size)) (and at least 2 probe intervals), up to 6x longer until "
             f"two other peers confirm the suspicion. Between {MIN_SUSPICION_MULT:g} and "
             f"{MAX_SUSPICION_MULT:g}; fractions allowed. Alertmanager's memberlist uses 4.",
             "cluster_suspicion_multiplier"),
    FlagSpec("log.level", Kind.LOG_LEVEL, "info",
             "Only log messages with the given severity or above. One of: [debug, info, warn, error]",
             "log_level"),
    FlagSpec("log.format", Kind.LOG_FORMAT, "logfmt",
             "Output format of log messages. One of: [logfmt, json]", "log_format"),
)

# `--peer` is a tocsin alias of `--cluster.peer`, so it is not printed in the help.
FLAG_ALIASES = {"peer": "cluster.peer"}

SPECS_BY_NAME = {spec.name: spec for spec in FLAG_SPECS}


@dataclasses.dataclass
class Flags:
    config_file: str = "/etc/prometheus/alertmanager.yml"
    config_file_given: bool = False
    storage_path: str = "/var/lib/prometheus/alertmanager/"
    data_retention: timedelta = timedelta(hours=120)
    data_maintenance_interval: timedelta = timedelta(minutes=15)
    alerts_gc_interval: timedelta = timedelta(minutes=30)
    web_systemd_socket: bool = False
    web_listen_addresses: list[str] = dataclasses.field(default_factory=lambda: [":9093"])
    web_config_file: str = ""
    web_external_url: str = ""
    web_route_prefix: str | None = None
    web_get_concurrency: int = 0
    web_timeout: timedelta = timedelta(0)
    web_ui_path: str = "/usr/share/prometheus/alertmanager/ui/"
    cluster_listen_address: str = "0.0.0.0:9094"
    cluster_advertise_address: str = ""
    cluster_peers: list[str] = dataclasses.field(default_factory=list)
    cluster_peer_timeout: timedelta = timedelta(seconds=15)
    cluster_gossip_interval: timedelta = timedelta(milliseconds=200)
    cluster_pushpull_interval: timedelta = timedelta(minutes=1)
    cluster_tcp_timeout: timedelta = timedelta(seconds=10)
    cluster_probe_timeout: timedelta = timedelta(milliseconds=500)
    cluster_probe_interval: timedelta = timedelta(seconds=1)
    cluster_settle_timeout: timedelta = timedelta(minutes=1)
    cluster_reconnect_interval: timedelta = timedelta(seconds=10)
    cluster_reconnect_timeout: timedelta = timedelta(hours=6)
    cluster_tls_config: str = ""
    cluster_allow_insecure_public_advertise_address_discovery: bool = False
    cluster_peer_name: str = ""
    cluster_key_file: str = ""
    cluster_suspicion_multiplier: float = TOCSIN_SUSPICION_MULT
    log_level: str = "info"
    log_format: str = "logfmt"

    @property
    def cluster_enabled(self) -> bool:
        return self.cluster_listen_address != ""


class UsageError(Exception):
    """A command line kingpin would reject; the message is kingpin's (without the suffix)."""


@dataclasses.dataclass
class ParseOutcome:
    """Either parsed flags, or an exit status with text already chosen for stdout/stderr."""

    flags: Flags | None
    exit_code: int = EXIT_OK
    stdout: str = ""
    stderr: str = ""


# --- Go time.ParseDuration -------------------------------------------------------------------

_NANOSECONDS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
# Go durations are int64 nanoseconds.
_MAX_DURATION_NANOSECONDS = (1 << 63) - 1


def _go_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def parse_go_duration(text: str) -> timedelta:
    """Go's `time.ParseDuration`, with its error messages (e.g. `time: invalid duration "abc"`)."""
    invalid = UsageError(f"time: invalid duration {_go_quote(text)}")
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return timedelta(0)
    if rest == "":
        raise invalid
    total_nanoseconds = 0
    while rest:
        index = 0
        while index < len(rest) and rest[index].isascii() and rest[index].isdigit():
            index += 1
        whole = rest[:index]
        rest = rest[index:]
        fraction = ""
        if rest.startswith("."):
            rest = rest[1:]
            index = 0
            while index < len(rest) and rest[index].isascii() and rest[index].isdigit():
                index += 1
            fraction = rest[:index]
            rest = rest[index:]
        if not whole and not fraction:
            raise invalid
        index = 0
        while index < len(rest) and rest[index] != "." and not (rest[index].isascii() and rest[index].isdigit()):
            index += 1
        unit = rest[:index]
        rest = rest[index:]
        if unit == "":
            raise UsageError(f"time: missing unit in duration {_go_quote(text)}")
        if unit not in _NANOSECONDS_PER_UNIT:
            raise UsageError(f"time: unknown unit {_go_quote(unit)} in duration {_go_quote(text)}")
        scale = _NANOSECONDS_PER_UNIT[unit]
        value = int(whole or "0") * scale
        if fraction:
            value += int(fraction) * scale // (10 ** len(fraction))
        total_nanoseconds += value
        if total_nanoseconds > _MAX_DURATION_NANOSECONDS:
            raise invalid
    if negative:
        total_nanoseconds = -total_nanoseconds
    return timedelta(microseconds=total_nanoseconds / 1000)


def format_go_duration(duration: timedelta) -> str:
    """Go's `Duration.String()` for whole milliseconds and above (`1m0s`, `200ms`, `6h0m0s`)."""
    total_microseconds = round(duration.total_seconds() * 1_000_000)
    if total_microseconds == 0:
        return "0s"
    sign = "-" if total_microseconds < 0 else ""
    total_microseconds = abs(total_microseconds)
    if total_microseconds < 1_000_000:
        if total_microseconds % 1000 == 0:
            return f"{sign}{total_microseconds // 1000}ms"
        return f"{sign}{total_microseconds / 1000:g}ms"
    hours, remainder = divmod(total_microseconds, 3_600_000_000)
    minutes, remainder = divmod(remainder, 60_000_000)
    seconds_text = f"{remainder / 1_000_000:.6f}".rstrip("0").rstrip(".")
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds_text}s"
    if minutes:
        return f"{sign}{minutes}m{seconds_text}s"
    return f"{sign}{seconds_text}s"


# --- value conversion ------------------------------------------------------------------------


def _parse_int(text: str) -> int:
    # kingpin converts integers through strconv.ParseFloat, so "2.5" is accepted (truncated).
    try:
        return int(float(text))
    except ValueError:
        raise UsageError(f"strconv.ParseFloat: parsing {_go_quote(text)}: invalid syntax") from None


def _parse_suspicion_multiplier(text: str) -> float:
    # Go's ParseFloat syntax: Python's float() would also take "1_5" and surrounding spaces.
    try:
        if "_" in text or text != text.strip():
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise UsageError(f"strconv.ParseFloat: parsing {_go_quote(text)}: invalid syntax") from None
    if not MIN_SUSPICION_MULT <= value <= MAX_SUSPICION_MULT:
        raise UsageError(
            f"--cluster.suspicion-multiplier must be between {MIN_SUSPICION_MULT:g} and "
            f"{MAX_SUSPICION_MULT:g}, got {_go_quote(text)}"
        )
    return value


def _parse_log_level(text: str) -> str:
    if text not in LOG_LEVELS:
        raise UsageError(f"unrecognized log level {_go_quote(text)}")
    return text


def _parse_log_format(text: str) -> str:
    if text not in LOG_FORMATS:
        raise UsageError(f"unrecognized log format {_go_quote(text)}")
    return text


_CONVERTERS: dict[Kind, Callable[[str], Any]] = {
    Kind.STRING: str,
    Kind.DURATION: parse_go_duration,
    Kind.INT: _parse_int,
    Kind.SUSPICION_MULTIPLIER: _parse_suspicion_multiplier,
    Kind.LOG_LEVEL: _parse_log_level,
    Kind.LOG_FORMAT: _parse_log_format,
}


# --- help ------------------------------------------------------------------------------------

HELP_COLUMN = 31


def help_text(program: str) -> str:
    lines = [f"usage: {program} [<flags>]", "", "Flags:"]
    lines.append("  -h, --help".ljust(HELP_COLUMN) + "Show context-sensitive help (also try --help-long and --help-man).")
    for spec in FLAG_SPECS:
        if spec.hidden:
            continue
        if spec.kind is Kind.BOOL:
            left = f"      --{spec.name}"
        elif spec.default is None:
            left = f"      --{spec.name}={spec.name.upper()}"
        elif spec.kind in (Kind.STRING,):
            left = f'      --{spec.name}="{spec.default}"'
        else:
            left = f"      --{spec.name}={spec.default}"
        if spec.kind is Kind.STRINGS:
            left += " ..."
        if len(left) + 2 > HELP_COLUMN:
            lines.append(left)
            lines.append(" " * HELP_COLUMN + spec.help)
        else:
            lines.append(left.ljust(HELP_COLUMN) + spec.help)
    lines.append("      --version".ljust(HELP_COLUMN) + "Show application version.")
    return "\n".join(lines) + "\n"


# --- parsing ---------------------------------------------------------------------------------


def default_program_name() -> str:
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "tocsin"


def parse_flags(argv: Sequence[str], program: str | None = None) -> ParseOutcome:
    """Parse a command line (without the program name). Never exits: the caller prints."""
    program = program or default_program_name()
    try:
        return _parse(list(argv), program)
    except UsageError as error:
        return ParseOutcome(None, EXIT_USAGE, stderr=f"{program}: error: {error}, try --help\n")


def _parse(argv: list[str], program: str) -> ParseOutcome:
    assignments: list[tuple[FlagSpec, str | None]] = []
    wants_help = False
    index = 0
    flags_ended = False
    while index < len(argv):
        token = argv[index]
        index += 1
        if flags_ended or not token.startswith("-") or token == "-":
            raise UsageError(f"unexpected {token}")
        if token == "--":
            flags_ended = True
            continue
        if not token.startswith("--"):
            short = token[1:2]
            if short == "h":
                wants_help = True
                continue
            raise UsageError(f"unknown short flag '-{short}'")
        name, has_value, value = token[2:].partition("=")
        if name in ("help", "help-long", "help-man"):
            wants_help = True
            continue
        if name == "version":
            return ParseOutcome(None, EXIT_OK, stdout=build_info().version_text())
        name = FLAG_ALIASES.get(name, name)
        spec = SPECS_BY_NAME.get(name)
        if spec is None and name.startswith("no-"):
            negated = SPECS_BY_NAME.get(name[3:])
            if negated is not None and negated.kind is Kind.BOOL:
                if has_value:
                    raise UsageError(f"unexpected {value}")
                assignments.append((negated, "false"))
                continue
        if spec is None:
            raise UsageError(f"unknown long flag '--{name}'")
        if spec.kind is Kind.BOOL:
            if has_value:
                raise UsageError(f"unexpected {value}")
            assignments.append((spec, "true"))
            continue
        if not has_value:
            if index >= len(argv):
                raise UsageError(f"expected argument for flag '--{spec.name}'")
            value = argv[index]
            index += 1
        assignments.append((spec, value))
    if wants_help:
        return ParseOutcome(None, EXIT_OK, stdout=help_text(program))
    return ParseOutcome(_apply(assignments))


def _apply(assignments: list[tuple[FlagSpec, str | None]]) -> Flags:
    flags = Flags()
    seen: set[str] = set()
    for spec, text in assignments:
        if spec.kind is Kind.STRINGS:
            values = getattr(flags, spec.attribute) if spec.name in seen else []
            values.append(text or "")
            setattr(flags, spec.attribute, values)
            seen.add(spec.name)
            continue
        if spec.name in seen and spec.kind is not Kind.BOOL:
            raise UsageError(f"flag '{spec.name}' cannot be repeated")
        seen.add(spec.name)
        if spec.kind is Kind.BOOL:
            setattr(flags, spec.attribute, text == "true")
            continue
        setattr(flags, spec.attribute, _CONVERTERS[spec.kind](text or ""))
    flags.config_file_given = "config.file" in seen
    return flags


def parse_or_exit_code(argv: Sequence[str], out: TextIO, err: TextIO) -> tuple[Flags | None, int]:
    """Parse and print whatever kingpin would print; `(None, code)` means exit with `code`."""
    outcome = parse_flags(argv)
    if outcome.stdout:
        out.write(outcome.stdout)
    if outcome.stderr:
        err.write(outcome.stderr)
    return outcome.flags, outcome.exit_code


# --- derived web settings --------------------------------------------------------------------

VALID_EXTERNAL_SCHEMES = ("http", "https")


def external_url(flags: Flags, hostname: str) -> str:
    """Alertmanager's external URL: the flag, or `http://<hostname>:<port of first listen address>/`,
    with the path's trailing slashes trimmed. Raises ValueError with Alertmanager's message."""
    from urllib.parse import urlsplit, urlunsplit

    text = flags.web_external_url
    if text == "":
        listen = flags.web_listen_addresses[0] if flags.web_listen_addresses else ""
        port = listen.rpartition(":")[2] if ":" in listen else ""
        text = f"http://{hostname}:{port}/"
    parts = urlsplit(text)
    if parts.scheme not in VALID_EXTERNAL_SCHEMES:
        raise ValueError(
            f"{_go_quote(text)}: invalid {_go_quote(parts.scheme)} scheme, only 'http' and 'https' are supported"
        )
    path = parts.path.rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def route_prefix(flags: Flags, external: str) -> str:
    """`--web.route-prefix`, defaulting to the external URL's path, normalised to `/` + trimmed."""
    from urllib.parse import urlsplit

    prefix = flags.web_route_prefix
    if not prefix:
        prefix = urlsplit(external).path
    return "/" + prefix.strip("/")
