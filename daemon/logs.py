"""Logging in Alertmanager's formats (`--log.level`, `--log.format` logfmt or json).

Every module logs through the standard `logging` package; structured fields travel in `extra`:

    log.info("Loading configuration file", extra={"file": path})

and are printed after `ts`, `caller`, `level` and `msg` as go-kit does:
    ts=2026-01-02T03:04:05.678Z caller=app.py:42 level=info msg="Loading configuration file" file=/x.yml
The json format prints one object per line with sorted keys, like go-kit's JSON logger.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import orjson

ROOT_LOGGER_NAME = "tocsin"

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}

# Attributes every LogRecord has; anything else on a record came from `extra=` and is a field.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def _timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _fields(record: logging.LogRecord) -> list[tuple[str, Any]]:
    fields: list[tuple[str, Any]] = [
        ("ts", _timestamp(record.created)),
        ("caller", f"{record.filename}:{record.lineno}"),
        ("level", _LEVEL_NAMES.get(record.levelno, "info")),
    ]
    message = record.getMessage()
    if message:
        fields.append(("msg", message))
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
            fields.append((key, value))
    if record.exc_info and record.exc_info[1] is not None and not any(k == "err" for k, _ in fields):
        fields.append(("err", str(record.exc_info[1])))
    return fields


def _logfmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    if text == "":
        return '""'
    if any(char in text for char in ' ="\\') or any(ord(char) < 0x20 for char in text):
        escaped = (
            text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        )
        return f'"{escaped}"'
    return text


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in _fields(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {key: value for key, value in _fields(record)}
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str).decode()


def configure(level: str = "info", log_format: str = "logfmt", stream: TextIO | None = None) -> logging.Logger:
    """Install the handler on the root logger (so every library's records share the format)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    # httpx logs every notification request at info; Alertmanager logs none.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return logging.getLogger(ROOT_LOGGER_NAME)


def get_logger(component: str | None = None) -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose records carry `component=<name>` like Alertmanager's sub-loggers."""
    extra = {"component": component} if component else {}
    return _FieldAdapter(logging.getLogger(ROOT_LOGGER_NAME if component is None else f"{ROOT_LOGGER_NAME}.{component}"), extra)


class _FieldAdapter(logging.LoggerAdapter[logging.Logger]):
    """Merges the adapter's fixed fields with the call's `extra` (stdlib's adapter replaces them)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs
