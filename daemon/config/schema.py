"""Alertmanager 0.25's configuration schema: every struct in Go field order, with the
defaults, inheritance and validation its UnmarshalYAML methods apply.

Field order matters twice: it is the key order of the re-marshalled `config.original`, and
it is the order fields are checked in. Validation messages are Alertmanager's own.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from daemon.config.goyaml import (
    BOOL,
    INT64,
    SECRET,
    STR,
    UINT64,
    CustomError,
    Field,
    Kind,
    ListKind,
    MapKind,
    ScalarStrKind,
    StructKind,
)
from daemon.duration import DurationError, format_duration, parse_duration
from daemon.matchers import (
    MatcherError,
    compile_anchored,
    go_quote,
    is_valid_label_name,
    parse_matchers,
    sorted_matchers,
)
from notify.receivers.victorops import RESERVED_FIELDS as VICTOROPS_RESERVED_FIELDS

SECRET_TOKEN = "<secret>"

# ---------------------------------------------------------------------------------------
# Scalar types


def _parse_url(text: str) -> str:
    """Alertmanager's config.URL: http(s) with a host."""
    try:
        parts = urlsplit(text)
    except ValueError as error:
        raise CustomError(f"parse {go_quote(text)}: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise CustomError(f"unsupported scheme {go_quote(parts.scheme)} for URL")
    if not parts.netloc:
        raise CustomError("missing host for URL")
    return text


def _parse_secret_url(text: str) -> str:
    # The re-marshalled config prints secret URLs as <secret>; reading it back must work
    # (amtool re-parses /api/v2/status this way).
    return text if text == SECRET_TOKEN else _parse_url(text)


def _parse_common_url(text: str) -> str:
    try:
        urlsplit(text)
    except ValueError as error:
        raise CustomError(f"parse {go_quote(text)}: {error}") from None
    return text


def _redacted_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.password is None:
        return text
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:xxxxx@{host}"))


def with_trailing_slash(url: str) -> str:
    parts = urlsplit(url)
    if parts.path.endswith("/"):
        return url
    return urlunsplit(parts._replace(path=parts.path + "/"))


def _parse_host_port(text: str) -> str:
    if text == "":
        return ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise CustomError(f"address {text}: missing ']' in address")
        host, rest = text[1:end], text[end + 1 :]
        if not rest.startswith(":"):
            raise CustomError(f"address {text}: missing port in address")
        port = rest[1:]
        if ":" in port:
            raise CustomError(f"address {text}: too many colons in address")
    else:
        if ":" not in text:
            raise CustomError(f"address {text}: missing port in address")
        host, _, port = text.rpartition(":")
        if ":" in host:
            raise CustomError(f"address {text}: too many colons in address")
    if port == "":
        raise CustomError(f"address {go_quote(text)}: port cannot be empty")
    # Alertmanager prints `::1:25` here, which it cannot read back; we keep the brackets.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_model_duration(text: str) -> Any:
    try:
        return parse_duration(text)
    except DurationError as error:
        raise CustomError(str(error)) from None


_GO_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_GO_DURATION_NUMBER = re.compile(r"([0-9]*)(\.[0-9]*)?")
_GO_DURATION_UNIT = re.compile(r"[^0-9.]*")


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds (pushover's retry and expire use it)."""
    quoted = go_quote(text)
    body = text[1:] if text[:1] in "+-" else text
    negative = text.startswith("-")
    if body == "0":
        return 0.0
    if not body:
        raise CustomError(f"time: invalid duration {quoted}")
    total = 0.0
    position = 0
    while position < len(body):
        number = _GO_DURATION_NUMBER.match(body, position)
        assert number is not None
        whole, fraction = number.group(1), number.group(2) or ""
        if not whole and fraction in ("", "."):
            raise CustomError(f"time: invalid duration {quoted}")
        position = number.end()
        unit = _GO_DURATION_UNIT.match(body, position)
        assert unit is not None
        unit_text = unit.group(0)
        if not unit_text:
            raise CustomError(f"time: missing unit in duration {quoted}")
        if unit_text not in _GO_DURATION_UNITS:
            raise CustomError(f"time: unknown unit {go_quote(unit_text)} in duration {quoted}")
        total += float((whole or "0") + (fraction if fraction != "." else "")) * _GO_DURATION_UNITS[unit_text]
        position = unit.end()
    return -total if negative else total


def format_go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for whole milliseconds and up: `1m0s`, `1h0m0s`, `1.5s`."""
    nanoseconds = round(seconds * 1e9)
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    nanoseconds = abs(nanoseconds)
    if nanoseconds < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("\u00b5s", 1000), ("ns", 1)):
            if nanoseconds >= size:
                whole, fraction = divmod(nanoseconds, size)
                digits = f"{fraction:0{len(str(size)) - 1}d}".rstrip("0") if size > 1 else ""
                return f"{sign}{whole}{'.' + digits if digits else ''}{unit}"
    hours, rest = divmod(nanoseconds, 3600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    whole_seconds, fraction = divmod(rest, 1_000_000_000)
    digits = f"{fraction:09d}".rstrip("0")
    text = f"{whole_seconds}{'.' + digits if digits else ''}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


_TLS_VERSIONS = {"TLS13": 772, "TLS12": 771, "TLS11": 770, "TLS10": 769}


def _parse_tls_version(text: str) -> str:
    if text not in _TLS_VERSIONS:
        raise CustomError(f"unknown TLS version: {text}")
    return text


def _parse_regexp(text: str) -> str:
    try:
        compile_anchored(text)
    except MatcherError as error:
        raise CustomError(str(error)) from None
    return text


def _parse_matcher_lines(lines: list[str]) -> list[Any]:
    matchers = []
    for line in lines:
        try:
            matchers.extend(parse_matchers(line))
        except MatcherError as error:
            raise CustomError(str(error)) from None
    return sorted_matchers(matchers)


class MatchersKind(Kind):
    """config.Matchers: a list of matcher strings, parsed, merged and sorted."""

    go_type = "[]string"

    def zero(self) -> Any:
        return []

    def decode(self, node: Any, context: Any) -> Any:
        before = len(context.type_errors)
        lines = ListKind(STR).decode(node, context)
        if len(context.type_errors) > before:
            return []
        return _parse_matcher_lines(lines)

    def encode(self, value: Any) -> Any:
        return [str(matcher) for matcher in value]

    def is_zero(self, value: Any) -> bool:
        return not value


def _validate_match_regexps(mapping: dict[str, Any]) -> None:
    for name, value in mapping.items():
        if not is_valid_label_name(name):
            raise CustomError(f"invalid label name {go_quote(name)}")
        if value is None:
            raise CustomError(f"invalid regexp value for {go_quote(name)}")


class MatchRegexpsKind(MapKind):
    def __init__(self) -> None:
        super().__init__(ScalarStrKind(_parse_regexp), go_type="config.plain")

    def decode(self, node: Any, context: Any) -> Any:
        before = len(context.type_errors)
        mapping = super().decode(node, context)
        if len(context.type_errors) == before:
            _validate_match_regexps(mapping)
        return mapping


URL = ScalarStrKind(_parse_url)
SECRET_URL = ScalarStrKind(_parse_secret_url, render=lambda _: SECRET_TOKEN)
COMMON_URL = ScalarStrKind(_parse_common_url, render=_redacted_url)
HOST_PORT = ScalarStrKind(_parse_host_port, zero="", go_type="string")
HOST_PORT.is_zero = lambda value: not value  # type: ignore[method-assign]
MODEL_DURATION = ScalarStrKind(_parse_model_duration, render=format_duration)
GO_DURATION = ScalarStrKind(parse_go_duration, render=format_go_duration, zero=0.0)
# prometheus/common prints TLS versions as numbers (771) because its MarshalYAML has a
# pointer receiver; that output cannot be read back by Alertmanager itself. We print the
# name, which both Alertmanager and tocsin read: a deliberate, documented difference.
TLS_VERSION = ScalarStrKind(_parse_tls_version)
STR_LIST = ListKind(STR)
STR_MAP = MapKind(STR)
MATCHERS = MatchersKind()


def _field(key: str, kind: Kind, omitempty: bool = True) -> Field:
    return Field(key, kind, omitempty)


# ---------------------------------------------------------------------------------------
# prometheus/common http_config


def _join_dir(directory: str, path: str) -> str:
    import os.path

    if not path or os.path.isabs(path):
        return path
    return os.path.join(directory, path)


TLS_CONFIG = StructKind(
    "config.plain",
    [
        _field("ca_file", STR),
        _field("cert_file", STR),
        _field("key_file", STR),
        _field("server_name", STR),
        _field("insecure_skip_verify", BOOL, omitempty=False),
        _field("min_version", TLS_VERSION),
        _field("max_version", TLS_VERSION),
    ],
    pointer=False,
)
BASIC_AUTH = StructKind(
    "config.plain",
    [_field("username", STR, omitempty=False), _field("password", SECRET), _field("password_file", STR)],
)
AUTHORIZATION = StructKind(
    "config.Authorization",
    [_field("type", STR), _field("credentials", SECRET), _field("credentials_file", STR)],
    custom_unmarshaler=False,
)
OAUTH2 = StructKind(
    "config.OAuth2",
    [
        _field("client_id", STR, omitempty=False),
        _field("client_secret", SECRET, omitempty=False),
        _field("client_secret_file", STR, omitempty=False),
        _field("scopes", STR_LIST),
        _field("token_url", STR, omitempty=False),
        _field("endpoint_params", STR_MAP),
        _field("proxy_url", COMMON_URL),
        _field("tls_config", TLS_CONFIG),
    ],
    custom_unmarshaler=False,
)


def _validate_http_config(config: dict[str, Any]) -> None:
    bearer_token, bearer_token_file = config["bearer_token"], config["bearer_token_file"]
    basic_auth, oauth2, authorization = config["basic_auth"], config["oauth2"], config["authorization"]
    if bearer_token and bearer_token_file:
        raise CustomError("at most one of bearer_token & bearer_token_file must be configured")
    if (basic_auth is not None or oauth2 is not None) and (bearer_token or bearer_token_file):
        raise CustomError("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured")
    if basic_auth is not None and basic_auth["password"] and basic_auth["password_file"]:
        raise CustomError("at most one of basic_auth password & password_file must be configured")
    if authorization is not None:
        if bearer_token or bearer_token_file:
            raise CustomError("authorization is not compatible with bearer_token & bearer_token_file")
        if authorization["credentials"] and authorization["credentials_file"]:
            raise CustomError("at most one of authorization credentials & credentials_file must be configured")
        authorization["type"] = authorization["type"].strip() or "Bearer"
        if authorization["type"].lower() == "basic":
            raise CustomError('authorization type cannot be set to "basic", use "basic_auth" instead')
        if basic_auth is not None or oauth2 is not None:
            raise CustomError("at most one of basic_auth, oauth2 & authorization must be configured")
    else:
        # A bearer token is stored (and re-marshalled) as an `authorization` block.
        if bearer_token:
            config["authorization"] = {"type": "Bearer", "credentials": bearer_token, "credentials_file": ""}
            config["bearer_token"] = ""
        if bearer_token_file:
            config["authorization"] = {"type": "Bearer", "credentials": "", "credentials_file": bearer_token_file}
            config["bearer_token_file"] = ""
    if oauth2 is not None:
        if basic_auth is not None:
            raise CustomError("at most one of basic_auth, oauth2 & authorization must be configured")
        if not oauth2["client_id"]:
            raise CustomError("oauth2 client_id must be configured")
        if not oauth2["client_secret"] and not oauth2["client_secret_file"]:
            raise CustomError("either oauth2 client_secret or client_secret_file must be configured")
        if not oauth2["token_url"]:
            raise CustomError("oauth2 token_url must be configured")
        if oauth2["client_secret"] and oauth2["client_secret_file"]:
            raise CustomError("at most one of oauth2 client_secret & client_secret_file must be configured")
    if config["proxy_connect_header"] and not config["proxy_url"]:
        raise CustomError("if proxy_connect_header is configured proxy_url must also be configured")


def default_http_config() -> dict[str, Any]:
    return HTTP_CONFIG.empty()


HTTP_CONFIG = StructKind(
    "config.plain",
    [
        _field("basic_auth", BASIC_AUTH),
        _field("authorization", AUTHORIZATION),
        _field("oauth2", OAUTH2),
        _field("bearer_token", SECRET),
        _field("bearer_token_file", STR),
        _field("proxy_url", COMMON_URL),
        _field("proxy_connect_header", MapKind(ListKind(SECRET), go_type="config.Header")),
        _field("tls_config", TLS_CONFIG),
        _field("follow_redirects", BOOL, omitempty=False),
        _field("enable_http2", BOOL, omitempty=False),
    ],
    hook=_validate_http_config,
    defaults=lambda: {"follow_redirects": True, "enable_http2": True},
)


def resolve_http_config_paths(config: dict[str, Any] | None, directory: str) -> None:
    if config is None:
        return

    def resolve_tls(tls: dict[str, Any]) -> None:
        for key in ("ca_file", "cert_file", "key_file"):
            tls[key] = _join_dir(directory, tls[key])

    resolve_tls(config["tls_config"])
    if config["basic_auth"] is not None:
        config["basic_auth"]["password_file"] = _join_dir(directory, config["basic_auth"]["password_file"])
    if config["authorization"] is not None:
        authorization = config["authorization"]
        authorization["credentials_file"] = _join_dir(directory, authorization["credentials_file"])
    if config["oauth2"] is not None:
        oauth2 = config["oauth2"]
        oauth2["client_secret_file"] = _join_dir(directory, oauth2["client_secret_file"])
        resolve_tls(oauth2["tls_config"])
    config["bearer_token_file"] = _join_dir(directory, config["bearer_token_file"])


# ---------------------------------------------------------------------------------------
# Receivers


def _send_resolved(default: bool) -> Callable[[], dict[str, Any]]:
    return lambda: {"send_resolved": default}


def _notifier(
    fields: list[Field],
    defaults: dict[str, Any],
    hook: Callable[[dict[str, Any]], None] | None = None,
    http_config: bool = True,
) -> StructKind:
    head = [_field("send_resolved", BOOL, omitempty=False)]
    if http_config:
        head.append(_field("http_config", HTTP_CONFIG))
    return StructKind("config.plain", head + fields, hook=hook, defaults=lambda: dict(defaults))


def _template(name: str) -> str:
    return '{{ template "' + name + '" . }}'


def _validate_webex(config: dict[str, Any]) -> None:
    if not config["room_id"]:
        raise CustomError("missing room_id on webex_config")
    if config["http_config"] is None or config["http_config"]["authorization"] is None:
        raise CustomError("missing webex_configs.http_config.authorization")


WEBEX = _notifier(
    [_field("api_url", URL), _field("message", STR), _field("room_id", STR, omitempty=False)],
    {"send_resolved": True, "message": _template("webex.default.message")},
    _validate_webex,
)
DISCORD = _notifier(
    [_field("webhook_url", SECRET_URL), _field("title", STR), _field("message", STR)],
    {
        "send_resolved": True,
        "title": _template("discord.default.title"),
        "message": _template("discord.default.message"),
    },
)

_MIME_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def canonical_mime_header_key(key: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: `x-foo` becomes `X-Foo`."""
    if not _MIME_TOKEN.match(key):
        return key
    return "-".join(part[:1].upper() + part[1:].lower() for part in key.split("-"))


def _validate_email(config: dict[str, Any]) -> None:
    if not config["to"]:
        raise CustomError("missing to address in email config")
    headers: dict[str, str] = {}
    for name, value in config["headers"].items():
        normalized = canonical_mime_header_key(name)
        if normalized in headers:
            raise CustomError(f"duplicate header {go_quote(normalized)} in email config")
        headers[normalized] = value
    config["headers"] = headers


# require_tls is a *bool: None means "inherit smtp_require_tls".
OPTIONAL_BOOL = BOOL.__class__()
OPTIONAL_BOOL.zero = lambda: None  # type: ignore[method-assign]

EMAIL = _notifier(
    [
        _field("to", STR),
        _field("from", STR),
        _field("hello", STR),
        _field("smarthost", HOST_PORT),
        _field("auth_username", STR),
        _field("auth_password", SECRET),
        _field("auth_password_file", STR),
        _field("auth_secret", SECRET),
        _field("auth_identity", STR),
        _field("headers", STR_MAP),
        _field("html", STR),
        _field("text", STR),
        _field("require_tls", OPTIONAL_BOOL),
        _field("tls_config", TLS_CONFIG),
    ],
    {"send_resolved": False, "html": _template("email.default.html"), "text": ""},
    _validate_email,
    http_config=False,
)
DEFAULT_EMAIL_SUBJECT = _template("email.default.subject")

DEFAULT_PAGERDUTY_DETAILS = {
    "firing": '{{ template "pagerduty.default.instances" .Alerts.Firing }}',
    "resolved": '{{ template "pagerduty.default.instances" .Alerts.Resolved }}',
    "num_firing": "{{ .Alerts.Firing | len }}",
    "num_resolved": "{{ .Alerts.Resolved | len }}",
}


def _validate_pagerduty(config: dict[str, Any]) -> None:
    if not (config["routing_key"] or config["service_key"] or config["routing_key_file"] or config["service_key_file"]):
        raise CustomError("missing service or routing key in PagerDuty config")
    if config["routing_key"] and config["routing_key_file"]:
        raise CustomError("at most one of routing_key & routing_key_file must be configured")
    if config["service_key"] and config["service_key_file"]:
        raise CustomError("at most one of service_key & service_key_file must be configured")
    if not config["source"]:
        config["source"] = config["client"]
    for name, value in DEFAULT_PAGERDUTY_DETAILS.items():
        config["details"].setdefault(name, value)


PAGERDUTY_IMAGE = StructKind(
    "config.PagerdutyImage",
    [_field("src", STR), _field("alt", STR), _field("href", STR)],
    pointer=False,
    custom_unmarshaler=False,
)
PAGERDUTY_LINK = StructKind(
    "config.PagerdutyLink", [_field("href", STR), _field("text", STR)], pointer=False, custom_unmarshaler=False
)
PAGERDUTY = _notifier(
    [
        _field("service_key", SECRET),
        _field("service_key_file", STR),
        _field("routing_key", SECRET),
        _field("routing_key_file", STR),
        _field("url", URL),
        _field("client", STR),
        _field("client_url", STR),
        _field("description", STR),
        _field("details", STR_MAP),
        _field("images", ListKind(PAGERDUTY_IMAGE)),
        _field("links", ListKind(PAGERDUTY_LINK)),
        _field("source", STR),
        _field("severity", STR),
        _field("class", STR),
        _field("component", STR),
        _field("group", STR),
    ],
    {
        "send_resolved": True,
        "description": '{{ template "pagerduty.default.description" .}}',
        "client": _template("pagerduty.default.client"),
        "client_url": _template("pagerduty.default.clientURL"),
    },
    _validate_pagerduty,
)


def _validate_slack_confirm(config: dict[str, Any]) -> None:
    if not config["text"]:
        raise CustomError("missing text in Slack confirmation configuration")


SLACK_CONFIRM = StructKind(
    "config.plain",
    [_field("text", STR), _field("title", STR), _field("ok_text", STR), _field("dismiss_text", STR)],
    hook=_validate_slack_confirm,
)


def _validate_slack_action(config: dict[str, Any]) -> None:
    if not config["type"]:
        raise CustomError("missing type in Slack action configuration")
    if not config["text"]:
        raise CustomError("missing text in Slack action configuration")
    if config["url"]:
        config["name"] = ""
        config["value"] = ""
        config["confirm"] = None
    elif not config["name"]:
        raise CustomError("missing name or url in Slack action configuration")


SLACK_ACTION = StructKind(
    "config.plain",
    [
        _field("type", STR),
        _field("text", STR),
        _field("url", STR),
        _field("style", STR),
        _field("name", STR),
        _field("value", STR),
        _field("confirm", SLACK_CONFIRM),
    ],
    hook=_validate_slack_action,
)


def _validate_slack_field(config: dict[str, Any]) -> None:
    if not config["title"]:
        raise CustomError("missing title in Slack field configuration")
    if not config["value"]:
        raise CustomError("missing value in Slack field configuration")


SLACK_FIELD = StructKind(
    "config.plain",
    [_field("title", STR), _field("value", STR), _field("short", OPTIONAL_BOOL)],
    hook=_validate_slack_field,
)


def _validate_slack(config: dict[str, Any]) -> None:
    if config["api_url"] is not None and config["api_url_file"]:
        raise CustomError("at most one of api_url & api_url_file must be configured")


SLACK = _notifier(
    [
        _field("api_url", SECRET_URL),
        _field("api_url_file", STR),
        _field("channel", STR),
        _field("username", STR),
        _field("color", STR),
        _field("title", STR),
        _field("title_link", STR),
        _field("pretext", STR),
        _field("text", STR),
        _field("fields", ListKind(SLACK_FIELD)),
        _field("short_fields", BOOL, omitempty=False),
        _field("footer", STR),
        _field("fallback", STR),
        _field("callback_id", STR),
        _field("icon_emoji", STR),
        _field("icon_url", STR),
        _field("image_url", STR),
        _field("thumb_url", STR),
        _field("link_names", BOOL, omitempty=False),
        _field("mrkdwn_in", STR_LIST),
        _field("actions", ListKind(SLACK_ACTION)),
    ],
    {
        "send_resolved": False,
        "color": '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}',
        "username": _template("slack.default.username"),
        "title": _template("slack.default.title"),
        "title_link": _template("slack.default.titlelink"),
        "icon_emoji": _template("slack.default.iconemoji"),
        "icon_url": _template("slack.default.iconurl"),
        "pretext": _template("slack.default.pretext"),
        "text": _template("slack.default.text"),
        "fallback": _template("slack.default.fallback"),
        "callback_id": _template("slack.default.callbackid"),
        "footer": _template("slack.default.footer"),
    },
    _validate_slack,
)


def _validate_webhook(config: dict[str, Any]) -> None:
    if config["url"] is None:
        raise CustomError("missing URL in webhook config")


WEBHOOK = _notifier(
    [_field("url", URL, omitempty=False), _field("max_alerts", UINT64, omitempty=False)],
    {"send_resolved": True},
    _validate_webhook,
)

_WECHAT_VALID_TYPES = "^(text|markdown)$"


def _validate_wechat(config: dict[str, Any]) -> None:
    if not config["message_type"]:
        config["message_type"] = "text"
    if config["message_type"] not in ("text", "markdown"):
        raise CustomError(
            f"weChat message type {go_quote(config['message_type'])} does not match valid options {_WECHAT_VALID_TYPES}"
        )


WECHAT = _notifier(
    [
        _field("api_secret", SECRET),
        _field("corp_id", STR),
        _field("message", STR),
        _field("api_url", URL),
        _field("to_user", STR),
        _field("to_party", STR),
        _field("to_tag", STR),
        _field("agent_id", STR),
        _field("message_type", STR),
    ],
    {
        "send_resolved": False,
        "message": _template("wechat.default.message"),
        "to_user": _template("wechat.default.to_user"),
        "to_party": _template("wechat.default.to_party"),
        "to_tag": _template("wechat.default.to_tag"),
        "agent_id": _template("wechat.default.agent_id"),
    },
    _validate_wechat,
)

_OPSGENIE_VALID_TYPES = "^(team|teams|user|escalation|schedule)$"
OPSGENIE_RESPONDER = StructKind(
    "config.OpsGenieConfigResponder",
    [_field("id", STR), _field("name", STR), _field("username", STR), _field("type", STR)],
    pointer=False,
    custom_unmarshaler=False,
)


def _go_struct_text(responder: dict[str, Any]) -> str:
    """Go's `%v` of an OpsGenieConfigResponder value: `{id name username type}`."""
    return "{" + " ".join(responder[key] for key in ("id", "name", "username", "type")) + "}"


def _validate_opsgenie(config: dict[str, Any]) -> None:
    if config["api_key"] and config["api_key_file"]:
        raise CustomError("at most one of api_key & api_key_file must be configured")
    for responder in config["responders"]:
        if not (responder["id"] or responder["username"] or responder["name"]):
            raise CustomError(
                f"opsGenieConfig responder {_go_struct_text(responder)} has to have at least one of id, username or name specified"
            )
        if "{{" in responder["type"]:
            continue  # a template, checked when the notifier renders it
        # Go lowercases a copy (the loop variable), so the stored type keeps its case.
        if responder["type"].lower() not in ("team", "teams", "user", "escalation", "schedule"):
            lowered = dict(responder, type=responder["type"].lower())
            raise CustomError(
                f"opsGenieConfig responder {_go_struct_text(lowered)} type does not match valid options {_OPSGENIE_VALID_TYPES}"
            )


OPSGENIE = _notifier(
    [
        _field("api_key", SECRET),
        _field("api_key_file", STR),
        _field("api_url", URL),
        _field("message", STR),
        _field("description", STR),
        _field("source", STR),
        _field("details", STR_MAP),
        _field("entity", STR),
        _field("responders", ListKind(OPSGENIE_RESPONDER)),
        _field("actions", STR),
        _field("tags", STR),
        _field("note", STR),
        _field("priority", STR),
        _field("update_alerts", BOOL),
    ],
    {
        "send_resolved": True,
        "message": _template("opsgenie.default.message"),
        "description": _template("opsgenie.default.description"),
        "source": _template("opsgenie.default.source"),
    },
    _validate_opsgenie,
)

def _validate_victorops(config: dict[str, Any]) -> None:
    if not config["routing_key"]:
        raise CustomError("missing Routing key in VictorOps config")
    if config["api_key"] and config["api_key_file"]:
        raise CustomError("at most one of api_key & api_key_file must be configured")
    for name in VICTOROPS_RESERVED_FIELDS:
        if name in config["custom_fields"]:
            raise CustomError(
                f"victorOps config contains custom field {name} which cannot be used as it conflicts with the fixed/static fields"
            )


VICTOROPS = _notifier(
    [
        _field("api_key", SECRET),
        _field("api_key_file", STR),
        _field("api_url", URL, omitempty=False),
        _field("routing_key", STR, omitempty=False),
        _field("message_type", STR, omitempty=False),
        _field("state_message", STR, omitempty=False),
        _field("entity_display_name", STR, omitempty=False),
        _field("monitoring_tool", STR, omitempty=False),
        _field("custom_fields", STR_MAP),
    ],
    {
        "send_resolved": True,
        "message_type": "CRITICAL",
        "state_message": _template("victorops.default.state_message"),
        "entity_display_name": _template("victorops.default.entity_display_name"),
        "monitoring_tool": _template("victorops.default.monitoring_tool"),
    },
    _validate_victorops,
)

PUSHOVER_RETRY_SECONDS = 60.0
PUSHOVER_EXPIRE_SECONDS = 3600.0


def _validate_pushover(config: dict[str, Any]) -> None:
    if not config["user_key"]:
        raise CustomError("missing user key in Pushover config")
    if not config["token"]:
        raise CustomError("missing token in Pushover config")


PUSHOVER = _notifier(
    [
        _field("user_key", SECRET),
        _field("token", SECRET),
        _field("title", STR),
        _field("message", STR),
        _field("url", STR),
        _field("url_title", STR),
        _field("sound", STR),
        _field("priority", STR),
        _field("retry", GO_DURATION),
        _field("expire", GO_DURATION),
        _field("html", BOOL, omitempty=False),
    ],
    {
        "send_resolved": True,
        "title": _template("pushover.default.title"),
        "message": _template("pushover.default.message"),
        "url": _template("pushover.default.url"),
        "priority": '{{ if eq .Status "firing" }}2{{ else }}0{{ end }}',
        "retry": PUSHOVER_RETRY_SECONDS,
        "expire": PUSHOVER_EXPIRE_SECONDS,
        "html": False,
    },
    _validate_pushover,
)


def _validate_sigv4(config: dict[str, Any]) -> None:
    if (config["access_key"] == "") != (config["secret_key"] == ""):
        raise CustomError(
            "must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config"
        )


SIGV4 = StructKind(
    "sigv4.plain",
    [
        _field("region", STR),
        _field("access_key", STR),
        _field("secret_key", SECRET),
        _field("profile", STR),
        _field("role_arn", STR),
    ],
    hook=_validate_sigv4,
    pointer=False,
)


def _validate_sns(config: dict[str, Any]) -> None:
    # Go's chained `!=` on three booleans: true for one or three set (an upstream quirk).
    target, topic, phone = config["target_arn"] == "", config["topic_arn"] == "", config["phone_number"] == ""
    if (target != topic) != phone:
        raise CustomError("must provide either a Target ARN, Topic ARN, or Phone Number for SNS config")


SNS = _notifier(
    [
        _field("api_url", STR),
        _field("sigv4", SIGV4, omitempty=False),
        _field("topic_arn", STR),
        _field("phone_number", STR),
        _field("target_arn", STR),
        _field("subject", STR),
        _field("message", STR),
        _field("attributes", STR_MAP),
    ],
    {"send_resolved": True, "subject": _template("sns.default.subject"), "message": _template("sns.default.message")},
    _validate_sns,
)


def _validate_telegram(config: dict[str, Any]) -> None:
    if not config["bot_token"]:
        raise CustomError("missing bot_token on telegram_config")
    if config["chat_id"] == 0:
        raise CustomError("missing chat_id on telegram_config")
    if config["parse_mode"] not in ("", "Markdown", "MarkdownV2", "HTML"):
        raise CustomError(
            "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string"
        )


TELEGRAM = _notifier(
    [
        _field("api_url", URL, omitempty=False),
        _field("bot_token", SECRET),
        _field("chat_id", INT64),
        _field("message", STR),
        _field("disable_notifications", BOOL),
        _field("parse_mode", STR),
    ],
    {
        "send_resolved": True,
        "disable_notifications": False,
        "message": _template("telegram.default.message"),
        "parse_mode": "HTML",
    },
    _validate_telegram,
)

# The receiver's integration lists, in Go field order.
INTEGRATION_KINDS: dict[str, StructKind] = {
    "discord_configs": DISCORD,
    "email_configs": EMAIL,
    "pagerduty_configs": PAGERDUTY,
    "slack_configs": SLACK,
    "webhook_configs": WEBHOOK,
    "opsgenie_configs": OPSGENIE,
    "wechat_configs": WECHAT,
    "pushover_configs": PUSHOVER,
    "victorops_configs": VICTOROPS,
    "sns_configs": SNS,
    "telegram_configs": TELEGRAM,
    "webex_configs": WEBEX,
}

_INTEGRATION_GO_TYPES = {
    "discord_configs": "DiscordConfig",
    "email_configs": "EmailConfig",
    "pagerduty_configs": "PagerdutyConfig",
    "slack_configs": "SlackConfig",
    "webhook_configs": "WebhookConfig",
    "opsgenie_configs": "OpsGenieConfig",
    "wechat_configs": "WechatConfig",
    "pushover_configs": "PushoverConfig",
    "victorops_configs": "VictorOpsConfig",
    "sns_configs": "SNSConfig",
    "telegram_configs": "TelegramConfig",
    "webex_configs": "WebexConfig",
}


def _validate_receiver(config: dict[str, Any]) -> None:
    if not config["name"]:
        raise CustomError("missing name in receiver")


RECEIVER = StructKind(
    "config.plain",
    [_field("name", STR, omitempty=False)]
    + [
        _field(key, ListKind(kind, go_type=f"[]*config.{_INTEGRATION_GO_TYPES[key]}"))
        for key, kind in INTEGRATION_KINDS.items()
    ],
    hook=_validate_receiver,
)

# ---------------------------------------------------------------------------------------
# Global


DEFAULT_GLOBAL_URLS = {
    "pagerduty_url": "https://events.pagerduty.com/v2/enqueue",
    "opsgenie_api_url": "https://api.opsgenie.com/",
    "wechat_api_url": "https://qyapi.weixin.qq.com/cgi-bin/",
    "victorops_api_url": "https://alert.victorops.com/integrations/generic/20131114/alert/",
    "telegram_api_url": "https://api.telegram.org",
    "webex_api_url": "https://webexapis.com/v1/messages",
}
DEFAULT_RESOLVE_TIMEOUT = parse_duration("5m")


def default_global() -> dict[str, Any]:
    return {
        "resolve_timeout": DEFAULT_RESOLVE_TIMEOUT,
        "http_config": default_http_config(),
        "smtp_hello": "localhost",
        "smtp_require_tls": True,
        **DEFAULT_GLOBAL_URLS,
    }


GLOBAL = StructKind(
    "config.plain",
    [
        _field("resolve_timeout", MODEL_DURATION, omitempty=False),
        _field("http_config", HTTP_CONFIG),
        _field("smtp_from", STR),
        _field("smtp_hello", STR),
        _field("smtp_smarthost", HOST_PORT),
        _field("smtp_auth_username", STR),
        _field("smtp_auth_password", SECRET),
        _field("smtp_auth_password_file", STR),
        _field("smtp_auth_secret", SECRET),
        _field("smtp_auth_identity", STR),
        _field("smtp_require_tls", BOOL, omitempty=False),
        _field("slack_api_url", SECRET_URL),
        _field("slack_api_url_file", STR),
        _field("pagerduty_url", URL),
        _field("opsgenie_api_url", URL),
        _field("opsgenie_api_key", SECRET),
        _field("opsgenie_api_key_file", STR),
        _field("wechat_api_url", URL),
        _field("wechat_api_secret", SECRET),
        _field("wechat_api_corp_id", STR),
        _field("victorops_api_url", URL),
        _field("victorops_api_key", SECRET),
        _field("victorops_api_key_file", STR),
        _field("telegram_api_url", URL),
        _field("webex_api_url", URL),
    ],
    defaults=default_global,
)

# ---------------------------------------------------------------------------------------
# Route and inhibit rules


def _validate_route(route: dict[str, Any]) -> None:
    for name in route["match"]:
        if not is_valid_label_name(name):
            raise CustomError(f"invalid label name {go_quote(name)}")
    group_by_all = False
    group_by: list[str] = []
    for name in route["group_by"]:
        if name == "...":
            group_by_all = True
        elif not is_valid_label_name(name):
            raise CustomError(f"invalid label name {go_quote(name)} in group_by list")
        else:
            group_by.append(name)
    if group_by and group_by_all:
        raise CustomError("cannot have wildcard group_by (`...`) and other other labels at the same time")
    seen: set[str] = set()
    for name in group_by:
        if name in seen:
            raise CustomError(f"duplicated label {go_quote(name)} in group_by")
        seen.add(name)
    if route["group_interval"] is not None and not route["group_interval"]:
        raise CustomError("group_interval cannot be zero")
    if route["repeat_interval"] is not None and not route["repeat_interval"]:
        raise CustomError("repeat_interval cannot be zero")


ROUTE = StructKind("config.plain", [], hook=_validate_route)
ROUTE.fields = {
    field.key: field
    for field in [
        _field("receiver", STR),
        _field("group_by", STR_LIST),
        _field("match", STR_MAP),
        _field("match_re", MatchRegexpsKind()),
        _field("matchers", MATCHERS),
        _field("mute_time_intervals", STR_LIST),
        _field("active_time_intervals", STR_LIST),
        _field("continue", BOOL, omitempty=False),
        _field("routes", ListKind(ROUTE, go_type="[]*config.Route")),
        _field("group_wait", MODEL_DURATION),
        _field("group_interval", MODEL_DURATION),
        _field("repeat_interval", MODEL_DURATION),
    ]
}


def _validate_inhibit_rule(rule: dict[str, Any]) -> None:
    for key in ("source_match", "target_match"):
        for name in rule[key]:
            if not is_valid_label_name(name):
                raise CustomError(f"invalid label name {go_quote(name)}")


INHIBIT_RULE = StructKind(
    "config.plain",
    [
        _field("source_match", STR_MAP),
        _field("source_match_re", MatchRegexpsKind()),
        _field("source_matchers", MATCHERS),
        _field("target_match", STR_MAP),
        _field("target_match_re", MatchRegexpsKind()),
        _field("target_matchers", MATCHERS),
        _field("equal", STR_LIST),
    ],
    hook=_validate_inhibit_rule,
)

# ---------------------------------------------------------------------------------------
# Time intervals

_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MAX_DAY_OF_MONTH = 31
# Negative days are checked against the shortest month when ordering a range.
_SHORTEST_MONTH_DAYS = 28


def _go_atoi(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise CustomError(f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    return int(text)


def _range_from_string(text: str, member: Callable[[str], int]) -> tuple[int, int]:
    lowered = text.lower()
    if ":" in lowered:
        parts = lowered.split(":")
        if len(parts) != 2:
            raise CustomError(f"couldn't parse range {lowered}, invalid format")
        return member(parts[0]), member(parts[1])
    value = member(lowered)
    return value, value


def _weekday(text: str) -> int:
    if text not in _WEEKDAYS:
        raise CustomError(f"{text} is not a valid weekday")
    return _WEEKDAYS.index(text)


def _month(text: str) -> int:
    if text in _MONTHS:
        return _MONTHS.index(text) + 1
    try:
        return _go_atoi(text)
    except CustomError:
        raise CustomError(f"{text} is not a valid month") from None


def _parse_weekdays(text: str) -> tuple[int, int]:
    begin, end = _range_from_string(text, _weekday)
    if begin > end:
        raise CustomError("start day cannot be before end day")
    return begin, end


def _parse_days_of_month(text: str) -> tuple[int, int]:
    begin, end = _range_from_string(text, _go_atoi)
    for day in (begin, end):
        if day == 0 or not -_MAX_DAY_OF_MONTH <= day <= _MAX_DAY_OF_MONTH:
            raise CustomError(f"{day} is not a valid day of the month: out of range")
    if begin < 0 < end:
        raise CustomError("end day must be negative if start day is negative")
    check_begin = _SHORTEST_MONTH_DAYS + begin if begin < 0 else begin
    check_end = _SHORTEST_MONTH_DAYS + end if end < 0 else end
    if check_begin > check_end:
        raise CustomError(f"end day {end} is always before start day {begin}")
    return begin, end


def _parse_months(text: str) -> tuple[int, int]:
    begin, end = _range_from_string(text, _month)
    if begin > end:
        names = {index + 1: name for index, name in enumerate(_MONTHS)}
        raise CustomError(f"end month {names.get(end, '')} is before start month {names.get(begin, '')}")
    return begin, end


def _parse_years(text: str) -> tuple[int, int]:
    begin, end = _range_from_string(text, _go_atoi)
    if begin > end:
        raise CustomError(f"end year {end} is before start year {begin}")
    return begin, end


def _render_range(value: tuple[int, int]) -> str:
    begin, end = value
    return str(begin) if begin == end else f"{begin}:{end}"


def _render_weekdays(value: tuple[int, int]) -> str:
    begin, end = value
    return _WEEKDAYS[begin] if begin == end else f"{_WEEKDAYS[begin]}:{_WEEKDAYS[end]}"


def _parse_location(text: str) -> str:
    if text in ("", "UTC"):
        return "UTC"
    if text == "Local":
        return text
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CustomError(f"unknown time zone {text}") from None
    return text


_VALID_TIME = re.compile(r"((([01][0-9])|(2[0-3])):[0-5][0-9])\Z|24:00\Z")


def clock_minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _validate_time_range(value: dict[str, Any]) -> None:
    if not value["end_time"] or not value["start_time"]:
        raise CustomError("both start and end times must be provided")
    for key in ("start_time", "end_time"):
        if not _VALID_TIME.match(value[key]):
            raise CustomError(f"couldn't parse timestamp {value[key]}, invalid format")
    if clock_minutes(value["start_time"]) >= clock_minutes(value["end_time"]):
        raise CustomError("start time cannot be equal or greater than end time")


TIME_RANGE = StructKind(
    "timeinterval.yamlTimeRange",
    [_field("start_time", STR, omitempty=False), _field("end_time", STR, omitempty=False)],
    hook=_validate_time_range,
    pointer=False,
)
TIME_INTERVAL = StructKind(
    "timeinterval.TimeInterval",
    [
        _field("times", ListKind(TIME_RANGE, go_type="[]timeinterval.TimeRange")),
        _field("weekdays", ListKind(ScalarStrKind(_parse_weekdays, _render_weekdays), flow=True)),
        _field("days_of_month", ListKind(ScalarStrKind(_parse_days_of_month, _render_range), flow=True)),
        _field("months", ListKind(ScalarStrKind(_parse_months, _render_range), flow=True)),
        _field("years", ListKind(ScalarStrKind(_parse_years, _render_range), flow=True)),
        _field("location", ScalarStrKind(_parse_location)),
    ],
    pointer=False,
    custom_unmarshaler=False,
)


def _named_interval_hook(missing_message: str) -> Callable[[dict[str, Any]], None]:
    def validate(value: dict[str, Any]) -> None:
        if not value["name"]:
            raise CustomError(missing_message)

    return validate


MUTE_TIME_INTERVAL = StructKind(
    "config.plain",
    [_field("name", STR, omitempty=False), _field("time_intervals", ListKind(TIME_INTERVAL), omitempty=False)],
    hook=_named_interval_hook("missing name in mute time interval"),
    pointer=False,
)
NAMED_TIME_INTERVAL = StructKind(
    "config.plain",
    [_field("name", STR, omitempty=False), _field("time_intervals", ListKind(TIME_INTERVAL), omitempty=False)],
    hook=_named_interval_hook("missing name in time interval"),
    pointer=False,
)


def make_config_kind(hook: Callable[[dict[str, Any]], None]) -> StructKind:
    return StructKind(
        "config.plain",
        [
            _field("global", GLOBAL),
            _field("route", ROUTE),
            _field("inhibit_rules", ListKind(INHIBIT_RULE, go_type="[]*config.InhibitRule")),
            _field("receivers", ListKind(RECEIVER, go_type="[]*config.Receiver")),
            _field("templates", STR_LIST, omitempty=False),
            _field("mute_time_intervals", ListKind(MUTE_TIME_INTERVAL, go_type="[]config.MuteTimeInterval")),
            _field("time_intervals", ListKind(NAMED_TIME_INTERVAL, go_type="[]config.TimeInterval")),
        ],
        hook=hook,
    )
