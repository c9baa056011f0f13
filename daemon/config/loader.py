"""Loading Alertmanager 0.25 configuration files into `daemon.config.model.Config`.

`parse_config` follows Alertmanager's `config.Load` + `LoadFile`: strict YAML decoding
(see `goyaml`), per-struct defaults and validation (see `schema`), then the global
inheritance and cross-reference checks of `Config.UnmarshalYAML`, in the same order, so the
first error reported is the one Alertmanager would report.

Deliberate differences, all in favour of a config that round-trips:
- TLS versions are re-marshalled by name (`TLS12`); Alertmanager prints `771`, which it
  cannot read back itself. Likewise an IPv6 smarthost keeps its brackets (`[::1]:25`).
- Every relative `*_file` path is resolved against the config directory (Alertmanager does
  this only for templates and `http_config`, leaving other paths relative to its cwd).
  `original` shows the paths as written, as Alertmanager's status page does.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from daemon.config import schema
from daemon.config.goyaml import ConfigError, CustomError, dump, unmarshal_strict
from daemon.config.model import (
    Config,
    InhibitRule,
    Receiver,
    RouteConfig,
    TimeIntervalSpec,
    TimeRange,
)
from daemon.matchers import Matcher, MatchType, go_quote, sorted_matchers

DEFAULT_CONFIG_YAML = """\
# tocsin's built-in configuration, used when no configuration file exists: every alert
# goes to one receiver that has no integrations, so nothing is sent until you configure one.
route:
  receiver: default
  group_by: ['alertname']
