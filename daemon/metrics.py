"""`/metrics`: the daemon's Prometheus metrics, under Alertmanager 0.25's names and labels so
existing dashboards and alerting rules keep working.

One `Metrics` object per process owns a private registry (tests build their own without
clashing). Components receive the object (or the single metric they update) from the
composition root; gauges that mirror state another component already holds (alert counts,
aggregation groups) are read through callbacks at scrape time rather than kept in step.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from daemon.version import build_info
from notify.context import AlertMuter, NotificationLog, NotificationLogEntry

EXPOSITION_CONTENT_TYPE = CONTENT_TYPE_LATEST

# Alertmanager pre-creates the notification counters at 0 for these integrations (not for
# discord or webex), so a `rate()` over them exists before the first notification.
PRECREATED_INTEGRATIONS = (
    "email", "pagerduty", "wechat", "pushover", "slack", "opsgenie", "webhook", "victorops", "sns", "telegram",
)
ALERT_STATES = ("active", "suppressed", "unprocessed")
SILENCE_STATES = ("active", "expired", "pending")
API_VERSIONS = ("v1", "v2")
ALERT_STATUSES = ("firing", "resolved")
# The states kept durable by `daemon.storage`, as the `state` label of the storage metrics.
STORED_STATES = ("silences", "nflog")

# Buckets as Alertmanager declares them.
HTTP_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 20, 60)
HTTP_RESPONSE_SIZE_BUCKETS = tuple(100 * 10**power for power in range(7))
NOTIFICATION_LATENCY_BUCKETS = (1, 5, 10, 15, 20)
# Alertmanager leaves the silence and nflog query histograms and the oversized-send duration
# histogram at client_golang's defaults.
QUERY_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Alertmanager's probe round-trip buckets: a healthy ping on a LAN is well under 5 ms, and the
# default probe timeout is 500 ms.
PING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
# First 48 bits of the md5 of the config file: a float64 holds them exactly.
CONFIG_HASH_BYTES = 6


def config_hash(raw_config: bytes) -> float:
    """`alertmanager_config_hash`: the first 48 bits of the md5 of the config file, as a float."""
    return float(int.from_bytes(hashlib.md5(raw_config).digest()[:CONFIG_HASH_BYTES], "big"))


class _CallbackGauges(Collector):
    """Gauges computed at scrape time from a callback returning {label value: count}."""

    def __init__(self, name: str, documentation: str, label: str, values: tuple[str, ...]) -> None:
        self._name = name
        self._documentation = documentation
        self._label = label
        self._values = values
        self.source: Callable[[], Mapping[str, int]] | None = None

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self._name, self._documentation, labels=[self._label])
        counts = self.source() if self.source is not None else {}
        for value in self._values:
            family.add_metric([value], float(counts.get(value, 0)))
        yield family


class _CallbackGauge(Collector):
    def __init__(self, name: str, documentation: str) -> None:
        self._name = name
        self._documentation = documentation
        self.source: Callable[[], float] | None = None

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(self._name, self._documentation, value=self.source() if self.source else 0.0)


class StateMetrics:
    """Alertmanager's per-state families for the silences or the notification log
    (`alertmanager_silences_*` / `alertmanager_nflog_*`), plus tocsin's storage failure count.
    Implements `daemon.storage.StorageObserver` for that state's durable log."""

    def __init__(self, registry: CollectorRegistry, state: str, texts: Mapping[str, str], write_failures: Counter):
        prefix = f"alertmanager_{state}"
        self.gc_duration = Summary(f"{prefix}_gc_duration_seconds", texts["gc"], registry=registry)
        self.snapshot_duration = Summary(f"{prefix}_snapshot_duration_seconds", texts["snapshot"], registry=registry)
        self.snapshot_size = Gauge(f"{prefix}_snapshot_size_bytes", texts["size"], registry=registry)
        self.queries = Counter(f"{prefix}_queries", texts["queries"], registry=registry)
        self.query_errors = Counter(f"{prefix}_query_errors", texts["query_errors"], registry=registry)
        self.query_duration = Histogram(
            f"{prefix}_query_duration_seconds", texts["query_duration"], buckets=QUERY_DURATION_BUCKETS,
            registry=registry,
        )
        # Counted by the cluster's replication channel (zero with HA off, as in Alertmanager).
        self.gossip_messages_propagated = _CallbackCounter(
            f"{prefix}_gossip_messages_propagated_total",
            "Number of received gossip messages that have been further gossiped.",
        )
        registry.register(self.gossip_messages_propagated)
        self.write_failures = write_failures.labels(state)

    # daemon.storage.StorageObserver
    def write_failed(self) -> None:
        self.write_failures.inc()

    def snapshot_written(self, seconds: float, size_bytes: int) -> None:
        self.snapshot_duration.observe(seconds)
        self.snapshot_size.set(size_bytes)

    def garbage_collected(self, seconds: float) -> None:
        self.gc_duration.observe(seconds)


