"""Turns the configured receivers into `notify` pipelines (the composition of integrations,
muters, time intervals, the cluster gate and the notification log).

    notifiers = build_notifiers(config, external_url, nflog=nflog, inhibitor=..., silencer=...,
                                time_intervals=..., gate=..., observer=MetricsObserver(...))
    # dict receiver name -> ReceiverPipeline (a notify.context.Notifier)
    ...
    await close_notifiers(notifiers)   # after a reload swapped them out

Each `<type>_configs` key of a receiver maps to a factory in `FACTORIES`, called with the
loader's settings mapping and a `BuildContext` (external URL, the loaded templates and, in
tests, a replacement HTTP transport). The templates are `notify.template.Templates` with the
built-in files and the config's `templates:` globs; `build_notifiers` loads them from the
config unless the caller passes them. Integration types without an implementation yet are
logged and skipped, so a config that uses them still loads (their notifications are not sent).
Settings that cannot be turned into an integration (for example an unreadable CA file) or
template files that do not parse raise `IntegrationBuildError`, and the reload fails before
the running pipelines are touched, as in Alertmanager.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import random
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

import httpx

from daemon.config.model import Config, Receiver, RouteConfig
from notify.context import AlertMuter, ClusterGate, NotificationLog, TimeIntervals
from notify.httpclient import UnsupportedHttpConfigError, build_client
from notify.pipeline import (
    DEFAULT_NFLOG_RETENTION,
    DEFAULT_PEER_TIMEOUT,
    Integration,
    NotificationObserver,
    ReceiverPipeline,
)
from notify.receivers.webhook import WebhookConfig, WebhookIntegration
from notify.template import TemplateError, Templates

logger = logging.getLogger("daemon.integrations")

# The YAML key of each integration list and the type name used in metrics and the nflog.
CONFIG_KEY_SUFFIX = "_configs"


class IntegrationBuildError(ValueError):
    pass


def integration_type(config_key: str) -> str:
    """`webhook_configs` -> `webhook` (the name in metrics labels and nflog keys)."""
    return config_key.removesuffix(CONFIG_KEY_SUFFIX)


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What every factory may need besides its own settings."""

    external_url: str
    templates: Templates
    # Replaces the network in tests; None in production.
    transport: httpx.AsyncBaseTransport | None = None


def _client(raw: Mapping[str, Any], context: BuildContext) -> httpx.AsyncClient:
    return build_client(raw.get("http_config") or {}, transport=context.transport)


def _build_webhook(
    receiver: Receiver, index: int, raw: Mapping[str, Any], context: BuildContext
) -> Integration:
    config = WebhookConfig.from_mapping(raw)
    return WebhookIntegration(receiver.name, index, config, _client(raw, context), context.external_url)


class _TemplatedConfig(Protocol):
    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Any: ...


def _templated_http(
    module: str, config_name: str, integration_name: str
) -> Callable[[Receiver, int, Mapping[str, Any], BuildContext], Integration]:
    """A factory for the integrations built as (receiver, index, config, client, templates,
    external URL). The receiver's module is imported on first use: most configs use one or two
    types, and some modules are costly to import (SNS pulls in botocore, ~150 ms), which every
    replica's start-up would otherwise pay."""

    def build(receiver: Receiver, index: int, raw: Mapping[str, Any], context: BuildContext) -> Integration:
        loaded = importlib.import_module(f"notify.receivers.{module}")
        config_type: type[_TemplatedConfig] = getattr(loaded, config_name)
        integration_class: Callable[..., Integration] = getattr(loaded, integration_name)
        config = config_type.from_mapping(raw)
        return integration_class(
            receiver.name, index, config, _client(raw, context), context.templates, context.external_url
        )

    return build


def _build_email(
    receiver: Receiver, index: int, raw: Mapping[str, Any], context: BuildContext
) -> Integration:
    # Imported on first use, like the templated receivers (~100 ms of start-up otherwise).
    from notify.receivers.email import EmailIntegration

    return EmailIntegration.from_settings(
        receiver.name, index, raw, context.templates, external_url=context.external_url
    )


IntegrationFactory = Callable[[Receiver, int, Mapping[str, Any], BuildContext], Integration]

FACTORIES: dict[str, IntegrationFactory] = {
    "webhook_configs": _build_webhook,
    "email_configs": _build_email,
    "slack_configs": _templated_http("slack", "SlackConfig", "SlackIntegration"),
    "pagerduty_configs": _templated_http("pagerduty", "PagerdutyConfig", "PagerdutyIntegration"),
    "opsgenie_configs": _templated_http("opsgenie", "OpsgenieConfig", "OpsgenieIntegration"),
    "victorops_configs": _templated_http("victorops", "VictorOpsConfig", "VictorOpsIntegration"),
    "discord_configs": _templated_http("discord", "DiscordConfig", "DiscordIntegration"),
    "webex_configs": _templated_http("webex", "WebexConfig", "WebexIntegration"),
    "telegram_configs": _templated_http("telegram", "TelegramConfig", "TelegramIntegration"),
    "wechat_configs": _templated_http("wechat", "WechatConfig", "WechatIntegration"),
    "pushover_configs": _templated_http("pushover", "PushoverConfig", "PushoverIntegration"),
    "sns_configs": _templated_http("sns", "SnsConfig", "SnsIntegration"),
}