receivers:
- name: default
"""


# ---------------------------------------------------------------------------------------
# Config.UnmarshalYAML: inheritance from `global`, then the cross-reference checks

# The integration lists whose `http_config` defaults to the global one (all but email).
_HTTP_INTEGRATION_LISTS = (
    "webhook_configs",
    "slack_configs",
    "pushover_configs",
    "pagerduty_configs",
    "opsgenie_configs",
    "wechat_configs",
    "victorops_configs",
    "sns_configs",
    "telegram_configs",
    "discord_configs",
    "webex_configs",
)


def _inherit_globals(config: dict[str, Any]) -> None:
    if config["global"] is None:
        config["global"] = schema.GLOBAL.empty()
    glob = config["global"]
    for key, file_key in (
        ("slack_api_url", "slack_api_url_file"),
        ("opsgenie_api_key", "opsgenie_api_key_file"),
        ("victorops_api_key", "victorops_api_key_file"),
        ("smtp_auth_password", "smtp_auth_password_file"),
    ):
        if glob[key] and glob[file_key]:
            raise CustomError(f"at most one of {key} & {file_key} must be configured")

    names: set[str] = set()
    for receiver in config["receivers"]:
        if receiver is None:
            raise CustomError("missing name in receiver")
        if receiver["name"] in names:
            raise CustomError(f"notification config name {go_quote(receiver['name'])} is not unique")
        for list_key in _HTTP_INTEGRATION_LISTS:
            for integration in receiver[list_key]:
                _inherit_http_config(integration, glob)
        for email in receiver["email_configs"]:
            _inherit_email(email, glob)
        for slack in receiver["slack_configs"]:
            # Go checks a nil URL here (a pointer), not an empty one as for the keys below.
            if slack["api_url"] is None and not slack["api_url_file"]:
                if glob["slack_api_url"] is None and not glob["slack_api_url_file"]:
                    raise CustomError("no global Slack API URL set either inline or in a file")
                slack["api_url"] = glob["slack_api_url"]
                slack["api_url_file"] = glob["slack_api_url_file"]
        for pagerduty in receiver["pagerduty_configs"]:
            _inherit_url(pagerduty, "url", glob, "pagerduty_url", "no global PagerDuty URL set")
        for opsgenie in receiver["opsgenie_configs"]:
            _inherit_url(opsgenie, "api_url", glob, "opsgenie_api_url", "no global OpsGenie URL set")
            opsgenie["api_url"] = schema.with_trailing_slash(opsgenie["api_url"])
            _inherit_key_or_file(
                opsgenie,
                "api_key",
                glob,
                "opsgenie_api_key",
                "no global OpsGenie API Key set either inline or in a file",
            )
        for wechat in receiver["wechat_configs"]:
            _inherit_url(wechat, "api_url", glob, "wechat_api_url", "no global Wechat URL set")
            _inherit_required(
                wechat, "api_secret", glob, "wechat_api_secret", "no global Wechat ApiSecret set"
            )
            _inherit_required(wechat, "corp_id", glob, "wechat_api_corp_id", "no global Wechat CorpID set")
            wechat["api_url"] = schema.with_trailing_slash(wechat["api_url"])
        for victorops in receiver["victorops_configs"]:
            _inherit_url(victorops, "api_url", glob, "victorops_api_url", "no global VictorOps URL set")
            victorops["api_url"] = schema.with_trailing_slash(victorops["api_url"])
            _inherit_key_or_file(
                victorops, "api_key", glob, "victorops_api_key", "no global VictorOps API Key set"
            )
        for telegram in receiver["telegram_configs"]:
            _inherit_url(telegram, "api_url", glob, "telegram_api_url")
        for discord in receiver["discord_configs"]:
            if discord["webhook_url"] is None:
                raise CustomError("no discord webhook URL provided")
        for webex in receiver["webex_configs"]:
            _inherit_url(webex, "api_url", glob, "webex_api_url", "no global Webex URL set")
        names.add(receiver["name"])

    route = config["route"]
    if route is None:
        raise CustomError("no routes provided")
    if not route["receiver"]:
        raise CustomError("root route must specify a default receiver")
    if route["match"] or route["match_re"] or route["matchers"]:
        raise CustomError("root route must not have any matchers")
    if route["mute_time_intervals"]:
        raise CustomError("root route must not have any mute time intervals")
    if route["active_time_intervals"]:
        raise CustomError("root route must not have any active time intervals")
    _check_receivers(route, names)

    interval_names: set[str] = set()
    for interval in config["mute_time_intervals"]:
        if interval["name"] in interval_names:
            raise CustomError(f"mute time interval {go_quote(interval['name'])} is not unique")
        interval_names.add(interval["name"])
    for interval in config["time_intervals"]:
        if interval["name"] in interval_names:
            raise CustomError(f"time interval {go_quote(interval['name'])} is not unique")
        interval_names.add(interval["name"])
    _check_time_intervals(route, interval_names)


def _inherit_http_config(integration: dict[str, Any], glob: dict[str, Any]) -> None:
    if integration["http_config"] is None:
        integration["http_config"] = glob["http_config"]


def _inherit_url(
    integration: dict[str, Any], key: str, glob: dict[str, Any], global_key: str, missing: str | None = None
) -> None:
    """A URL left out (null) takes the global one; with `missing`, a null global URL is
    that error instead."""
    if integration[key] is None:
        if glob[global_key] is None and missing is not None:
            raise CustomError(missing)
        integration[key] = glob[global_key]


def _inherit_required(
    integration: dict[str, Any], key: str, glob: dict[str, Any], global_key: str, missing: str
) -> None:
    """An empty setting takes the global one, which must not be empty either."""
    if not integration[key]:
        if not glob[global_key]:
            raise CustomError(missing)
        integration[key] = glob[global_key]


def _inherit_key_or_file(
    integration: dict[str, Any], key: str, glob: dict[str, Any], global_key: str, missing: str
) -> None:
    """A secret given neither inline (`key`) nor as a file (`key_file`) takes both global
    settings, one of which must be set."""
    file_key, global_file_key = f"{key}_file", f"{global_key}_file"
    if not integration[key] and not integration[file_key]:
        if not glob[global_key] and not glob[global_file_key]:
            raise CustomError(missing)
        integration[key] = glob[global_key]
        integration[file_key] = glob[global_file_key]


def _inherit_email(email: dict[str, Any], glob: dict[str, Any]) -> None:
    _inherit_required(email, "smarthost", glob, "smtp_smarthost", "no global SMTP smarthost set")
    _inherit_required(email, "from", glob, "smtp_from", "no global SMTP from set")
    if not email["hello"]:
        email["hello"] = glob["smtp_hello"]
    if not email["auth_username"]:
        email["auth_username"] = glob["smtp_auth_username"]
    if not email["auth_password"] and not email["auth_password_file"]:
        email["auth_password"] = glob["smtp_auth_password"]
        email["auth_password_file"] = glob["smtp_auth_password_file"]
    if not email["auth_secret"]:
        email["auth_secret"] = glob["smtp_auth_secret"]
    if not email["auth_identity"]:
        email["auth_identity"] = glob["smtp_auth_identity"]
    if email["require_tls"] is None:
        email["require_tls"] = glob["smtp_require_tls"]


def _check_receivers(route: dict[str, Any], names: set[str]) -> None:
    for child in route["routes"]:
        if child is not None:
            _check_receivers(child, names)
    if route["receiver"] and route["receiver"] not in names:
        raise CustomError(f"undefined receiver {go_quote(route['receiver'])} used in route")


def _check_time_intervals(route: dict[str, Any], names: set[str]) -> None:
    for child in route["routes"]:
        if child is not None:
            _check_time_intervals(child, names)
    for name in route["active_time_intervals"] + route["mute_time_intervals"]:
        if name not in names:
            raise CustomError(f"undefined time interval {go_quote(name)} used in route")


CONFIG_KIND = schema.make_config_kind(_inherit_globals)

# ---------------------------------------------------------------------------------------
# After decoding: paths, the email notifier's header defaults, the model


def _resolve_paths(config: dict[str, Any], config_dir: str) -> None:
    def join(path: str) -> str:
        return path if not path or os.path.isabs(path) else os.path.join(config_dir, path)

    config["templates"] = [join(template) for template in config["templates"]]
    glob = config["global"]
    for key in (
        "smtp_auth_password_file",
        "slack_api_url_file",
        "opsgenie_api_key_file",
        "victorops_api_key_file",
    ):
        glob[key] = join(glob[key])
    resolved: set[int] = set()

    def resolve_http(http_config: dict[str, Any] | None) -> None:
        # Receivers share the global http_config dict; resolve each dict once.
        if http_config is not None and id(http_config) not in resolved:
            resolved.add(id(http_config))
            schema.resolve_http_config_paths(http_config, config_dir)

    resolve_http(glob["http_config"])
    for receiver in config["receivers"]:
        for key in schema.INTEGRATION_KINDS:
            for integration in receiver[key]:
                resolve_http(integration.get("http_config"))
                for field in integration:
                    if field.endswith("_file") and isinstance(integration[field], str):
                        integration[field] = join(integration[field])


def _used_receivers(route: dict[str, Any]) -> set[str]:
    used = {route["receiver"]} if route["receiver"] else set()
    for child in route["routes"]:
        used |= _used_receivers(child)
    return used


def _apply_email_header_defaults(config: dict[str, Any]) -> None:
    """Alertmanager's email notifier fills in Subject/To/From headers when it is built, and
    it builds only receivers that a route uses; the status page shows the result."""
    used = _used_receivers(config["route"])
    for receiver in config["receivers"]:
        if receiver["name"] not in used:
            continue
        for email in receiver["email_configs"]:
            headers = email["headers"]
            headers.setdefault("Subject", schema.DEFAULT_EMAIL_SUBJECT)
            headers.setdefault("To", email["to"])
            headers.setdefault("From", email["from"])


def _route_model(route: dict[str, Any]) -> RouteConfig:
    matchers = [Matcher(name, MatchType.EQUAL, value) for name, value in route["match"].items()]
    matchers += [Matcher(name, MatchType.REGEX, value) for name, value in route["match_re"].items()]
    matchers += route["matchers"]
    return RouteConfig(
        receiver=route["receiver"] or None,
        group_by=list(route["group_by"]) or None,
        matchers=sorted_matchers(matchers),
        mute_time_intervals=list(route["mute_time_intervals"]),
        active_time_intervals=list(route["active_time_intervals"]),
        continue_matching=route["continue"],
        routes=[_route_model(child) for child in route["routes"]],
        group_wait=route["group_wait"],
        group_interval=route["group_interval"],
        repeat_interval=route["repeat_interval"],
    )


def _rule_matchers(rule: dict[str, Any], side: str) -> list[Matcher]:
    matchers = [Matcher(name, MatchType.EQUAL, value) for name, value in rule[f"{side}_match"].items()]
    matchers += [Matcher(name, MatchType.REGEX, value) for name, value in rule[f"{side}_match_re"].items()]
    return sorted_matchers(matchers + rule[f"{side}_matchers"])


def _interval_model(interval: dict[str, Any]) -> TimeIntervalSpec:
    return TimeIntervalSpec(
        times=[
            # A null entry is Go's zero TimeRange, 00:00 to 00:00, which never matches.
            TimeRange(
                schema.clock_minutes(time_range["start_time"] or "00:00"),
                schema.clock_minutes(time_range["end_time"] or "00:00"),
            )
            for time_range in interval["times"]
        ],
        weekdays=list(interval["weekdays"]),
        days_of_month=list(interval["days_of_month"]),
        months=list(interval["months"]),
        years=list(interval["years"]),
        location=None if interval["location"] in (None, "UTC") else interval["location"],
    )


def _model(config: dict[str, Any], original: str, source_path: str | None) -> Config:
    glob = config["global"]
    time_intervals: dict[str, list[TimeIntervalSpec]] = {}
    for named in config["mute_time_intervals"] + config["time_intervals"]:
        time_intervals[named["name"]] = [_interval_model(interval) for interval in named["time_intervals"]]
    return Config(
        global_config=glob,
        resolve_timeout=glob["resolve_timeout"] or timedelta(0),
        route=_route_model(config["route"]),
        receivers=[
            Receiver(
                name=receiver["name"],
                integrations={key: receiver[key] for key in schema.INTEGRATION_KINDS if receiver[key]},
            )
            for receiver in config["receivers"]
        ],
        inhibit_rules=[
            InhibitRule(
                source_matchers=_rule_matchers(rule, "source"),
                target_matchers=_rule_matchers(rule, "target"),
                equal=list(rule["equal"]),
            )
            for rule in config["inhibit_rules"]
        ],
        time_intervals=time_intervals,
        templates=list(config["templates"]),
        original=original,
        source_path=source_path,
    )


def marshal_config(config: dict[str, Any]) -> str:
    """The decoded config as Alertmanager's `Config.String()` prints it."""
    return dump(CONFIG_KIND.encode(config))


def parse_config(text: str, config_dir: str, source_path: str | None = None) -> Config:
    """Parse and validate configuration text; raises ConfigError with Alertmanager's message."""
    decoded = unmarshal_strict(text, CONFIG_KIND)
    if decoded is None or decoded["route"] is None:
        raise ConfigError("no route provided in config")
    if decoded["route"]["continue"]:
        raise ConfigError("cannot have continue in root route")
    _apply_email_header_defaults(decoded)
    # Alertmanager's status page shows paths as written, so marshal before resolving them.
    original = marshal_config(decoded)
    _resolve_paths(decoded, os.path.abspath(config_dir))
    return _model(decoded, original, source_path)


def load_config_file(path: str) -> Config:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as config_file:
            text = config_file.read()
    except OSError as error:
        raise ConfigError(f"open {path}: {(error.strerror or str(error)).lower()}") from None
    return parse_config(text, os.path.dirname(path) or ".", source_path=path)


def default_config() -> Config:
    return parse_config(DEFAULT_CONFIG_YAML, os.getcwd())


__all__ = [
    "DEFAULT_CONFIG_YAML",
    "ConfigError",
    "default_config",
    "load_config_file",
    "marshal_config",
    "parse_config",
]
