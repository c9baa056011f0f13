"""Errors an integration raises from `send()`, and how HTTP outcomes map onto them.

    NotifyError                 anything that stopped one notification attempt
     ├── RetryableError         try again after the backoff: 5xx, the integration's extra
     │                          retry codes (429 for PagerDuty v2 and OpsGenie, 403 for
     │                          PagerDuty v1), transport errors (refused, reset, TLS, timeout)
     └── PermanentError         give up at once: any other non-2xx status, a payload that
                                cannot be built, a secret file that cannot be read

The retry loop (`notify.retry`) only looks at this split, plus `retry_after`: the delay a
server asked for with `Retry-After` (seconds or an HTTP date). A 429 that carries one is
retryable for every integration, an improvement over Alertmanager 0.25, which fails such a
notification outright for most receivers (Alertmanager issue 2111); a 429 without it keeps
each integration's own classification. Error texts follow Alertmanager's:
`unexpected status code 500: <body>` (just `unexpected status code 500` for an empty body),
and transport errors name the request as Go's `url.Error` does with the URL redacted, since it
may hold a secret (`Post "<redacted>": connection refused`).
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Collection, Mapping
from datetime import UTC, datetime

REDACTED_URL = "<redacted>"
# Go's retrier puts the whole body into the message; keep an error message (and so a log line)
# bounded when an endpoint answers with a whole HTML page.
MAX_ERROR_BODY_CHARS = 4096

STATUS_CLASS_SUCCESS = 2
STATUS_CLASS_SERVER_ERROR = 5
STATUS_TOO_MANY_REQUESTS = 429
RETRY_AFTER_HEADER = "Retry-After"


class NotifyError(Exception):
    """One attempt failed; `retryable` says whether another attempt may help."""

    retryable: bool = False
    # Seconds the server asked us to wait before the next attempt (Retry-After), if any.
    retry_after: float | None = None


class RetryableError(NotifyError):
    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(NotifyError):
    retryable = False


def is_success(status_code: int) -> bool:
    return status_code // 100 == STATUS_CLASS_SUCCESS


def is_retryable_status(status_code: int, extra_retry_codes: Collection[int] = ()) -> bool:
    return status_code // 100 == STATUS_CLASS_SERVER_ERROR or status_code in extra_retry_codes


def status_error_text(status_code: int, details: str) -> str:
    text = f"unexpected status code {status_code}"
    if details:
        if len(details) > MAX_ERROR_BODY_CHARS:
            details = details[:MAX_ERROR_BODY_CHARS] + "…"
        text = f"{text}: {details}"
    return text


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date (RFC 9110
    10.2.3). None when absent or unparseable; a date in the past means no wait (0)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        # An HTTP date is always GMT; parsedate_to_datetime leaves "-0000" naive.
        moment = moment.replace(tzinfo=UTC)
    seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def check_status(
    status_code: int,
    body: bytes,
    extra_retry_codes: Collection[int] = (),
    headers: Mapping[str, str] | None = None,
) -> None:
    """Alertmanager's retrier: return on 2xx, else raise the classified error. `headers`
    (the response's) supply Retry-After; a 429 carrying one is always retryable."""
    if is_success(status_code):
        return
    message = status_error_text(status_code, body.decode("utf-8", errors="replace"))
    retry_after = parse_retry_after(headers.get(RETRY_AFTER_HEADER)) if headers is not None else None
    if is_retryable_status(status_code, extra_retry_codes) or (
        status_code == STATUS_TOO_MANY_REQUESTS and retry_after is not None
    ):
        raise RetryableError(message, retry_after=retry_after)
    raise PermanentError(message)


def _go_operation_name(method: str) -> str:
    # Go's url.Error names the operation like "Post" or "Get".
    return method[:1].upper() + method[1:].lower()


def transport_error(method: str, exc: BaseException) -> RetryableError:
    """A request that got no HTTP answer: always worth retrying, URL redacted."""
    cause = str(exc) or type(exc).__name__
    return RetryableError(f'{_go_operation_name(method)} "{REDACTED_URL}": {cause}')


def redact(text: str, secret: str) -> str:
    """Remove a secret (typically a URL) from a message that may quote it."""
    return text.replace(secret, REDACTED_URL) if secret else text


__all__ = [
    "MAX_ERROR_BODY_CHARS",
    "REDACTED_URL",
    "RETRY_AFTER_HEADER",
    "STATUS_TOO_MANY_REQUESTS",
    "NotifyError",
    "PermanentError",
    "RetryableError",
    "check_status",
    "is_retryable_status",
    "is_success",
    "parse_retry_after",
    "redact",
    "status_error_text",
    "transport_error",
]