class CountedNotificationLog:
    """A `notify.context.NotificationLog` that counts and times queries as Alertmanager does:
    a query that finds no entry is a query error there (its nflog answers ErrNotFound)."""

    def __init__(self, inner: NotificationLog, metrics: StateMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def query(self, group_key: str, receiver_name: str, integration: str, index: int) -> NotificationLogEntry | None:
        metrics = self._metrics
        metrics.queries.inc()
        started = time.perf_counter()
        try:
            entry = self._inner.query(group_key, receiver_name, integration, index)
        except Exception:
            metrics.query_errors.inc()
            raise
        finally:
            metrics.query_duration.observe(time.perf_counter() - started)
        if entry is None:
            metrics.query_errors.inc()
        return entry

    def log(self, entry: NotificationLogEntry) -> None:
        self._inner.log(entry)


class CountedMuter:
    """A silencer (`notify.context.AlertMuter`) whose every decision counts as one silence
    query, as Alertmanager's silencer runs one query per alert it checks."""

    def __init__(self, inner: AlertMuter, metrics: StateMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        metrics = self._metrics
        metrics.queries.inc()
        started = time.perf_counter()
        try:
            return self._inner.mutes(labels, now)
        except Exception:
            metrics.query_errors.inc()
            raise
        finally:
            metrics.query_duration.observe(time.perf_counter() - started)


_SILENCES_TEXTS = {
    "gc": "Duration of the last silence garbage collection cycle.",
    "snapshot": "Duration of the last silence snapshot.",
    "size": "Size of the last silence snapshot in bytes.",
    "queries": "How many silence queries were received.",
    "query_errors": "How many silence received queries did not succeed.",
    "query_duration": "Duration of silence query evaluation.",
}
_NFLOG_TEXTS = {
    "gc": "Duration of the last notification log garbage collection cycle.",
    "snapshot": "Duration of the last notification log snapshot.",
    "size": "Size of the last notification log snapshot in bytes.",
    "queries": "Number of notification log queries were received.",
    "query_errors": "Number notification log received queries that failed.",
    "query_duration": "Duration of notification log query evaluation.",
}


class _CallbackCounter(Collector):
    """A counter whose value another component keeps (a plain integer read at scrape time)."""

    def __init__(self, name: str, documentation: str) -> None:
        self._name = name
        self._documentation = documentation
        self.source: Callable[[], float] | None = None

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(self._name, self._documentation, value=self.source() if self.source else 0.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, process_collectors: bool = False) -> None:
        # Alertmanager (client_golang) exposes no `*_created` series; prometheus-client would add
        # one per counter, histogram and summary. The switch is process-wide, which is what we want.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        if process_collectors:
            from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                r.register(collector)

        info = build_info()
        self.build_info = Gauge(
            "alertmanager_build_info",
            "A metric with a constant '1' value labeled by version, revision, branch, goversion from which "
            "alertmanager was built, and the goos and goarch for the build.",
            ["version", "revision", "branch", "goversion", "goos", "goarch"],
            registry=r,
        )
        goos, _, goarch = info.platform.partition("/")
        self.build_info.labels(info.version, info.revision, info.branch, info.runtime_version, goos, goarch).set(1)

        # HTTP (router routes only, as Alertmanager: API v2 is not instrumented there).
        self.http_request_duration = Histogram(
            "alertmanager_http_request_duration_seconds",
            "Histogram of latencies for HTTP requests.",
            ["handler", "method"],
            buckets=HTTP_DURATION_BUCKETS,
            registry=r,
        )
        self.http_response_size = Histogram(
            "alertmanager_http_response_size_bytes",
            "Histogram of response size for HTTP requests.",
            ["handler", "method"],
            buckets=HTTP_RESPONSE_SIZE_BUCKETS,
            registry=r,
        )
        self.http_requests_in_flight = Gauge(
            "alertmanager_http_requests_in_flight",
            "Current number of HTTP requests being processed.",
            ["method"],
            registry=r,
        ).labels("get")
        self.http_concurrency_limit_exceeded = Counter(
            "alertmanager_http_concurrency_limit_exceeded",
            "Total number of times an HTTP request failed because the concurrency limit was reached.",
            ["method"],
            registry=r,
        ).labels("get")

        # Ingest.
        self.alerts_received = Counter(
            "alertmanager_alerts_received",
            "The total number of received alerts.",
            ["version", "status"],
            registry=r,
        )
        self.alerts_invalid = Counter(
            "alertmanager_alerts_invalid",
            "The total number of received alerts that were invalid.",
            ["version"],
            registry=r,
        )
        for version in API_VERSIONS:
            self.alerts_invalid.labels(version)
            for status in ALERT_STATUSES:
                self.alerts_received.labels(version, status)

        self.alerts = _CallbackGauges(
            "alertmanager_alerts", "How many alerts by state.", "state", ALERT_STATES
        )
        r.register(self.alerts)
        self.marked_alerts = _CallbackGauges(
            "alertmanager_marked_alerts", "How many alerts by state are currently marked in the Alertmanager "
            "regardless of their expiry.", "state", ALERT_STATES
        )
        r.register(self.marked_alerts)

        self.silences = _CallbackGauges(
            "alertmanager_silences", "How many silences by state.", "state", SILENCE_STATES
        )
        r.register(self.silences)

        # Silences and notification log: Alertmanager's families, and tocsin's durable-write failures.
        self.storage_write_failures = Counter(
            "tocsin_storage_write_failures",
            "Failed appends, fsyncs and compactions of a durable state under --storage.path; a change that "
            "failed is not (yet) durable.",
            ["state"],
            registry=r,
        )
        self.silences_state = StateMetrics(r, "silences", _SILENCES_TEXTS, self.storage_write_failures)
        self.nflog_state = StateMetrics(r, "nflog", _NFLOG_TEXTS, self.storage_write_failures)

        # Configuration.
        self.config_hash = Gauge("alertmanager_config_hash", "Hash of the currently loaded alertmanager "
                                 "configuration.", registry=r)
        self.config_last_reload_successful = Gauge(
            "alertmanager_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            registry=r,
        )
        self.config_last_reload_success_timestamp = Gauge(
            "alertmanager_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            registry=r,
        )
        self.cluster_enabled = Gauge("alertmanager_cluster_enabled", "Indicates whether the clustering is enabled "
                                     "or not.", registry=r)
        self.receivers = Gauge("alertmanager_receivers", "Number of configured receivers.", registry=r)
        self.integrations = Gauge("alertmanager_integrations", "Number of configured integrations.", registry=r)

        # Dispatcher.
        self.dispatcher_aggregation_groups = _CallbackGauge(
            "alertmanager_dispatcher_aggregation_groups", "Number of active aggregation groups"
        )
        r.register(self.dispatcher_aggregation_groups)
        self.dispatcher_alert_processing_duration = Summary(
            "alertmanager_dispatcher_alert_processing_duration_seconds",
            "Summarizes processing time for alerts by the dispatcher.",
            registry=r,
        )

        # Notifications (updated by the pipeline through the objects handed to it).
        self.notifications = Counter(
            "alertmanager_notifications", "The total number of attempted notifications.", ["integration"], registry=r
        )
        self.notifications_failed = Counter(
            "alertmanager_notifications_failed", "The total number of failed notifications.", ["integration"],
            registry=r,
        )
        self.notification_requests = Counter(
            "alertmanager_notification_requests", "The total number of attempted notification requests.",
            ["integration"], registry=r,
        )
        self.notification_requests_failed = Counter(
            "alertmanager_notification_requests_failed", "The total number of failed notification requests.",
            ["integration"], registry=r,
        )
        self.notification_latency = Histogram(
            "alertmanager_notification_latency_seconds", "The latency of notifications in seconds.",
            ["integration"], buckets=NOTIFICATION_LATENCY_BUCKETS, registry=r,
        )
        for integration in PRECREATED_INTEGRATIONS:
            for metric in (
                self.notifications,
                self.notifications_failed,
                self.notification_requests,
                self.notification_requests_failed,
            ):
                metric.labels(integration)
            self.notification_latency.labels(integration)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# ---------------------------------------------------------------------- cluster


class ClusterPeerView(Protocol):
    """What the cluster metrics read from `cluster.peer.Peer` at scrape time."""

    name: str

    def cluster_size(self) -> int: ...

    def failed_peers(self) -> Sequence[object]: ...

    def position(self) -> int: ...

    @property
    def node(self) -> Any: ...

    @property
    def counters(self) -> Any: ...

    oversized_observer: Any
    ping_observer: Any

    @property
    def transport(self) -> Any: ...


class ClusterChannelView(Protocol):
    @property
    def counters(self) -> Any: ...


class ClusterReplicatorView(Protocol):
    @property
    def queued_broadcasts(self) -> int: ...

    @property
    def channels(self) -> Mapping[str, ClusterChannelView]: ...

    @property
    def messages(self) -> Any: ...


class _ClusterCollector(Collector):
    """Alertmanager's cluster gauges and oversize counters, computed from the running peer.
    Registered only when clustering is enabled (Alertmanager has none of them otherwise)."""

    def __init__(self, peer: ClusterPeerView, replicator: ClusterReplicatorView) -> None:
        self._peer = peer
        self._replicator = replicator

    def collect(self) -> Iterable[Metric]:
        peer = self._peer
        try:
            size, position, health = peer.cluster_size(), peer.position(), float(peer.node.health_score)
        except RuntimeError:  # not running yet (or any more): a lone, healthy member
            size, position, health = 1, 0, 0.0
        yield GaugeMetricFamily(
            "alertmanager_cluster_members", "Number indicating current number of members in cluster.", value=size
        )
        yield GaugeMetricFamily(
            "alertmanager_cluster_failed_peers",
            "Number indicating the current number of failed peers in the cluster.",
            value=len(peer.failed_peers()),
        )
        yield GaugeMetricFamily(
            "alertmanager_cluster_health_score",
            "Health score of the cluster. Lower values are better and zero means 'totally healthy'.",
            value=health,
        )
        yield GaugeMetricFamily(
            "alertmanager_peer_position",
            "Position the Alertmanager instance believes it's in. The position determines a peer's behavior "
            "in the cluster.",
            value=position,
        )
        info = GaugeMetricFamily(
            "alertmanager_cluster_peer_info", "A metric with a constant '1' value labeled by peer name.", labels=["peer"]
        )
        info.add_metric([peer.name], 1.0)
        yield info
        yield GaugeMetricFamily(
            "alertmanager_cluster_messages_queued",
            "Number of cluster messages which are queued.",
            value=self._replicator.queued_broadcasts,
        )
        channels = sorted(self._replicator.channels.items())
        sent = CounterMetricFamily(
            "alertmanager_oversized_gossip_message_sent",
            "Number of oversized gossip message sent.",
            labels=["key"],
        )
        dropped = CounterMetricFamily(
            "alertmanager_oversized_gossip_message_dropped",
            "Number of oversized gossip messages that were dropped due to a full message queue.",
            labels=["key"],
        )
        for key, channel in channels:
            sent.add_metric([key], float(channel.counters.oversized_queued))
            dropped.add_metric([key], float(channel.counters.oversized_dropped))
        yield sent
        yield dropped
        yield from self._message_families()
        yield from self._membership_families()
        yield from self._tls_families()

    def _tls_families(self) -> Iterable[Metric]:
        """Only in TLS mode (`--cluster.tls-config`), as in Alertmanager."""
        counters = getattr(self._peer.transport, "tls_counters", None)
        if counters is None:
            return
        prefix = "alertmanager_tls_transport_"
        for name, documentation, value in (
            ("packet_bytes_sent", "The number of packet bytes sent to outgoing connections (excluding internal "
             "metadata).", counters.packet_bytes_sent),
            ("packet_bytes_received", "The number of packet bytes received from incoming connections (excluding "
             "internal metadata).", counters.packet_bytes_received),
            ("stream_connections_sent", "The number of stream connections sent.", counters.streams_sent),
            ("stream_connections_received", "The number of stream connections received.",
             counters.streams_received),
            ("read_errors", "The number of errors encountered while reading from incoming connections.",
             counters.read_errors),
        ):
            yield CounterMetricFamily(prefix + name, documentation, value=value)
        write_errors = CounterMetricFamily(
            prefix + "write_errors",
            "The number of errors encountered while writing to outgoing connections.",
            labels=["connection_type"],
        )
        for connection_type, count in sorted(counters.write_errors.items()):
            write_errors.add_metric([connection_type], float(count))
        # Like a labelled counter in client_golang: no family at all before the first failure.
        if counters.write_errors:
            yield write_errors

    def _message_families(self) -> Iterable[Metric]:
        messages = self._replicator.messages
        for name, documentation, counts in (
            ("received", "Total number of cluster messages received.", messages.received),
            ("received_size", "Total size of cluster messages received.", messages.received_bytes),
            ("sent", "Total number of cluster messages sent.", messages.sent),
            ("sent_size", "Total size of cluster messages sent.", messages.sent_bytes),
        ):
            family = CounterMetricFamily(
                f"alertmanager_cluster_messages_{name}", documentation, labels=["msg_type"]
            )
            for message_type, count in sorted(counts.items()):
                family.add_metric([message_type], float(count))
            yield family
        yield CounterMetricFamily(
            "alertmanager_cluster_messages_pruned", "Total number of cluster messages pruned.",
            value=messages.pruned,
        )

    def _membership_families(self) -> Iterable[Metric]:
        counters = self._peer.counters
        for name, documentation, value in (
            ("peers_joined", "A counter of the number of peers that have joined.", counters.peers_joined),
            ("peers_left", "A counter of the number of peers that have left.", counters.peers_left),
            ("peers_update", "A counter of the number of peers that have updated metadata.",
             counters.peers_updated),
            ("reconnections", "A counter of the number of cluster peer reconnections.", counters.reconnections),
            ("reconnections_failed", "A counter of the number of failed cluster peer reconnection attempts.",
             counters.reconnections_failed),
            ("refresh_join", "A counter of the number of cluster peer joined via refresh.", counters.refresh_joins),
            ("refresh_join_failed", "A counter of the number of failed cluster peer joined attempts via refresh.",
             counters.refresh_joins_failed),
        ):
            yield CounterMetricFamily(f"alertmanager_cluster_{name}", documentation, value=value)
        alive = CounterMetricFamily(
            "alertmanager_cluster_alive_messages", "Total number of received alive messages.", labels=["peer"]
        )
        for member_name, count in sorted(counters.alive_messages.items()):
            alive.add_metric([member_name], float(count))
        if counters.alive_messages:  # as client_golang: no family before the first sample
            yield alive


class _OversizedSendMetrics:
    """`cluster.peer.OversizedSendObserver`: each direct send of an oversized message to a member."""

    def __init__(self, registry: CollectorRegistry, keys: Iterable[str]) -> None:
        self.failures = Counter(
            "alertmanager_oversized_gossip_message_failure",
            "Number of oversized gossip message sends that failed.",
            ["key"],
            registry=registry,
        )
        self.duration = Histogram(
            "alertmanager_oversize_gossip_message_duration_seconds",
            "Duration of oversized gossip message requests.",
            ["key"],
            buckets=QUERY_DURATION_BUCKETS,
            registry=registry,
        )
        for key in keys:
            self.failures.labels(key)
            self.duration.labels(key)

    def oversized_sent(self, key: str, seconds: float, ok: bool) -> None:
        self.duration.labels(key).observe(seconds)
        if not ok:
            self.failures.labels(key).inc()


class _PingMetrics:
    """`cluster.peer.PingObserver`: round-trip time of each acked direct probe, per member."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pings = Histogram(
            "alertmanager_cluster_pings_seconds",
            "Histogram of latencies for ping messages.",
            ["peer"],
            buckets=PING_BUCKETS,
            registry=registry,
        )

    def ping_completed(self, member_name: str, seconds: float) -> None:
        self.pings.labels(member_name).observe(seconds)


# Replication channel keys (Alertmanager's) and the state whose metrics count their gossip.
_CHANNEL_STATES = {"sil": "silences_state", "nfl": "nflog_state"}


def register_cluster_metrics(metrics: Metrics, peer: ClusterPeerView, replicator: ClusterReplicatorView) -> None:
    metrics.registry.register(_ClusterCollector(peer, replicator))
    peer.oversized_observer = _OversizedSendMetrics(metrics.registry, sorted(replicator.channels))
    peer.ping_observer = _PingMetrics(metrics.registry)
    for key, channel in replicator.channels.items():
        state_attribute = _CHANNEL_STATES.get(key)
        if state_attribute is not None:
            counters = channel.counters
            state: StateMetrics = getattr(metrics, state_attribute)
            state.gossip_messages_propagated.source = lambda counters=counters: float(counters.propagated)
