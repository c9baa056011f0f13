"""The composition root: flags → config → state → tasks, under one root nursery.

Lifetime of the process:
- long-lived state, built once: marker, alert store, silences and notification log (each
  loaded from `--storage.path` and kept durable there), metrics;
- per-config state (`Runtime`), rebuilt on every successful reload (SIGHUP or
  `POST /-/reload`): routing tree, inhibitor (fed by its own store subscription), silencer,
  notifier pipelines and dispatcher. A failed reload leaves the running one untouched;
  alerts stay in the store and the new dispatcher re-groups them from its snapshot;
- background tasks: API server, alert GC, silence and nflog maintenance (GC + snapshot,
  once more at shutdown), signal handling;
- with `--cluster.listen-address` set, the cluster peer (`daemon.cluster_glue`): started
  before the dispatcher, it gates notifications until settled, gives the wait stage its
  position and replicates silences and the notification log.

SIGTERM/SIGINT first leave the cluster (bounded by the peer), then cancel the root nursery;
shielded final snapshots run, and a watchdog ends the process if shutdown takes longer than
`SHUTDOWN_TIMEOUT_SECONDS`.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Container, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from daemon import logs
from daemon.alerts import AlertStore, AlertUpdate
from daemon.api.alerts import AlertsAPI, AlertsRuntime, GeneralAPI
from daemon.api.server import ApiApplication, WebOptions, serve
from daemon.api.silences import SilencesAPI
from daemon.batches import load_silence_records, silence_snapshot_records
from daemon.config.loader import ConfigError, default_config, load_config_file
from daemon.config.model import Config
from daemon.dispatch import Dispatcher
from daemon.flags import Flags, external_url, parse_or_exit_code, route_prefix
from daemon.inhibit import Inhibitor
from daemon.integrations import (
    IntegrationBuildError,
    MetricsObserver,
    build_notifiers,
    close_notifiers,
    referenced_receivers,
)
from daemon.marker import STATE_ACTIVE, STATE_SUPPRESSED, STATE_UNPROCESSED, Marker
from daemon.metrics import (
    CountedMuter,
    CountedNotificationLog,
    Metrics,
    config_hash,
    register_cluster_metrics,
)
from daemon.nflog import NotificationLog
from daemon.routing import Route
from daemon.silences import AlertSilenceTable, Silencer, Silences, record_change
from daemon.storage import DurableLog, run_maintenance
from daemon.version import build_info
from daemon.webconfig import WebConfigError
from notify.context import ClusterGate, TimeIntervals

if TYPE_CHECKING:
    # The cluster packages load only with --cluster.listen-address set (HA on): importing
    # them costs tens of milliseconds of every start-up.
    from daemon.cluster_glue import ClusterGlue

logger = logging.getLogger("tocsin.main")

EXIT_OK = 0
EXIT_FAILURE = 1
# Alertmanager bounds leaving the cluster at 10s; snapshots with HA off take milliseconds.
# Past this the watchdog ends the process so a stuck disk cannot hang a rolling restart.
SHUTDOWN_TIMEOUT_SECONDS = 15.0
# Notification-log writes, and silences merged from peers, are appended without waiting for
# disk; this is how often they are committed (a crash loses at most this much: a re-send or
# a silence that the peers still hold and give back by push/pull, not a loss).
BACKGROUND_COMMIT_INTERVAL_SECONDS = 1.0


# CPython's default (700 allocations) runs the cyclic collector every few hundred objects; with
# 100,000 alerts in memory each full pass costs milliseconds and a GET of all alerts
# allocates a million objects. Collecting every 50,000 allocations instead cuts the
# collector's share of such a request from most of it to a few percent.
GC_GENERATION0_THRESHOLD = 50_000
GC_GENERATION1_THRESHOLD = 20
GC_GENERATION2_THRESHOLD = 100


def utc_now() -> datetime:
    return datetime.now(UTC)


class StartupError(Exception):
    """Start-up cannot continue; already logged the way Alertmanager logs it."""


@dataclasses.dataclass
class Runtime:
    """Everything a config reload replaces."""

    config: Config
    raw_config: bytes
    route: Route
    inhibitor: Inhibitor
    silencer: Silencer
    dispatcher: Dispatcher
    notifiers: Mapping[str, object]
    api: AlertsRuntime
    inhibitor_feed: trio.CancelScope = dataclasses.field(default_factory=trio.CancelScope)


def _read_config(flags: Flags) -> tuple[Config, bytes]:
    """The config named by `--config.file`; the embedded default when the flag was not given
    and the default path does not exist. Raises ConfigError."""
    path = flags.config_file
    if not flags.config_file_given and not os.path.exists(path):
        logger.info(
            "No configuration file found, using the embedded default",
            extra={"component": "configuration", "file": path},
        )
        return default_config(), b""
    logger.info("Loading configuration file", extra={"component": "configuration", "file": path})
    config = load_config_file(path)
    try:
        raw = Path(path).read_bytes()
    except OSError:
        raw = b""
    logger.info("Completed loading of configuration file", extra={"component": "configuration", "file": path})
    return config, raw


def _integration_count(config: Config) -> int:
    used = referenced_receivers(config.route)
    return sum(
        len(entries) for receiver in config.receivers if receiver.name in used for entries in receiver.integrations.values()
    )


class Application:
    def __init__(
        self,
        flags: Flags,
        external: str,
        prefix: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        freeze_loaded_state: bool = False,
    ) -> None:
        self.flags = flags
        # gc.freeze() is process-wide: only the process entry point asks for it, not tests
        # that run an Application inside their own process.
        self.freeze_loaded_state = freeze_loaded_state
        self.external_url = external
        self.route_prefix = prefix
        self.clock = clock
        self.metrics = Metrics(process_collectors=True)
        self.marker = Marker()
        self.store = AlertStore(self.marker, on_deleted=self._alert_deleted)
        self.silences = Silences(retention=flags.data_retention)
        # Which silences match which stored alert, kept current on both sides' changes.
        self.silence_table = AlertSilenceTable(self.silences)
        self.store.add_observer(self.silence_table)
        self.nflog = NotificationLog()
        self.started_at = clock()
        self.runtime: Runtime | None = None
        self._reload_lock = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self.bound_addresses: list[str] = []
        storage = Path(flags.storage_path)
        self.silences_log = DurableLog(storage, "silences", self.metrics.silences_state)
        self.nflog_log = DurableLog(storage, "nflog", self.metrics.nflog_state)
        # Built in `run` when --cluster.listen-address is set (HA on).
        self.cluster: ClusterGlue | None = None

    # ------------------------------------------------------------------ state

    def _alert_deleted(self, update: AlertUpdate) -> None:
        if self.runtime is not None:
            self.runtime.inhibitor.forget(update.fingerprint)

    def _load_durable_state(self) -> None:
        # Loading builds hundreds of thousands of objects that live until their silence or
        # entry goes (freed then by reference counting) and no garbage cycles. The cyclic
        # collector would only traverse them again and again: during the load, and after it
        # in every full collection (tens of milliseconds each, the first GET's among them).
        # So it is paused while they are built, and then told to leave them alone.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._load_durable_state_unpaused()
        finally:
            if self.freeze_loaded_state:
                gc.freeze()
            if collecting:
                gc.enable()

    def _load_durable_state_unpaused(self) -> None:
        now = self.clock()
        malformed = load_silence_records(self.silences, self.silences_log.load(), now)
        if malformed:
            logger.error("Skipped malformed silence records", extra={"count": malformed})
        self.silences.add_listener(lambda change: self.silences_log.append(record_change(change)))
        # Merged when the notification log is first used, after the API serves.
        self.nflog.defer_records(self.nflog_log.load(), now)
        self.nflog.on_local_write = self.nflog_log.append

    def _build_cluster(self) -> None:
        """The peer and its channels (after the durable state is loaded, so loading does not
        broadcast). Raises StartupError for bad cluster settings."""
        if not self.flags.cluster_enabled:
            return
        from cluster.peer import PeerError
        from cluster.security import SecurityError
        from cluster.tlsconfig import TLSConfigError
        from daemon.cluster_glue import build_cluster

        try:
            self.cluster = build_cluster(
                self.flags,
                self.silences,
                self.nflog,
                clock=self.clock,
                silences_log=self.silences_log,
                nflog_log=self.nflog_log,
            )
        except (PeerError, TLSConfigError, SecurityError, OSError, ValueError) as error:
            logger.error("unable to initialize gossip mesh", extra={"err": str(error)})
            raise StartupError(str(error)) from None

    def _gate(self) -> ClusterGate | None:
        return self.cluster.peer if self.cluster is not None else None

    def _peer_wait_seconds(self) -> float:
        if self.cluster is None:
            return 0.0
        return self.cluster.peer_wait_seconds(self.flags.cluster_peer_timeout.total_seconds())

    def _build_runtime(self, config: Config, raw: bytes) -> Runtime:
        """Raises IntegrationBuildError (or ValueError) for configs whose receivers cannot be built."""
        route = Route.from_config(config.route)
        inhibitor = Inhibitor(config.inhibit_rules, self.marker)
        metrics = self.metrics
        silencer = Silencer(self.silences, self.marker, self.silence_table)
        time_intervals = _time_intervals(config)
        notifiers = build_notifiers(
            config,
            self.external_url,
            nflog=CountedNotificationLog(self.nflog, metrics.nflog_state),
            inhibitor=inhibitor,
            silencer=CountedMuter(silencer, metrics.silences_state),
            time_intervals=time_intervals,
            gate=self._gate(),
            peer_timeout=self.flags.cluster_peer_timeout,
            nflog_retention=self.flags.data_retention,
            observer=MetricsObserver(
                metrics.notifications,
                metrics.notifications_failed,
                metrics.notification_requests,
                metrics.notification_requests_failed,
                metrics.notification_latency,
            ),
        )
        dispatcher = Dispatcher(
            route,
            self.store,
            notifiers,
            self.clock,
            peer_wait=self._peer_wait_seconds,
            observe_processing=metrics.dispatcher_alert_processing_duration.observe,
        )

        marker = self.marker
        has_inhibit_rules = bool(config.inhibit_rules)

        def set_alert_status(fingerprint: int, labels: Mapping[str, str], now: datetime) -> None:
            # Skipping an evaluation whose answer is known to be "nothing" keeps a GET of
            # 100,000 alerts fast: without rules nothing inhibits, without silences nothing silences.
            if has_inhibit_rules or marker.status(fingerprint).inhibited_by:
                inhibitor.update_status(fingerprint, labels, now)
            silencer.update_status(fingerprint, labels, now)

        silence_table = self.silence_table

        def maybe_muted() -> Container[int] | None:
            # Inhibition needs a source alert: with none (or no rules), only silences mute.
            if marker.any_inhibited() or inhibitor.source_count():
                return None
            return silence_table.matched_fingerprints()

        api = AlertsRuntime(
            route=route,
            resolve_timeout=config.resolve_timeout,
            receiver_names=tuple(receiver.name for receiver in config.receivers),
            original_config=config.original,
            set_alert_status=set_alert_status,
            maybe_muted=maybe_muted,
            groups=dispatcher.groups,
        )
        return Runtime(config, raw, route, inhibitor, silencer, dispatcher, notifiers, api)

    def current_api_runtime(self) -> AlertsRuntime:
        assert self.runtime is not None, "the API starts after the first runtime"
        return self.runtime.api

    async def _start_runtime(self, runtime: Runtime) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(self._feed_inhibitor, runtime)
        await self._nursery.start(runtime.dispatcher.run)
        self.runtime = runtime
        self._record_config_metrics(runtime)

    async def _feed_inhibitor(self, runtime: Runtime) -> None:
        """The inhibitor sees every stored alert (a snapshot first), until its runtime ends."""
        with runtime.inhibitor_feed:
            subscription = self.store.subscribe()
            with subscription:
                async for batch in subscription:
                    for update in batch:
                        runtime.inhibitor.observe(update.alert)

    async def _stop_runtime(self, runtime: Runtime) -> None:
        runtime.inhibitor_feed.cancel()
        runtime.dispatcher.stop()
        await close_notifiers(runtime.notifiers)  # type: ignore[arg-type]

    def _record_config_metrics(self, runtime: Runtime) -> None:
        metrics = self.metrics
        metrics.config_hash.set(config_hash(runtime.raw_config))
        metrics.config_last_reload_successful.set(1)
        metrics.config_last_reload_success_timestamp.set(self.clock().timestamp())
        metrics.receivers.set(len(referenced_receivers(runtime.config.route)))
        metrics.integrations.set(_integration_count(runtime.config))

    def _wire_gauges(self) -> None:
        metrics = self.metrics

        def alert_counts() -> dict[str, int]:
            now = self.clock()
            counts = {STATE_ACTIVE: 0, STATE_SUPPRESSED: 0, STATE_UNPROCESSED: 0}
            for update in self.store.items():
                if not update.alert.resolved_at(now):
                    state = self.marker.status(update.fingerprint).state
                    counts[state] = counts.get(state, 0) + 1
            return counts

        metrics.alerts.source = alert_counts
        metrics.marked_alerts.source = lambda: {
            state: self.marker.count(state) for state in (STATE_ACTIVE, STATE_SUPPRESSED, STATE_UNPROCESSED)
        }
        metrics.dispatcher_aggregation_groups.source = lambda: float(
            self.runtime.dispatcher.group_count if self.runtime is not None else 0
        )
        metrics.silences.source = lambda: {
            state.value: count for state, count in self.silences.count_by_state(self.clock()).items()
        }
        metrics.cluster_enabled.set(1 if self.cluster is not None else 0)
        if self.cluster is not None:
            register_cluster_metrics(metrics, self.cluster.peer, self.cluster.replicator)

    # ------------------------------------------------------------------ reload

    async def reload(self) -> str | None:
        """Load the config file again; returns the error text, or None when the new config runs."""
        async with self._reload_lock:
            try:
                config, raw = _read_config(self.flags)
                runtime = self._build_runtime(config, raw)
            except (ConfigError, IntegrationBuildError, ValueError) as error:
                logger.error(
                    "Loading configuration file failed",
                    extra={"component": "configuration", "file": self.flags.config_file, "err": str(error)},
                )
                self.metrics.config_last_reload_successful.set(0)
                return str(error)
            old = self.runtime
            if old is not None:
                await self._stop_runtime(old)
            await self._start_runtime(runtime)
            return None

    # ------------------------------------------------------------------ run

    async def run(self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            config, raw = _read_config(self.flags)
        except ConfigError as error:
            self._log_config_error(error)
            raise StartupError(str(error)) from None
        try:
            self._load_durable_state()
        except OSError as error:
            logger.error("Failed to open the storage directory", extra={"err": str(error)})
            raise StartupError(str(error)) from None
        self._build_cluster()
        try:
            first_runtime = self._build_runtime(config, raw)
        except (IntegrationBuildError, ValueError) as error:
            self._log_config_error(error)
            raise StartupError(str(error)) from None
        self._wire_gauges()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self.cluster is not None:
                from cluster.peer import PeerError

                try:
                    await nursery.start(self.cluster.peer.run)
                except (OSError, PeerError, BaseExceptionGroup) as failure:
                    # Binding happens inside the peer's own nursery, so errors may come grouped.
                    cause = _startup_failure(failure, (OSError, PeerError))
                    if cause is None:
                        raise
                    logger.error("unable to initialize gossip mesh", extra={"err": str(cause)})
                    raise StartupError(str(cause)) from None
                nursery.start_soon(self.cluster.nflog_broadcaster.run)
            await self._start_runtime(first_runtime)
            await nursery.start(self._run_maintenance)
            nursery.start_soon(self.store.run_gc, self.flags.alerts_gc_interval.total_seconds(), self.clock)
            nursery.start_soon(self._commit_logs_periodically)
            api = self._build_api()
            try:
                self.bound_addresses = await nursery.start(serve, api, self.flags.web_listen_addresses)
            except WebConfigError as error:
                logger.error("Listen error", extra={"err": str(error)})
                raise StartupError(str(error)) from None
            except OSError as error:
                logger.error("Listen error", extra={"err": _listen_error_text(self.flags, error)})
                raise StartupError(str(error)) from None
            for address in self.bound_addresses:
                logger.info("Listening on", extra={"address": address.removeprefix("http://")})
            task_status.started(self.bound_addresses)

    async def _run_maintenance(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        interval = self.flags.data_maintenance_interval.total_seconds()
        async with trio.open_nursery() as nursery:
            await nursery.start(
                run_maintenance,
                self.silences_log,
                lambda: self.silences.gc(self.clock()),
                lambda: silence_snapshot_records(self.silences),
                interval,
            )
            await nursery.start(
                run_maintenance,
                self.nflog_log,
                lambda: self.nflog.gc(self.clock()),
                self.nflog.snapshot_records,
                interval,
            )
            task_status.started()

    def _log_config_error(self, error: Exception) -> None:
        logger.error(
            "Loading configuration file failed",
            extra={"component": "configuration", "file": self.flags.config_file, "err": str(error)},
        )

    async def _commit_logs_periodically(self) -> None:
        """Commit appends that had no commit of their own at most
        BACKGROUND_COMMIT_INTERVAL_SECONDS after the first of them; with none (an idle
        replica) sleep instead of waking every interval for nothing."""
        logs = ((self.nflog_log, "notification log"), (self.silences_log, "silences"))

        def arm() -> trio.Event:
            appended = trio.Event()
            for log, _ in logs:
                log.on_append = appended.set
            return appended

        appended = arm()
        while True:
            await appended.wait()
            await trio.sleep(BACKGROUND_COMMIT_INTERVAL_SECONDS)
            # Re-armed before committing: whatever is appended from here on, even during
            # the commit, wakes the next round.
            appended = arm()
            for log, what in logs:
                try:
                    await log.commit()
                except OSError as error:
                    logger.error(f"Failed to write the {what}", extra={"err": str(error)})

    async def leave_cluster(self) -> None:
        """Announce our departure to the peers (bounded by the peer's leave timeout), so they
        stop waiting for us at once instead of after failure detection."""
        if self.cluster is not None:
            await self.cluster.peer.leave()

    def _build_api(self) -> ApiApplication:
        metrics = self.metrics
        alerts = AlertsAPI(
            self.store,
            self.marker,
            self.current_api_runtime,
            received_total=metrics.alerts_received,
            invalid_total=metrics.alerts_invalid,
            clock=self.clock,
        )
        cluster = self.cluster
        if cluster is not None:
            general = GeneralAPI(
                self.current_api_runtime, build_info().as_status(), self.started_at, cluster_status=cluster.status
            )
        else:
            general = GeneralAPI(self.current_api_runtime, build_info().as_status(), self.started_at)
        silences = SilencesAPI(self.silences, commit=self.silences_log.commit, clock=self.clock)
        options = WebOptions(
            self.route_prefix, self.flags.web_get_concurrency, self.flags.web_timeout, self.flags.web_config_file
        )
        return ApiApplication(options, alerts=alerts, general=general, metrics=metrics, reload=self.reload, silences=silences)

    def close(self) -> None:
        self.silences_log.close()
        self.nflog_log.close()


def _time_intervals(config: Config) -> TimeIntervals | None:
    try:
        from daemon.timeintervals import TimeIntervalSet
    except ImportError:  # lands in parallel; without it, routes' time intervals never match
        return None
    return TimeIntervalSet(config.time_intervals)


def _startup_failure(
    failure: BaseException, expected: tuple[type[Exception], ...]
) -> BaseException | None:
    """The expected error in `failure` (itself, or the only leaf of an exception group)."""
    if isinstance(failure, BaseExceptionGroup):
        if len(failure.exceptions) != 1:
            return None
        return _startup_failure(failure.exceptions[0], expected)
    return failure if isinstance(failure, expected) else None


def _listen_error_text(flags: Flags, error: OSError) -> str:
    address = flags.web_listen_addresses[0] if flags.web_listen_addresses else ""
    reason = (error.strerror or str(error)).lower()
    return f"listen tcp {address}: bind: {reason}"


# ---------------------------------------------------------------------- process entry


async def _main(app: Application) -> None:
    with trio.open_signal_receiver(signal.SIGHUP, signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(app.run)
            async for received in signals:
                if received == signal.SIGHUP:
                    await app.reload()
                    continue
                name = "SIGTERM" if received == signal.SIGTERM else "SIGINT"
                logger.info(f"Received {name}, exiting gracefully...")
                _start_shutdown_watchdog()
                await app.leave_cluster()
                nursery.cancel_scope.cancel()
                break


def _start_shutdown_watchdog() -> None:
    def give_up() -> None:
        logger.error("Shutdown took too long, exiting", extra={"timeout_seconds": SHUTDOWN_TIMEOUT_SECONDS})
        logging.shutdown()
        os._exit(EXIT_FAILURE)

    timer = threading.Timer(SHUTDOWN_TIMEOUT_SECONDS, give_up)
    timer.daemon = True
    timer.start()


def run_from_args(argv: list[str]) -> int:
    flags, exit_code = parse_or_exit_code(argv, sys.stdout, sys.stderr)
    if flags is None:
        return exit_code
    logs.configure(flags.log_level, flags.log_format)
    version, context = build_info().start_fields()
    logger.info("Starting Alertmanager", extra={"version": version})
    logger.info("", extra={"build_context": context})
    try:
        external = external_url(flags, socket.gethostname())
    except ValueError as error:
        logger.error("failed to determine external URL", extra={"err": str(error)})
        return EXIT_FAILURE
    prefix = route_prefix(flags, external)
    try:
        os.makedirs(flags.storage_path, mode=0o777, exist_ok=True)
    except OSError as error:
        logger.error("Unable to create data directory", extra={"err": str(error)})
        return EXIT_FAILURE
    gc.set_threshold(GC_GENERATION0_THRESHOLD, GC_GENERATION1_THRESHOLD, GC_GENERATION2_THRESHOLD)
    app = Application(flags, external, prefix, freeze_loaded_state=True)
    try:
        trio.run(_main, app)
    except StartupError:
        return EXIT_FAILURE
    except BaseExceptionGroup as group:
        startup_errors = group.subgroup(lambda error: isinstance(error, StartupError))
        if startup_errors is not None:
            return EXIT_FAILURE
        raise
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    logger.info("See you next time!")
    return EXIT_OK