def build_integrations(
    receiver: Receiver,
    external_url: str,
    transport: httpx.AsyncBaseTransport | None = None,
    templates: Templates | None = None,
) -> list[Integration]:
    context = BuildContext(
        external_url=external_url,
        templates=templates if templates is not None else Templates.with_defaults(),
        transport=transport,
    )
    integrations: list[Integration] = []
    for config_key, entries in receiver.integrations.items():
        if not entries:
            continue
        factory = FACTORIES.get(config_key)
        if factory is None:
            logger.warning(
                "integration type not supported yet, skipping receiver=%s integration=%s count=%d",
                receiver.name,
                integration_type(config_key),
                len(entries),
            )
            continue
        for index, raw in enumerate(entries):
            try:
                integrations.append(factory(receiver, index, raw, context))
            except (ValueError, OSError, UnsupportedHttpConfigError) as error:
                raise IntegrationBuildError(
                    f'receiver "{receiver.name}": {integration_type(config_key)}[{index}]: {error}'
                ) from error
    return integrations


def load_templates(config: Config) -> Templates:
    """The built-in templates plus the config's globs; a file that does not parse fails the
    (re)load, as in Alertmanager."""
    try:
        return Templates.with_defaults(config.templates)
    except (TemplateError, OSError) as error:
        raise IntegrationBuildError(f"failed to parse templates: {error}") from error


def referenced_receivers(route: RouteConfig) -> set[str]:
    """Receiver names some route node names (children without one inherit their parent's)."""
    names: set[str] = set()
    pending = [route]
    while pending:
        node = pending.pop()
        if node.receiver:
            names.add(node.receiver)
        pending.extend(node.routes)
    return names


def build_notifiers(
    config: Config,
    external_url: str,
    *,
    nflog: NotificationLog,
    inhibitor: AlertMuter | None = None,
    silencer: AlertMuter | None = None,
    time_intervals: TimeIntervals | None = None,
    gate: ClusterGate | None = None,
    peer_timeout: timedelta = DEFAULT_PEER_TIMEOUT,
    nflog_retention: timedelta = DEFAULT_NFLOG_RETENTION,
    observer: NotificationObserver | None = None,
    rng: random.Random | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    templates: Templates | None = None,
) -> dict[str, ReceiverPipeline]:
    """One pipeline per receiver that a route uses (Alertmanager skips the others, so their
    settings cannot fail a reload). `external_url` is the --web.external-url (a trailing slash
    is dropped, as Alertmanager shows it without one). `transport` replaces the network in
    tests. `templates` default to the built-ins plus the config's `templates:` globs."""
    if templates is None:
        templates = load_templates(config)
    shown_url = external_url.rstrip("/")
    shared_rng = rng if rng is not None else random.Random()
    used = referenced_receivers(config.route)
    for receiver in config.receivers:
        if receiver.name not in used:
            logger.info(
                "skipping creation of receiver not referenced by any route receiver=%s", receiver.name
            )
    return {
        receiver.name: ReceiverPipeline(
            receiver.name,
            build_integrations(receiver, shown_url, transport, templates),
            nflog=nflog,
            inhibitor=inhibitor,
            silencer=silencer,
            time_intervals=time_intervals,
            gate=gate,
            peer_timeout=peer_timeout,
            nflog_retention=nflog_retention,
            rng=shared_rng,
            observer=observer,
        )
        for receiver in config.receivers
        if receiver.name in used
    }


async def close_notifiers(notifiers: Mapping[str, ReceiverPipeline]) -> None:
    for pipeline in notifiers.values():
        await pipeline.aclose()


class _LabelledCounter(Protocol):
    def labels(self, *values: str) -> Any: ...


class MetricsObserver:
    """Feeds prometheus-client metrics (labelled by `integration`) from the pipeline:
    alertmanager_notifications_total, _notifications_failed_total,
    _notification_requests_total, _notification_requests_failed_total and
    _notification_latency_seconds. The metrics themselves are created by `daemon.metrics`."""

    def __init__(
        self,
        notifications_total: _LabelledCounter,
        notifications_failed_total: _LabelledCounter,
        requests_total: _LabelledCounter,
        requests_failed_total: _LabelledCounter,
        latency_seconds: _LabelledCounter,
    ) -> None:
        self._notifications = notifications_total
        self._notifications_failed = notifications_failed_total
        self._requests = requests_total
        self._requests_failed = requests_failed_total
        self._latency = latency_seconds

    def notification_started(self, integration: str) -> None:
        self._notifications.labels(integration).inc()

    def notification_failed(self, integration: str) -> None:
        self._notifications_failed.labels(integration).inc()

    def request_finished(self, integration: str, seconds: float, failed: bool) -> None:
        self._latency.labels(integration).observe(seconds)
        self._requests.labels(integration).inc()
        if failed:
            self._requests_failed.labels(integration).inc()


__all__ = [
    "FACTORIES",
    "BuildContext",
    "IntegrationBuildError",
    "MetricsObserver",
    "build_integrations",
    "build_notifiers",
    "close_notifiers",
    "integration_type",
    "load_templates",
    "referenced_receivers",
]
